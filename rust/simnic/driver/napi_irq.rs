// SPDX-License-Identifier: GPL-2.0

//! When the driver masks and unmasks the NIC's interrupt around its
//! NAPI-style poll (steps 4 and 5 of Documentation/nic.rst): the handler
//! masks before it schedules the poll (`e1000_intr`: IMC, then
//! `napi_schedule`); a poll that used its whole budget stays scheduled with
//! the interrupt still masked; a poll that did not completes
//! (`napi_complete_done`) and unmasks (`e1000_irq_enable`), and if the
//! hardware latched a cause while it was masked, the unmask raises the
//! interrupt at once, which the driver takes as the handler would: mask
//! again and poll again.
//!
//! These decisions are what keeps an interrupt from being lost (a frame left
//! on the ring with no poll scheduled) or a poll from running with the
//! interrupt unmasked. Plain `core` Rust, shared with `crates/simnic-core`,
//! whose threaded tests run these very functions against a racing
//! hardware thread; `intr.rs` and `napi_poll.rs` call them in the kernel.

use crate::hw::irq_line::IrqLine;

/// The interrupt handler's part (`e1000_intr`): mask the interrupt (IMC)
/// before scheduling the poll, so that no further interrupt is raised until
/// the poll completes. Returns whether it was already masked (a doubled
/// interrupt).
#[doc(alias = "e1000_intr")]
pub fn intr_mask(line: &IrqLine) -> bool {
    line.mask()
}

/// Whether a poll that cleaned `done` descriptors out of `budget` used its
/// whole budget: more may be waiting, so it stays scheduled with the
/// interrupt still masked (`work_done == budget` in a NAPI driver).
pub fn budget_exhausted(done: u32, budget: u32) -> bool {
    done >= budget
}

/// Completing a poll (`napi_complete_done`, then `e1000_irq_enable`):
/// unmask (IMS). If the hardware latched a cause while the interrupt was
/// masked, the unmask raises it at once: it is taken as the handler takes
/// one, masked again ([`intr_mask`]), and `true` says the poll must run
/// again. `false`: nothing was latched, the interrupt is unmasked and the
/// next event raises it.
///
/// The caller counts the completion before calling this, so that whoever
/// sees the interrupt unmasked sees the poll counted.
#[doc(alias = "napi_complete_done")]
#[doc(alias = "e1000_irq_enable")]
pub fn complete_unmask(line: &IrqLine) -> bool {
    if !line.unmask() {
        return false;
    }
    // The interrupt a pending cause raises on unmask, handled at once.
    intr_mask(line);
    true
}
