// SPDX-License-Identifier: GPL-2.0

//! Counters: per NIC (like `struct rtnl_link_stats64` plus NAPI numbers) and
//! per endpoint, as atomics that every context can bump without a lock, and
//! their uapi snapshots (`SIMNIC_IOC_NIC_STATS`, `SIMNIC_IOC_EP_STATS`,
//! debugfs).

use crate::uapi::NicStats;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Adds `n` to a counter.
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Relaxed);
}

/// Adds one to a counter.
pub(crate) fn inc(c: &AtomicU64) {
    add(c, 1);
}

/// Declares an atomic counter set mirroring a uapi struct's fields.
macro_rules! counters {
    ($name:ident => $snap:ident { $($f:ident),* $(,)? }) => {
        /// Live counters; see the uapi struct of the same fields for meanings.
        #[derive(Default)]
        pub(crate) struct $name {
            $(pub(crate) $f: AtomicU64,)*
        }

        impl $name {
            /// A consistent-enough snapshot (each counter read once).
            pub(crate) fn snapshot(&self) -> $snap {
                $snap { $($f: self.$f.load(Relaxed),)* }
            }

            /// Zeroes every counter.
            pub(crate) fn reset(&self) {
                $(self.$f.store(0, Relaxed);)*
            }

            /// `(name, value)` pairs, for text output.
            pub(crate) fn for_each(&self, mut f: impl FnMut(&'static str, u64)) {
                $(f(stringify!($f), self.$f.load(Relaxed));)*
            }
        }
    };
}

counters!(NicCounters => NicStats {
    irqs, irqs_suppressed, polls, budget_exhausted, napi_complete, rx_descs, rx_packets, rx_bytes,
    rx_missed, rx_no_port, rx_queue_full, rx_errors, tx_packets, tx_bytes, tx_busy, gen_packets,
    wakeups, hw_runs, tx_lost, rx_mem_drops, rx_closed, port_unreach, write_space,
});

/// Counters of one endpoint (the `u64` fields of `EpStats`).
#[derive(Default)]
pub(crate) struct EpCounters {
    pub(crate) rx_packets: AtomicU64,
    pub(crate) rx_bytes: AtomicU64,
    pub(crate) rx_drops: AtomicU64,
    pub(crate) rx_truncated: AtomicU64,
    pub(crate) tx_packets: AtomicU64,
    pub(crate) tx_bytes: AtomicU64,
    pub(crate) wakeups: AtomicU64,
}
