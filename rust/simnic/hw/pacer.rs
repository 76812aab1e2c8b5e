// SPDX-License-Identifier: GPL-2.0

//! Pacing of a traffic generator flow: `rate` datagrams per second sent in
//! bursts of `burst`, `count` in all (0: no end). Plain `core` Rust, tested
//! on the host.
//!
//! Bursts are due every `burst / rate` seconds. When the engine falls behind
//! (a slow emulated guest), it sends the bursts it owes but at most
//! [`MAX_CATCH_UP`] at once, then forgets the rest, so a stall does not turn
//! into a flood.

/// Most bursts sent at one time when behind schedule.
pub const MAX_CATCH_UP: u64 = 4;

/// Largest rate accepted, datagrams per second.
pub const RATE_MAX: u32 = 10_000_000;

/// Largest burst accepted: a ring's worth (the largest ring), so one due
/// time never asks the engine for more than a few rings of frames.
pub const BURST_MAX: u32 = 4096;

/// One flow's schedule.
///
/// The interval `burst * 1e9 / rate` is rarely a whole number of
/// nanoseconds. Burst `k` is due at exactly `ceil(k * interval)` after the
/// start: `base_ns` accumulates the whole nanoseconds and `frac` the
/// remainder (in units of `1 / rate` ns), so the rate never drifts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pacer {
    interval_ns: u64,
    rem: u64,
    frac: u64,
    base_ns: u64,
    rate: u64,
    burst: u32,
    remaining: Option<u64>,
    next_due_ns: u64,
}

impl Pacer {
    /// A schedule starting at `now_ns`; `None` if `rate` is 0 or above
    /// [`RATE_MAX`], or `burst` is 0 or above [`BURST_MAX`].
    pub fn new(rate: u32, burst: u32, count: u64, now_ns: u64) -> Option<Self> {
        if rate == 0 || rate > RATE_MAX || burst == 0 || burst > BURST_MAX {
            return None;
        }
        let period = burst as u64 * 1_000_000_000;
        let remaining = if count == 0 { None } else { Some(count) };
        Some(Self {
            interval_ns: period / rate as u64,
            rem: period % rate as u64,
            frac: 0,
            base_ns: now_ns,
            rate: rate as u64,
            burst,
            remaining,
            next_due_ns: now_ns,
        })
    }

    /// Moves the due time one exact interval on (rounded up to the next
    /// whole nanosecond).
    fn advance(&mut self) {
        self.base_ns += self.interval_ns;
        self.frac += self.rem;
        if self.frac >= self.rate {
            self.frac -= self.rate;
            self.base_ns += 1;
        }
        self.next_due_ns = self.base_ns + (self.frac > 0) as u64;
    }

    /// Datagrams to send at `now_ns`, and advances the schedule.
    pub fn due(&mut self, now_ns: u64) -> u64 {
        if self.is_done() || now_ns < self.next_due_ns {
            return 0;
        }
        let mut bursts = 0;
        while self.next_due_ns <= now_ns && bursts < MAX_CATCH_UP {
            self.advance();
            bursts += 1;
        }
        if self.next_due_ns <= now_ns {
            // Still behind after the most we catch up: forget the rest.
            self.base_ns = now_ns + self.interval_ns.max(1);
            self.next_due_ns = self.base_ns;
            self.frac = 0;
        }
        let mut n = bursts * self.burst as u64;
        if let Some(left) = self.remaining.as_mut() {
            n = n.min(*left);
            *left -= n;
        }
        n
    }

    /// When the next burst is due; `None` once the count is sent.
    pub fn next_due_ns(&self) -> Option<u64> {
        if self.is_done() { None } else { Some(self.next_due_ns) }
    }

    /// Whether the flow has sent its `count`.
    pub fn is_done(&self) -> bool {
        self.remaining == Some(0)
    }
}
