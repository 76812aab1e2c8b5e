//! Tests of `rust/simnic/hw/pacer.rs`: the burst schedule, the count limit,
//! catch-up after a stall, argument checks, and long-run rate accuracy.

use crate::hw::pacer::{Pacer, BURST_MAX, MAX_CATCH_UP, RATE_MAX};
use proptest::prelude::*;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

#[test]
fn invalid_arguments() {
    assert_eq!(Pacer::new(0, 1, 0, 0), None);
    assert_eq!(Pacer::new(RATE_MAX + 1, 1, 0, 0), None);
    assert_eq!(Pacer::new(u32::MAX, 1, 0, 0), None);
    assert_eq!(Pacer::new(1000, 0, 0, 0), None);
    assert!(Pacer::new(RATE_MAX, 1, 0, 0).is_some());
    assert!(Pacer::new(1, 1, 0, 0).is_some());
    assert!(Pacer::new(1, BURST_MAX, u64::MAX, u64::MAX / 2).is_some());
    assert_eq!(Pacer::new(1000, BURST_MAX + 1, 0, 0), None);
    assert_eq!(Pacer::new(1000, u32::MAX, 0, 0), None);
    assert_eq!(BURST_MAX, 4096);
}

#[test]
fn bursts_of_ten_every_ten_ms() {
    let t0 = 5 * SEC;
    let mut p = Pacer::new(1000, 10, 0, t0).unwrap();
    // The first burst is due at once.
    assert_eq!(p.next_due_ns(), Some(t0));
    assert_eq!(p.due(t0 - 1), 0);
    assert_eq!(p.due(t0), 10);
    assert_eq!(p.next_due_ns(), Some(t0 + 10 * MS));
    assert_eq!(p.due(t0), 0);
    assert_eq!(p.due(t0 + 10 * MS - 1), 0);
    assert_eq!(p.due(t0 + 10 * MS), 10);
    // Late by half an interval: one burst, and the schedule stays on the grid.
    assert_eq!(p.due(t0 + 25 * MS), 10);
    assert_eq!(p.next_due_ns(), Some(t0 + 30 * MS));
    assert_eq!(p.due(t0 + 29 * MS), 0);
    assert_eq!(p.due(t0 + 30 * MS), 10);
    assert!(!p.is_done());
}

#[test]
fn one_per_interval_at_max_rate() {
    let mut p = Pacer::new(RATE_MAX, 1, 0, 0).unwrap();
    let mut sent = 0;
    // 100 ns per datagram; one millisecond of ticks every 100 ns.
    for t in (0..MS).step_by(100) {
        assert_eq!(p.due(t), 1);
        sent += 1;
    }
    assert_eq!(sent, RATE_MAX as u64 / 1000);
}

#[test]
fn high_rate_does_not_drift() {
    // 1e9 / 7e6 = 142.857 ns per datagram, kept as 142.
    let mut p = Pacer::new(7_000_000, 1, 0, 0).unwrap();
    let sent: u64 = (0..10 * MS).step_by(100).map(|t| p.due(t)).sum();
    // The last tick is at 10 ms - 100 ns: 69999.3 datagrams are due, so a
    // pacer exact to the nanosecond sends bursts 0..=69999.
    assert_eq!(sent, 70_000);
}

#[test]
fn catch_up_is_capped_then_resyncs() {
    let mut p = Pacer::new(1000, 10, 0, 0).unwrap();
    assert_eq!(p.due(0), 10);
    // Exactly MAX_CATCH_UP bursts owed: all sent, schedule kept.
    let t = (MAX_CATCH_UP - 1) * 10 * MS + 10 * MS;
    assert_eq!(p.due(t + 3 * MS), MAX_CATCH_UP * 10);
    assert_eq!(p.next_due_ns(), Some(t + 10 * MS));
    // A long stall: 101 bursts owed, MAX_CATCH_UP sent, the rest forgotten,
    // next one interval after now (not on the old grid).
    let now = t + 10 * MS + 1000 * MS + 7;
    assert_eq!(p.due(now), MAX_CATCH_UP * 10);
    assert_eq!(p.next_due_ns(), Some(now + 10 * MS));
    assert_eq!(p.due(now + 10 * MS - 1), 0);
    assert_eq!(p.due(now + 10 * MS), 10);
    // One more than the cap also resyncs.
    let now2 = now + 20 * MS + MAX_CATCH_UP * 10 * MS;
    assert_eq!(p.due(now2), MAX_CATCH_UP * 10);
    assert_eq!(p.next_due_ns(), Some(now2 + 10 * MS));
}

#[test]
fn count_limit_is_exact() {
    let mut p = Pacer::new(1000, 10, 25, 0).unwrap();
    assert_eq!(p.due(0), 10);
    assert_eq!(p.due(10 * MS), 10);
    assert!(!p.is_done());
    assert_eq!(p.next_due_ns(), Some(20 * MS));
    assert_eq!(p.due(20 * MS), 5);
    assert!(p.is_done());
    assert_eq!(p.next_due_ns(), None);
    assert_eq!(p.due(30 * MS), 0);
    assert_eq!(p.due(u64::MAX / 2), 0);

    // A catch-up that owes more than is left sends only what is left.
    let mut p = Pacer::new(1000, 10, 25, 0).unwrap();
    assert_eq!(p.due(35 * MS), 25);
    assert!(p.is_done());

    // Count 0 never ends.
    let mut p = Pacer::new(1000, 10, 0, 0).unwrap();
    let total: u64 = (0..1000).map(|i| p.due(i * 10 * MS)).sum();
    assert_eq!(total, 10_000);
    assert!(!p.is_done());
}

#[test]
fn count_smaller_than_burst() {
    let mut p = Pacer::new(10, 100, 3, 0).unwrap();
    assert_eq!(p.due(0), 3);
    assert!(p.is_done());
}

/// Rates whose burst interval is a whole number of nanoseconds for every
/// burst: divisors of 10^9 up to `RATE_MAX`.
fn exact_rate() -> impl Strategy<Value = u32> {
    (0u32..=7, 0u32..=7)
        .prop_map(|(a, b)| 2u64.pow(a) * 5u64.pow(b))
        .prop_filter("at most RATE_MAX", |&r| r <= RATE_MAX as u64)
        .prop_map(|r| r as u32)
}

/// Runs `p` with ticks every `period` from `t0` for `ticks` ticks; returns
/// the total sent and the time of the last tick.
fn run_regular(p: &mut Pacer, t0: u64, period: u64, ticks: u64) -> (u64, u64) {
    let mut sent = 0;
    for k in 0..ticks {
        let n = p.due(t0 + k * period);
        sent += n;
    }
    (sent, t0 + (ticks - 1) * period)
}

/// `sent` is what a perfect pacer at `rate` in bursts of `burst` sends from
/// `t0` to `t` inclusive: between `rate * (t - t0)` and one burst more.
fn within_one_burst(sent: u64, rate: u32, burst: u32, elapsed_ns: u64) -> bool {
    let ideal = rate as u128 * elapsed_ns as u128; // datagrams * 1e9
    let got = sent as u128 * SEC as u128;
    got >= ideal && got <= ideal + burst as u128 * SEC as u128
}

proptest! {
    /// With regular ticks no slower than MAX_CATCH_UP bursts, the pacer sends
    /// exactly one burst per interval that has started: rate * time, at most
    /// one burst ahead (here for rates that divide a second exactly).
    #[test]
    fn long_run_matches_rate_exact_intervals(
        rate in exact_rate(),
        burst in 1u32..=1000,
        t0 in 0u64..1 << 50,
        period_frac in 1u64..=1000,
        ticks in 2u64..4000,
    ) {
        let mut p = Pacer::new(rate, burst, 0, t0).unwrap();
        let interval = burst as u64 * SEC / rate as u64;
        // Tick period between 1/1000 of an interval and MAX_CATCH_UP intervals.
        let period = (interval * MAX_CATCH_UP * period_frac / 1000).max(1);
        let (sent, t) = run_regular(&mut p, t0, period, ticks);
        prop_assert!(within_one_burst(sent, rate, burst, t - t0),
            "rate {} burst {} sent {} in {} ns", rate, burst, sent, t - t0);
    }

    /// The same for any rate. The interval is kept in whole nanoseconds
    /// (`burst * 1e9 / rate`, rounded down) and added up, so the rounding
    /// accumulates: up to 1% too fast near RATE_MAX.
    #[test]
    fn long_run_matches_rate_any_rate(
        rate in 1u32..=RATE_MAX,
        burst in 1u32..=1000,
        period_frac in 1u64..=1000,
        ticks in 2u64..4000,
    ) {
        let mut p = Pacer::new(rate, burst, 0, 0).unwrap();
        let interval = burst as u64 * SEC / rate as u64;
        let period = (interval * MAX_CATCH_UP * period_frac / 1000).max(1);
        let (sent, t) = run_regular(&mut p, 0, period, ticks);
        prop_assert!(within_one_burst(sent, rate, burst, t),
            "rate {} burst {} sent {} in {} ns", rate, burst, sent, t);
    }

    /// Whatever the rate, with regular ticks no slower than MAX_CATCH_UP
    /// bursts the pacer never falls behind `rate` (no burst is skipped),
    /// is never ahead of a schedule on the rounded-down interval, never
    /// sends more than the cap at once, and keeps the next burst within one
    /// (rounded-up) interval.
    #[test]
    fn regular_ticks_lose_no_burst(
        rate in 1u32..=RATE_MAX,
        burst in 1u32..=1000,
        t0 in 0u64..1 << 50,
        period_frac in 1u64..=1000,
        ticks in 2u64..2000,
    ) {
        let mut p = Pacer::new(rate, burst, 0, t0).unwrap();
        let exact = burst as u64 * SEC;
        let (iv_floor, iv_ceil) = (exact / rate as u64, exact.div_ceil(rate as u64));
        let period = (iv_floor * MAX_CATCH_UP * period_frac / 1000).max(1);
        let mut sent = 0;
        for k in 0..ticks {
            let now = t0 + k * period;
            let n = p.due(now);
            prop_assert!(n <= MAX_CATCH_UP * burst as u64);
            prop_assert_eq!(n % burst as u64, 0);
            sent += n;
            let due = p.next_due_ns().unwrap();
            prop_assert!(due > now && due <= now + iv_ceil);
            let elapsed = now - t0;
            prop_assert!(sent as u128 * SEC as u128 >= rate as u128 * elapsed as u128,
                "behind: sent {} in {} ns", sent, elapsed);
            prop_assert!(sent <= burst as u64 * (elapsed / iv_floor + 1));
        }
    }

    /// Random (possibly long) gaps between ticks: never ahead of schedule,
    /// never more than the cap at once, the count is never exceeded and is
    /// reached exactly when the flow is done.
    #[test]
    fn random_ticks_stay_within_schedule_and_count(
        rate in 1u32..=100_000,
        burst in 1u32..=64,
        count in 0u64..5000,
        gaps in proptest::collection::vec(0u64..50 * MS, 1..300),
    ) {
        let mut p = Pacer::new(rate, burst, count, 0).unwrap();
        let interval = (burst as u64 * SEC / rate as u64).max(1);
        let (mut now, mut sent) = (0u64, 0u64);
        for gap in gaps {
            now += gap;
            let before = p.next_due_ns();
            let n = p.due(now);
            prop_assert!(n <= MAX_CATCH_UP * burst as u64);
            match before {
                None => prop_assert_eq!(n, 0),
                Some(d) if now < d => prop_assert_eq!(n, 0),
                Some(_) => prop_assert!(n > 0),
            }
            sent += n;
            // Never ahead of the ideal schedule on the integer interval.
            prop_assert!(sent <= burst as u64 * (now / interval + 1));
            if count != 0 {
                prop_assert!(sent <= count);
                prop_assert_eq!(p.is_done(), sent == count);
                prop_assert_eq!(p.next_due_ns().is_none(), sent == count);
            } else {
                prop_assert!(!p.is_done());
            }
            if let Some(d) = p.next_due_ns() {
                prop_assert!(d > now || n == 0);
            }
        }
    }
}

/// A case the property test found: with the remainder carried but due times
/// rounded down, a burst fell due up to a nanosecond early and the pacer got
/// ahead of `rate` by more than one burst.
#[test]
fn due_times_round_up() {
    let (rate, burst) = (9_423_253, 3);
    let mut p = Pacer::new(rate, burst, 0, 0).unwrap();
    let interval = burst as u64 * SEC / rate as u64;
    let period = interval * MAX_CATCH_UP * 428 / 1000;
    let (sent, t) = run_regular(&mut p, 0, period, 3795);
    assert!(within_one_burst(sent, rate, burst, t), "sent {sent} in {t} ns");
}
