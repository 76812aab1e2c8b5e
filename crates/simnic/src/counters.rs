//! What each NIC counter counts, so that a sum over counters (every frame
//! dropped, whatever the cause) is taken from one classification of the
//! fields of [`NicStats`] instead of a list written out by each tool or
//! test. The classification is the one list of counter names kept by hand;
//! a test fails when a field of the uapi struct is missing from it, so a new
//! counter cannot be left out of the sums.
//!
//! Every frame that enters the wire is counted once in a [`Sent`] counter
//! (`tx_packets` when a send puts it on the TX ring, `gen_packets` when the
//! generator makes it), and, once the NIC is idle, exactly once in
//! [`Delivered`] (`rx_packets`) or one [`Dropped`] counter: see
//! [`frames_unaccounted`].
//!
//! [`Sent`]: NicCounterKind::Sent
//! [`Delivered`]: NicCounterKind::Delivered
//! [`Dropped`]: NicCounterKind::Dropped

use crate::uapi::NicStats;

/// What a counter of [`NicStats`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NicCounterKind {
    /// Frames that entered the wire: sent through the TX ring, or made by
    /// the generator.
    Sent,
    /// Frames queued on an endpoint.
    Delivered,
    /// Frames lost after they entered the wire, one counter per cause: RX
    /// ring full, no endpoint on the port, receive queue full, malformed,
    /// NIC-wide receive memory used up, endpoint shut for reading, loopback
    /// off.
    Dropped,
    /// Sends refused before any frame existed (`ENOBUFS`: TX ring full).
    Refused,
    /// Anything else: bytes, descriptors, interrupts, polls, wake-ups,
    /// engine runs, errors reported to senders.
    Other,
}

/// The kind of the [`NicStats`] field `name`; `None` for a name that is not
/// one of its fields (or a new field nobody classified yet, which a test
/// catches).
pub fn nic_counter_kind(name: &str) -> Option<NicCounterKind> {
    use NicCounterKind::*;
    Some(match name {
        "tx_packets" | "gen_packets" => Sent,
        "rx_packets" => Delivered,
        "rx_missed" | "rx_no_port" | "rx_queue_full" | "rx_errors" | "rx_mem_drops"
        | "rx_closed" | "tx_lost" => Dropped,
        "tx_busy" => Refused,
        "irqs" | "irqs_suppressed" | "polls" | "budget_exhausted" | "napi_complete"
        | "rx_descs" | "rx_bytes" | "tx_bytes" | "wakeups" | "hw_runs" | "port_unreach"
        | "write_space" => Other,
        _ => return None,
    })
}

/// The counters of `s` of `kind`, by name, in the struct's order.
pub fn nic_counters_of(s: &NicStats, kind: NicCounterKind) -> Vec<(&'static str, u64)> {
    s.fields()
        .into_iter()
        .filter(|(name, _)| nic_counter_kind(name) == Some(kind))
        .collect()
}

/// The sum of the counters of `s` of `kind` (wrapping, as the counters do).
pub fn nic_sum(s: &NicStats, kind: NicCounterKind) -> u64 {
    nic_counters_of(s, kind)
        .iter()
        .fold(0u64, |acc, (_, v)| acc.wrapping_add(*v))
}

/// Frames dropped, every cause together.
pub fn nic_dropped(s: &NicStats) -> u64 {
    nic_sum(s, NicCounterKind::Dropped)
}

/// Frames that entered the wire minus those delivered or dropped, in `d`
/// (a difference of two snapshots): 0 once the NIC has carried everything
/// sent in between; positive while frames are still on the rings; anything
/// else on an idle NIC is a frame lost without being counted, or counted
/// twice (negative).
pub fn frames_unaccounted(d: &NicStats) -> i128 {
    i128::from(nic_sum(d, NicCounterKind::Sent))
        - i128::from(nic_sum(d, NicCounterKind::Delivered))
        - i128::from(nic_sum(d, NicCounterKind::Dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NicStats whose field number i (from 0, in declaration order) holds
    /// `f(i)`, built from its byte image so no field name is involved.
    fn stats_with(f: impl Fn(usize) -> u64) -> NicStats {
        let mut b = [0u8; NicStats::SIZE];
        for (i, chunk) in b.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&f(i).to_ne_bytes());
        }
        NicStats::from_bytes(&b)
    }

    #[test]
    fn every_nic_counter_is_classified() {
        for (name, _) in NicStats::default().fields() {
            assert!(
                nic_counter_kind(name).is_some(),
                "NicStats::{name} has no kind in counters.rs: say what it counts, so that sums over \
                 counters (drops, frames sent) include it or not on purpose"
            );
        }
        assert_eq!(nic_counter_kind("no_such_counter"), None);
    }

    #[test]
    fn each_kind_is_there() {
        let s = NicStats::default();
        for kind in [
            NicCounterKind::Sent,
            NicCounterKind::Delivered,
            NicCounterKind::Dropped,
            NicCounterKind::Refused,
            NicCounterKind::Other,
        ] {
            assert!(
                !nic_counters_of(&s, kind).is_empty(),
                "no counter of kind {kind:?}"
            );
        }
        assert_eq!(
            nic_counters_of(&s, NicCounterKind::Delivered),
            [("rx_packets", 0)]
        );
        assert_eq!(
            nic_counters_of(&s, NicCounterKind::Refused),
            [("tx_busy", 0)]
        );
    }

    #[test]
    fn sums_take_each_counter_of_the_kind_once() {
        // Field i holds 2^i: a sum shows which fields it took.
        let s = stats_with(|i| 1 << i);
        let bit = |name: &str| {
            let i = s.fields().iter().position(|(n, _)| *n == name).unwrap();
            1u64 << i
        };
        let dropped = nic_dropped(&s);
        let names: Vec<&str> = nic_counters_of(&s, NicCounterKind::Dropped)
            .iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(dropped, names.iter().map(|n| bit(n)).sum::<u64>());
        for name in [
            "rx_missed",
            "rx_queue_full",
            "rx_mem_drops",
            "rx_closed",
            "tx_lost",
        ] {
            assert_ne!(dropped & bit(name), 0, "{name} is a drop");
        }
        for name in ["rx_packets", "tx_busy", "port_unreach", "rx_bytes"] {
            assert_eq!(dropped & bit(name), 0, "{name} is not a drop");
        }
        assert_eq!(
            nic_sum(&s, NicCounterKind::Sent),
            bit("tx_packets") | bit("gen_packets")
        );
    }

    #[test]
    fn unaccounted_frames() {
        let idle = NicStats {
            tx_packets: 10,
            gen_packets: 5,
            rx_packets: 9,
            rx_queue_full: 3,
            rx_missed: 2,
            rx_mem_drops: 1,
            tx_busy: 7,
            rx_bytes: 1000,
            ..Default::default()
        };
        assert_eq!(frames_unaccounted(&idle), 0);
        assert_eq!(
            frames_unaccounted(&NicStats {
                rx_missed: 1,
                ..idle
            }),
            1
        );
        assert_eq!(
            frames_unaccounted(&NicStats {
                rx_closed: 1,
                ..idle
            }),
            -1
        );
        assert_eq!(frames_unaccounted(&NicStats::default()), 0);
    }
}
