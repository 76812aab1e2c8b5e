//! Tests of `rust/simnic/hw/irq_line.rs`: the mask/latch rules one step at a
//! time, and a hardware thread racing a driver thread without losing an
//! interrupt.

use crate::hw::irq_line::{HwEvent, IrqLine};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn raises_when_unmasked_and_latches_nothing() {
    let l = IrqLine::new();
    assert!(!l.is_masked());
    assert_eq!(l.hw_event(), HwEvent::Raised);
    assert_eq!(l.hw_event(), HwEvent::Raised);
    assert!(!l.is_masked());
    // A raised interrupt is not also latched: masking and unmasking now
    // reports nothing due.
    assert!(!l.mask());
    assert!(!l.unmask());
    assert!(!l.is_masked());
}

#[test]
fn suppressed_while_masked_and_reported_by_unmask() {
    let l = IrqLine::default();
    assert!(!l.mask(), "was unmasked");
    assert!(l.is_masked());
    assert!(l.mask(), "already masked: doubled interrupt");
    assert!(l.is_masked());
    assert_eq!(l.hw_event(), HwEvent::Suppressed);
    assert_eq!(l.hw_event(), HwEvent::Suppressed);
    // Still masked after events.
    assert!(l.is_masked());
    // Masking again keeps the latch.
    assert!(l.mask());
    assert!(l.unmask(), "latched event makes an interrupt due");
    assert!(!l.is_masked());
    // The latch is cleared by the unmask that reported it.
    assert!(!l.unmask());
    assert_eq!(l.hw_event(), HwEvent::Raised);
}

#[test]
fn unmask_without_events_reports_nothing() {
    let l = IrqLine::new();
    for _ in 0..3 {
        assert!(!l.mask());
        assert!(!l.unmask());
    }
    // Unmasking an unmasked line is harmless.
    assert!(!l.unmask());
    assert!(!l.is_masked());
    // A latch from one masked period does not leak into the next.
    l.mask();
    l.hw_event();
    assert!(l.unmask());
    l.mask();
    assert!(!l.unmask());
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

/// The hardware writes `events` frames (counting them in `produced`) and
/// signals each one with `hw_event`; a raised interrupt bumps `irqs`. The
/// driver handles each interrupt like a NAPI driver: mask, poll (consume
/// what is produced), unmask, and poll again at once when the unmask
/// reports a latched event. It never polls otherwise.
///
/// The hardware emits in bursts of 1..=`burst_max` events, spaced by up to
/// `gap` spins, and after each burst waits for the driver to consume
/// everything: each burst's last event is one that no later event can
/// rescue, so if it is lost (latched nowhere, or latched after the unmask
/// that should have reported it) the driver never polls again and the wait
/// times out. The driver's poll takes up to `work` spins, so bursts land
/// at every point of its mask/poll/unmask cycle.
fn race(events: u64, burst_max: u64, gap: u64, work: u64) -> (u64, u64, u64) {
    let line = IrqLine::new();
    let produced = AtomicU64::new(0);
    let consumed = AtomicU64::new(0);
    let irqs = AtomicU64::new(0);
    let hw_done = AtomicBool::new(false);
    let failed = AtomicBool::new(false);
    let (mut raised, mut suppressed, mut repolls) = (0u64, 0u64, 0u64);
    thread::scope(|s| {
        let hw = s.spawn(|| {
            let (mut raised, mut suppressed) = (0, 0);
            let mut x = 0x1234_5678_9ABC_DEF1u64;
            let mut left_in_burst = 0;
            for i in 0..events {
                if left_in_burst == 0 {
                    left_in_burst = 1 + next_rand(&mut x) % burst_max;
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
                if left_in_burst == 0 || i + 1 == events {
                    let start = Instant::now();
                    while consumed.load(Acquire) != i + 1 {
                        if start.elapsed() > Duration::from_secs(5) || failed.load(Relaxed) {
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
            let (mut handled, mut repolls, mut seen) = (0u64, 0u64, 0u64);
            loop {
                if irqs.load(Acquire) == handled {
                    // Idle: no interrupt. Done once the hardware is.
                    if hw_done.load(Acquire) && irqs.load(Acquire) == handled {
                        break;
                    }
                    if failed.load(Relaxed) {
                        return repolls;
                    }
                    thread::yield_now();
                    continue;
                }
                // One interrupt.
                handled += 1;
                line.mask();
                let mut empty_repolls = 0;
                loop {
                    // The poll: take every frame written so far.
                    let now = produced.load(Acquire);
                    assert!(now >= seen);
                    // A latch is cleared by the unmask that reports it, so
                    // repolls that find nothing new cannot go on.
                    empty_repolls = if now == seen { empty_repolls + 1 } else { 0 };
                    assert!(empty_repolls < 1000, "unmask keeps reporting an interrupt with no new event");
                    seen = now;
                    consumed.store(seen, Release);
                    busy(next_rand(&mut x) % (work + 1));
                    if !line.unmask() {
                        break;
                    }
                    // Latched while masked: an interrupt is due now.
                    repolls += 1;
                    line.mask();
                }
            }
            repolls
        });
        (raised, suppressed) = hw.join().unwrap();
        repolls = driver.join().unwrap();
    });
    assert!(hw_done.load(Acquire));
    assert_eq!(consumed.load(Acquire), events, "an event was left with no interrupt scheduled");
    assert!(!line.is_masked(), "the driver left the line masked");
    assert!(!line.unmask(), "an event is still latched");
    assert_eq!(raised + suppressed, events);
    assert_eq!(irqs.load(Acquire), raised);
    (raised, suppressed, repolls)
}

#[test]
fn racing_threads_lose_no_interrupt() {
    for (events, burst_max, gap, work) in [
        (1, 1, 0, 0),
        (20_000, 1, 0, 8),
        (20_000, 1, 0, 64),
        (20_000, 1, 16, 256),
        (10_000, 1, 0, 1024),
        (20_000, 2, 64, 64),
        (20_000, 4, 8, 128),
        (20_000, 16, 16, 256),
        (40_000, 200, 0, 16),
    ] {
        let (raised, _suppressed, _repolls) = race(events, burst_max, gap, work);
        // The first event always finds the line unmasked.
        assert!(raised > 0);
    }
}
