// SPDX-License-Identifier: GPL-2.0

//! The NIC's interrupt line: mask and cause bits, as in a device's
//! IMS/IMC/ICR registers, in one atomic word so that no interrupt is lost.
//!
//! The hardware calls [`IrqLine::hw_event`] after writing frames: it raises
//! the interrupt if the driver has it unmasked, and otherwise only latches
//! "pending" (interrupt mitigation: the frame is picked up by the poll that
//! is already scheduled). The driver masks in its interrupt handler and
//! unmasks when its poll completes; an event latched while masked makes the
//! unmask report that an interrupt is due at once, as real hardware raises
//! it when a pending cause is unmasked. Plain `core` Rust, tested on the host
//! with racing threads.

use core::sync::atomic::{AtomicU32, Ordering};

const MASKED: u32 = 1;
const PENDING: u32 = 2;

/// What [`IrqLine::hw_event`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HwEvent {
    /// The interrupt was raised.
    Raised,
    /// The interrupt was masked: the event was latched instead.
    Suppressed,
}

/// The interrupt mask and pending-cause bits.
pub struct IrqLine {
    state: AtomicU32,
}

impl Default for IrqLine {
    fn default() -> Self {
        Self::new()
    }
}

impl IrqLine {
    /// Unmasked, nothing pending.
    pub const fn new() -> Self {
        Self { state: AtomicU32::new(0) }
    }

    /// Hardware side: an interrupt cause happened.
    pub fn hw_event(&self) -> HwEvent {
        // Raise when unmasked; otherwise latch PENDING, in one atomic step so
        // an unmask cannot slip between the test and the latch.
        let prev = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                if s & MASKED != 0 { Some(s | PENDING) } else { Some(s) }
            })
            .unwrap_or_else(|s| s);
        if prev & MASKED != 0 { HwEvent::Suppressed } else { HwEvent::Raised }
    }

    /// Driver side, in the interrupt handler: mask (IMC). Returns whether it
    /// was already masked (a spurious or doubled interrupt).
    pub fn mask(&self) -> bool {
        self.state.fetch_or(MASKED, Ordering::AcqRel) & MASKED != 0
    }

    /// Driver side, when the poll completes: unmask (IMS), clearing the
    /// latch. Returns `true` if an event was latched while masked, i.e. an
    /// interrupt is due now.
    pub fn unmask(&self) -> bool {
        self.state.swap(0, Ordering::AcqRel) & PENDING != 0
    }

    /// Whether the interrupt is masked now.
    pub fn is_masked(&self) -> bool {
        self.state.load(Ordering::Acquire) & MASKED != 0
    }
}
