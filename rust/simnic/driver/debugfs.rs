// SPDX-License-Identifier: GPL-2.0

//! /sys/kernel/debug/simnic/: the NIC's counters (`stats`), its rings
//! (`rings`), every bound endpoint with its queue and counters
//! (`endpoints`), and every wait queue with the entries on it (`wq`,
//! `wq_view.rs`). Text, one `name value` or one endpoint per line.

use crate::driver::nic::NicCore;
use core::fmt::{self, Write};
use core::sync::atomic::Ordering::Relaxed;
use kernel::{
    c_str,
    debugfs::{Dir, SeqFile, Show},
    prelude::*,
    sync::Arc,
    ThisModule,
};

struct StatsFile(Arc<NicCore>);
struct RingsFile(Arc<NicCore>);
struct EndpointsFile(Arc<NicCore>);

impl Show for StatsFile {
    const OWNER: &'static ThisModule = &crate::THIS_MODULE;
    fn show(&self, m: &mut SeqFile) -> fmt::Result {
        let mut r = Ok(());
        self.0.stats.for_each(|name, v| r = r.and(writeln!(m, "{name:<18} {v}")));
        r
    }
}

impl Show for RingsFile {
    const OWNER: &'static ThisModule = &crate::THIS_MODULE;
    fn show(&self, m: &mut SeqFile) -> fmt::Result {
        let s = self.0.ring_state();
        writeln!(m, "rx size {} head {} tail {} next_to_clean {}", s.rx_size, s.rx_head, s.rx_tail, s.rx_next_to_clean)?;
        writeln!(m, "tx size {} head {} tail {} next_to_clean {}", s.tx_size, s.tx_head, s.tx_tail, s.tx_next_to_clean)?;
        writeln!(m, "irq_masked {} budget {} tx_delay_ns {}", s.irq_masked, s.budget, s.tx_delay_ns)
    }
}

impl Show for EndpointsFile {
    const OWNER: &'static ThisModule = &crate::THIS_MODULE;
    fn show(&self, m: &mut SeqFile) -> fmt::Result {
        let mut r = writeln!(m, "port   queued  bytes    rcvbuf   rx_packets rx_drops tx_packets wakeups");
        self.0.ports.lock().for_each(|port, ep| {
            let s = ep.ep_stats();
            r = r.and(writeln!(
                m,
                "{port:<6} {:<7} {:<8} {:<8} {:<10} {:<8} {:<10} {}",
                s.queued, s.queued_bytes, s.rcvbuf, s.rx_packets, s.rx_drops, s.tx_packets,
                ep.stats.wakeups.load(Relaxed)
            ));
        });
        r
    }
}

/// Creates the directory and its files.
pub(crate) fn create(nic: &Arc<NicCore>, mux: &Arc<crate::mux::mini_epoll::MuxShared>) -> Result<Dir> {
    let mut dir = Dir::new(c_str!("simnic"))?;
    dir.add_file(c_str!("stats"), Arc::new(StatsFile(nic.clone()), GFP_KERNEL)?)?;
    dir.add_file(c_str!("rings"), Arc::new(RingsFile(nic.clone()), GFP_KERNEL)?)?;
    dir.add_file(c_str!("endpoints"), Arc::new(EndpointsFile(nic.clone()), GFP_KERNEL)?)?;
    let wq = crate::driver::wq_view::WqFile { nic: nic.clone(), mux: mux.clone() };
    dir.add_file(c_str!("wq"), Arc::new(wq, GFP_KERNEL)?)?;
    Ok(dir)
}
