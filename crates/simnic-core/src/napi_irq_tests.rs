//! Tests of `rust/simnic/driver/napi_irq.rs`, the driver's mask/unmask
//! decisions around its poll: one step at a time, then a hardware thread
//! racing a driver thread that runs the handler and poll ends exactly as
//! `intr.rs` and `napi_poll.rs` do (same functions, same order), without
//! losing an interrupt.

use crate::driver::napi_irq::{budget_exhausted, complete_unmask, intr_mask};
use crate::hw::irq_line::{HwEvent, IrqLine};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn handler_masks_and_reports_doubles() {
    let l = IrqLine::new();
    assert!(!intr_mask(&l), "first interrupt: was unmasked");
    assert!(l.is_masked());
    assert_eq!(
        l.hw_event(),
        HwEvent::Suppressed,
        "no interrupt while the poll is scheduled"
    );
    assert!(intr_mask(&l), "a second handler run finds it masked");
    assert!(l.is_masked());
}

#[test]
fn budget_is_exhausted_only_when_all_used() {
    assert!(budget_exhausted(64, 64));
    assert!(!budget_exhausted(63, 64));
    assert!(!budget_exhausted(0, 64));
    assert!(budget_exhausted(1, 1));
    assert!(!budget_exhausted(0, 1));
}

#[test]
fn complete_unmasks_when_nothing_latched() {
    let l = IrqLine::new();
    intr_mask(&l);
    assert!(!complete_unmask(&l), "nothing latched: no second poll");
    assert!(
        !l.is_masked(),
        "a completed poll leaves the interrupt unmasked"
    );
    // The next event raises the interrupt.
    assert_eq!(l.hw_event(), HwEvent::Raised);
}

#[test]
fn complete_with_a_latched_event_polls_again_masked() {
    let l = IrqLine::new();
    intr_mask(&l);
    assert_eq!(l.hw_event(), HwEvent::Suppressed);
    assert!(
        complete_unmask(&l),
        "the latched event raises the interrupt on unmask"
    );
    assert!(
        l.is_masked(),
        "the interrupt taken on unmask is masked again for the next poll"
    );
    // Still masked: events meanwhile are latched for the next completion.
    assert_eq!(l.hw_event(), HwEvent::Suppressed);
    assert!(complete_unmask(&l));
    assert!(l.is_masked());
    // The latch was cleared by the unmask that reported it: the next
    // completion with no new event ends the polling.
    assert!(!complete_unmask(&l));
    assert!(!l.is_masked());
}

/// A tiny xorshift generator, so both threads vary their timing.
fn next_rand(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn busy(spins: u64) {
    for _ in 0..spins {
        std::hint::spin_loop();
    }
}

/// What one [`race`] run counted.
struct RaceCounts {
    raised: u64,
    polls: u64,
    exhausted: u64,
}

/// The hardware writes `events` frames (counting them in `produced`) and
/// signals each one with `hw_event`; a raised interrupt bumps `irqs`. The
/// driver handles each interrupt as `simnic_intr` and `simnic_poll` do:
/// `intr_mask`, then polls, each taking at most `budget` frames; a poll
/// that used its budget stays scheduled (`budget_exhausted`), one that did
/// not completes with `complete_unmask` and runs again when that says so.
/// It never polls otherwise.
///
/// The hardware emits in bursts of 1..=`burst_max` events, spaced by up to
/// `gap` spins, and after each burst waits for the driver to consume
/// everything: each burst's last event is one that no later event can
/// rescue, so if it is lost (latched nowhere, or latched after the unmask
/// that should have reported it, or left behind by a poll that completed
/// with its budget used up) the driver never polls again and the wait
/// times out. The driver's poll takes up to `work` spins, so bursts land
/// at every point of its mask/poll/unmask cycle. With `chase`, the
/// hardware sends each burst's first event, waits until a poll has taken
/// it, and sends the rest at once: they land while that poll is still
/// running, masked, so they are latched and only the unmask's report gets
/// them polled.
fn race(events: u64, burst_max: u64, gap: u64, work: u64, budget: u32, chase: bool) -> RaceCounts {
    let line = IrqLine::new();
    let produced = AtomicU64::new(0);
    let consumed = AtomicU64::new(0);
    let irqs = AtomicU64::new(0);
    let hw_done = AtomicBool::new(false);
    let failed = AtomicBool::new(false);
    let (mut raised, mut suppressed) = (0u64, 0u64);
    let mut driver_counts = (0u64, 0u64, 0u64);
    thread::scope(|s| {
        let hw = s.spawn(|| {
            let (mut raised, mut suppressed) = (0, 0);
            let mut x = 0x1234_5678_9ABC_DEF1u64;
            let mut left_in_burst = 0;
            let mut chased = false;
            for i in 0..events {
                if left_in_burst == 0 {
                    left_in_burst = 1 + next_rand(&mut x) % burst_max;
                    chased = false;
                }
                busy(next_rand(&mut x) % (gap + 1));
                // The frame is written (DD set) before the event.
                produced.fetch_add(1, Release);
                match line.hw_event() {
                    HwEvent::Raised => {
                        raised += 1;
                        irqs.fetch_add(1, Release);
                    }
                    HwEvent::Suppressed => suppressed += 1,
                }
                left_in_burst -= 1;
                let chasing = chase && left_in_burst > 0 && !chased;
                if left_in_burst == 0 || i + 1 == events || chasing {
                    // At a burst's end: wait until everything is consumed.
                    // Chasing: wait until the poll has taken this event, and
                    // send the rest of the burst at once, into the poll's
                    // window between reading the ring and unmasking.
                    chased = chasing;
                    let start = Instant::now();
                    while consumed.load(Acquire) != i + 1 {
                        if start.elapsed() > Duration::from_secs(10) || failed.load(Relaxed) {
                            failed.store(true, Relaxed);
                            panic!(
                                "event {i} lost: the driver stopped polling with it pending (consumed {}, masked {})",
                                consumed.load(Acquire),
                                line.is_masked()
                            );
                        }
                        thread::yield_now();
                    }
                }
            }
            hw_done.store(true, Release);
            (raised, suppressed)
        });
        let driver = s.spawn(|| {
            // If the driver fails, the hardware stops waiting for it.
            struct OnPanic<'a>(&'a AtomicBool);
            impl Drop for OnPanic<'_> {
                fn drop(&mut self) {
                    if thread::panicking() {
                        self.0.store(true, Relaxed);
                    }
                }
            }
            let _guard = OnPanic(&failed);
            let mut x = 0xDEAD_BEEF_0BAD_F00Du64;
            let (mut handled, mut seen) = (0u64, 0u64);
            let (mut polls, mut exhausted, mut repolls) = (0u64, 0u64, 0u64);
            loop {
                if irqs.load(Acquire) == handled {
                    // Idle: no interrupt. Done once the hardware is.
                    if hw_done.load(Acquire) && irqs.load(Acquire) == handled {
                        break;
                    }
                    if failed.load(Relaxed) {
                        break;
                    }
                    thread::yield_now();
                    continue;
                }
                // One interrupt: the handler, then the scheduled poll.
                handled += 1;
                assert!(
                    !intr_mask(&line),
                    "an interrupt was raised while the driver had it masked"
                );
                let mut empty_polls = 0;
                loop {
                    // The poll: take what is written, at most `budget`.
                    assert!(line.is_masked(), "a poll runs with the interrupt unmasked");
                    polls += 1;
                    let now = produced.load(Acquire);
                    assert!(now >= seen);
                    let done = (now - seen).min(u64::from(budget)) as u32;
                    // A latch is cleared by the unmask that reports it, so
                    // polls that find nothing new cannot go on.
                    empty_polls = if done == 0 { empty_polls + 1 } else { 0 };
                    assert!(
                        empty_polls < 1000,
                        "the poll keeps running with no new event"
                    );
                    seen += u64::from(done);
                    consumed.store(seen, Release);
                    busy(next_rand(&mut x) % (work + 1));
                    if budget_exhausted(done, budget) {
                        // Stays scheduled, interrupt masked.
                        exhausted += 1;
                        continue;
                    }
                    if !complete_unmask(&line) {
                        break;
                    }
                    // Latched while masked: the interrupt came on unmask.
                    repolls += 1;
                }
            }
            (polls, exhausted, repolls)
        });
        (raised, suppressed) = hw.join().unwrap();
        driver_counts = driver.join().unwrap();
    });
    assert!(hw_done.load(Acquire));
    assert_eq!(
        consumed.load(Acquire),
        events,
        "an event was left with no interrupt scheduled"
    );
    assert!(!line.is_masked(), "the driver left the line masked");
    assert!(!line.unmask(), "an event is still latched");
    assert_eq!(raised + suppressed, events);
    assert_eq!(irqs.load(Acquire), raised);
    let (polls, exhausted, _repolls) = driver_counts;
    RaceCounts {
        raised,
        polls,
        exhausted,
    }
}

#[test]
fn racing_threads_lose_no_interrupt() {
    for (events, burst_max, gap, work, budget, chase) in [
        (1, 1, 0, 0, 64, false),
        (20_000, 1, 0, 8, 64, false),
        (20_000, 1, 0, 64, 64, false),
        (20_000, 1, 16, 256, 64, false),
        (10_000, 1, 0, 1024, 64, false),
        (20_000, 2, 64, 64, 64, false),
        (20_000, 4, 8, 128, 64, false),
        (20_000, 16, 16, 256, 64, false),
        (40_000, 200, 0, 16, 64, false),
        // Events while a poll runs, latched for its unmask to report.
        (10_000, 2, 0, 4096, 64, true),
        (10_000, 8, 0, 1024, 64, true),
        (10_000, 8, 0, 64, 64, true),
        // Small budgets: polls end with their budget used up all the time,
        // stay scheduled, and must still complete (and unmask) at the end.
        (20_000, 16, 16, 256, 4, false),
        (20_000, 200, 0, 16, 1, false),
        (20_000, 200, 4, 64, 7, false),
        (10_000, 8, 0, 1024, 3, true),
    ] {
        let c = race(events, burst_max, gap, work, budget, chase);
        // The first event always finds the line unmasked.
        assert!(c.raised > 0);
        if budget == 1 {
            // Every poll that took a frame used up a budget of one, and
            // only those.
            assert_eq!(
                c.exhausted, events,
                "polls that exhausted a budget of 1, for {events} events"
            );
        }
        assert!(c.exhausted < c.polls);
    }
}
