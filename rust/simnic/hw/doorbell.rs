// SPDX-License-Identifier: GPL-2.0

//! The doorbell (step 1 of Documentation/nic.rst: the TX tail register
//! write after `start_xmit`) and who then runs the hardware engine.
//!
//! A real NIC's DMA engine starts by itself when its tail register is
//! written. Here the engine is code that somebody must run: the engine
//! thread, woken through the doorbell flag, or in the inline model
//! (`hw_inline=1`) the writer itself, right at the register write, if the
//! engine is free. The protocol that keeps a frame from being stranded (on
//! the ring, with nobody running the engine and nobody going to):
//!
//! - whoever runs the engine holds it (one device, one DMA engine), and
//!   transmits until the ring is empty, a frame is not due yet, or its
//!   limit is reached;
//! - a writer whose inline attempt finds the engine held rings the doorbell
//!   instead: the holder may have looked at the ring before the writer's
//!   frame was on it, and will not look again by itself;
//! - so does a writer whose pass left anything behind (a frame not due, or
//!   more than its limit);
//! - the engine thread, after each pass, sleeps until it takes the
//!   doorbell (`DoorbellFlag::take`), so a doorbell rung at any time
//!   after its last look at the ring makes it look again.
//!
//! Kernel-free: `crates/simnic-core` races writers and an engine thread
//! through these very functions over the real TX ring
//! (`doorbell_tests.rs`).

use core::sync::atomic::{AtomicBool, Ordering};

/// The device's one DMA engine, as a doorbell sees it: taken without
/// waiting, or not at all.
pub trait Engine {
    /// Proof of holding the engine; dropping it lets the engine go.
    type Held<'a>
    where
        Self: 'a;
    /// Takes the engine if nobody runs it (`mutex_trylock()`).
    fn try_hold(&self) -> Option<Self::Held<'_>>;
}

/// What a writer's doorbell leaves to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rang {
    /// The writer ran the engine and left nothing behind.
    RanInline,
    /// The engine thread must be woken ([`DoorbellFlag::ring`]): the engine
    /// was busy, or the pass left frames behind.
    WakeThread,
}

/// The inline doorbell: if the engine is free, runs `pass` holding it (one
/// bounded transmission, which returns its result and whether it left
/// anything behind), lets the engine go, and says whether the engine thread
/// must be woken. The result is `None` if the engine was busy.
pub fn inline_doorbell<E: Engine, R>(engine: &E, pass: impl FnOnce() -> (R, bool)) -> (Option<R>, Rang) {
    let Some(held) = engine.try_hold() else {
        return (None, Rang::WakeThread);
    };
    let (r, left) = pass();
    drop(held);
    (Some(r), if left { Rang::WakeThread } else { Rang::RanInline })
}

/// The doorbell flag the engine thread sleeps on: set by a writer (after
/// its frame is on the ring), taken by the engine thread before it looks.
pub struct DoorbellFlag(AtomicBool);

impl DoorbellFlag {
    /// Not rung.
    pub const fn new() -> Self {
        Self(AtomicBool::new(false))
    }

    /// Rings it; the caller then wakes the engine thread. Release: the
    /// frame published before is seen by the thread that takes the flag.
    pub fn ring(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Takes it (the engine thread's wait condition): whether it was rung
    /// since the last take. Acquire pairs with [`Self::ring`].
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

impl Default for DoorbellFlag {
    fn default() -> Self {
        Self::new()
    }
}
