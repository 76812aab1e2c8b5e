// SPDX-License-Identifier: GPL-2.0

//! Memory barriers between CPUs: `smp_mb()`, `smp_wmb()`, `smp_rmb()`, with
//! the Linux kernel memory model's meaning (`tools/memory-model/`), not
//! Rust's `core::sync::atomic::fence`, so that a barrier here pairs with one
//! in C (for example the `smp_mb()` inside `wq_has_sleeper()`).
//!
//! The shape of upstream's `kernel::sync::barrier` (v6.18), whose
//! functions take no argument.
//!
//! C header: [`include/asm-generic/barrier.h`](srctree/include/asm-generic/barrier.h)

use crate::bindings;

/// `smp_mb()`: orders every access before it against every access after it,
/// as seen by other CPUs. The store-then-load pattern needs it: a poller
/// that added itself to a wait queue and then reads the state, against a
/// waker that changed the state and then checks for waiters with
/// [`WaitQueueHead::has_sleeper`](crate::sync::wait::WaitQueueHead::has_sleeper).
#[inline]
pub fn smp_mb() {
    // SAFETY: a barrier has no precondition.
    unsafe { bindings::smp_mb() }
}

/// `smp_wmb()`: orders stores before it against stores after it.
#[inline]
pub fn smp_wmb() {
    // SAFETY: a barrier has no precondition.
    unsafe { bindings::smp_wmb() }
}

/// `smp_rmb()`: orders loads before it against loads after it.
#[inline]
pub fn smp_rmb() {
    // SAFETY: a barrier has no precondition.
    unsafe { bindings::smp_rmb() }
}
