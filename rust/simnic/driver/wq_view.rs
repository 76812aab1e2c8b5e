// SPDX-License-Identifier: GPL-2.0

//! /sys/kernel/debug/simnic/wq: every wait queue of the module, live, with
//! each entry on it: its wake function (`%ps`: `autoremove_wake_function`
//! for a blocked `read()`, `pollwake` for select and poll,
//! `ep_poll_callback` for epoll, `aio_poll_wake`, `io_poll_wake`, and the
//! module's own `rust_wakefn_simnic_pollwake` and
//! `rust_wakefn_simnic_ep_poll_callback`), whether
//! it is exclusive, what its `->private` is and the task waiting, if any;
//! and the queue's counters (wake-ups, entries woken, spurious wake-ups).
//! Documentation/wait-queues.rst explains what to read in it;
//! `simnicctl wq` shows it refreshing.
//!
//! The queues: each endpoint's `sk_wq`; the NIC's hardware engine's
//! doorbell queue (the NIC has no TX wait queue: a sender that finds the
//! ring full gets `ENOBUFS` and its endpoint joins the list `write_space`
//! walks, shown as ports); each mini-epoll instance's `wq` and `poll_wq`;
//! and each running mini-poll call, which has no queue of its own (it
//! sleeps in `poll_schedule_timeout`, its entries are on the polled files'
//! queues).
//!
//! Each queue is read by the layer under its lock into a bounded view
//! ([`WaitView`]), then printed; nothing is printed under a queue's lock.

use crate::driver::nic::NicCore;
use crate::mux::mini_epoll::MuxShared;
use core::fmt::{self, Write};
use core::sync::atomic::Ordering::Relaxed;
use kernel::{
    debugfs::{SeqFile, Show},
    prelude::*,
    sync::{
        wait::WaitQueueHead,
        wait_entry::OwnWakeFn,
        wait_view::{WaitPrivate, WaitView},
        Arc,
    },
    ThisModule,
};

/// Entries shown per queue; the count says how many there are.
pub(crate) const VIEW_ENTRIES: usize = 16;

/// Ports listed as waiting for TX room, at most.
const TX_WAITERS_SHOWN: usize = 32;

/// The `wq` file.
pub(crate) struct WqFile {
    pub(crate) nic: Arc<NicCore>,
    pub(crate) mux: Arc<MuxShared>,
}

impl Show for WqFile {
    const OWNER: &'static ThisModule = &crate::THIS_MODULE;
    fn show(&self, m: &mut SeqFile) -> fmt::Result {
        let own = [crate::mux::mini_poll::wake_function(), crate::mux::mini_epoll::wake_function()];
        let Ok(mut view) = WaitView::new(VIEW_ENTRIES) else {
            return writeln!(m, "(no memory for the view)");
        };
        writeln!(m, "# simnic wait queues; entries in the order a wake-up visits them")?;
        self.endpoints(m, &mut view, &own)?;
        self.nic_queues(m, &mut view, &own)?;
        self.mini_epoll(m, &mut view, &own)?;
        self.mini_poll(m)
    }
}

impl WqFile {
    /// Every bound endpoint's `sk_wq`, in port order.
    fn endpoints(&self, m: &mut SeqFile, view: &mut WaitView, own: &[OwnWakeFn]) -> fmt::Result {
        // Taken under the port table's lock (no allocation there), viewed
        // after it: each reference keeps its endpoint, and its queue, alive.
        let n = self.nic.ports.lock().len();
        let Ok(mut eps) = KVec::with_capacity(n + 16, GFP_KERNEL) else {
            return writeln!(m, "endpoints: no memory to list them");
        };
        let all = self.nic.ports.lock().collect(&mut eps);
        for ep in eps.iter() {
            queue(m, format_args!("endpoint {} sk_wq", ep.port()), &ep.wq, view, own)?;
        }
        if !all {
            writeln!(m, "endpoints: more were bound meanwhile; not shown")?;
        }
        Ok(())
    }

    /// The NIC's queues: no TX queue (the list of endpoints waiting for
    /// room instead), and the hardware engine's doorbell.
    fn nic_queues(&self, m: &mut SeqFile, view: &mut WaitView, own: &[OwnWakeFn]) -> fmt::Result {
        write!(m, "nic tx: no wait queue (a full ring gives ENOBUFS); waiting for TX room:")?;
        {
            let waiters = self.nic.tx_waiters.lock();
            let mut shown = 0;
            for ep in waiters.iter() {
                if shown == TX_WAITERS_SHOWN {
                    write!(m, " ...")?;
                    break;
                }
                write!(m, " {}", ep.port())?;
                shown += 1;
            }
            if shown == 0 {
                write!(m, " none")?;
            }
        }
        writeln!(m)?;
        queue(m, format_args!("nic hw_wq (hardware engine)"), &self.nic.hw_wq, view, own)
    }

    /// Each mini-epoll instance's two queues.
    fn mini_epoll(&self, m: &mut SeqFile, view: &mut WaitView, own: &[OwnWakeFn]) -> fmt::Result {
        let instances = self.mux.instances.lock();
        for (id, ep) in instances.iter() {
            let items = ep.items();
            for (name, wq) in ep.queues() {
                queue(m, format_args!("mini-epoll {id} ({items} items) {name}"), wq, view, own)?;
            }
        }
        Ok(())
    }

    /// Each running mini-poll call.
    fn mini_poll(&self, m: &mut SeqFile) -> fmt::Result {
        let calls = self.mux.poll_calls.lock();
        for (id, w) in calls.iter() {
            writeln!(
                m,
                "mini-poll call {id}: pid {} tgid {}; {} descriptors, {} entries hooked, {} wake-ups, {} scans, \
                 {} spurious; no queue of its own (sleeps in poll_schedule_timeout)",
                w.task.pid(),
                w.task.tgid(),
                w.nfds,
                w.entries.load(Relaxed),
                w.wakeups.load(Relaxed),
                w.rescans.load(Relaxed),
                w.spurious.load(Relaxed),
            )?;
        }
        Ok(())
    }
}

/// One queue: a header line with its counters, then one line per entry.
fn queue(
    m: &mut SeqFile,
    title: fmt::Arguments<'_>,
    wq: &WaitQueueHead,
    view: &mut WaitView,
    own: &[OwnWakeFn],
) -> fmt::Result {
    wq.view_into(view, own);
    let c = wq.counters();
    let n = view.count();
    write!(m, "{title}: ")?;
    match n {
        0 => write!(m, "no entries")?,
        1 => write!(m, "1 entry")?,
        _ if view.count_is_lower_bound() => write!(m, "at least {n} entries")?,
        _ => write!(m, "{n} entries")?,
    }
    writeln!(m, "; {} wake-ups, {} entries woken, {} spurious", c.wakeups, c.woken, c.spurious)?;
    if n == 0 {
        return Ok(());
    }
    writeln!(
        m,
        "    {:<10} {:<36} {:<8} {:<13} {:>7} {:>7}  comm",
        "flags", "wake-function", "module", "private", "pid", "tgid"
    )?;
    let mut shown = 0;
    for e in view.entries() {
        shown += 1;
        let module = e.module();
        let private = e.private();
        write!(m, "    {:<10} {:<36} ", Pad(e.flags_text()), Pad(e.func()))?;
        match &module {
            Some(name) => write!(m, "{:<8} ", Pad(name))?,
            None => write!(m, "{:<8} ", "-")?,
        }
        write!(m, "{:<13} ", private.name())?;
        match e.task() {
            Some(t) => writeln!(m, "{:>7} {:>7}  {}", t.pid, t.tgid, t.comm)?,
            None => {
                // No task to name: say why.
                let why = match private {
                    WaitPrivate::IoKiocb => "(an io_uring request)",
                    WaitPrivate::Unknown => "(unknown)",
                    _ => "-",
                };
                writeln!(m, "{:>7} {:>7}  {why}", "-", "-")?
            }
        }
    }
    if view.truncated() {
        writeln!(m, "    ... {} more entries not shown", n as usize - shown)?;
    }
    Ok(())
}

/// Pads a `Display` value like a string (`{:<N}` on its text).
struct Pad<T>(T);

impl<T: fmt::Display> fmt::Display for Pad<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = f.width().unwrap_or(0);
        let mut counter = Counter(0);
        write!(counter, "{}", self.0)?;
        write!(f, "{}", self.0)?;
        for _ in counter.0..width {
            f.write_char(' ')?;
        }
        Ok(())
    }
}

/// Counts the characters written to it.
struct Counter(usize);

impl Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.chars().count();
        Ok(())
    }
}
