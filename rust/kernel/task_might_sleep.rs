// SPDX-License-Identifier: GPL-2.0

//! `might_sleep()`: the debug check that the current context may sleep,
//! with the Rust caller's file and line in its report.
//!
//! Upstream (6.13) has it as `kernel::task::might_sleep`, `#[track_caller]`
//! over `__might_sleep_precision()`, which 6.12 lacks; `rust/layer.txt`
//! re-exports this one there, so callers use upstream's path and a later
//! kernel lets us delete this file.
//!
//! C header: [`include/linux/kernel.h`](srctree/include/linux/kernel.h)

use crate::{bindings, ffi::c_int};

/// Annotation for code that may sleep (C's `might_sleep()`). With
/// `CONFIG_DEBUG_ATOMIC_SLEEP`, a call in atomic context (a spinlock held,
/// preemption or interrupts off) prints "BUG: sleeping function called
/// from invalid context at FILE:LINE", FILE:LINE being the caller's
/// (`#[track_caller]`), whether or not this call would have slept: so a
/// path that sleeps only sometimes (a page fault, a contended lock) is
/// caught by every run that goes through it. Also a voluntary preemption
/// point, as in C.
///
/// # Examples
///
/// ```
/// // KUnit runs in a kernel thread, where sleeping is allowed: no report.
/// kernel::task::might_sleep();
/// ```
#[track_caller]
#[inline]
pub fn might_sleep() {
    let loc = core::panic::Location::caller();
    let file = loc.file();
    let len = c_int::try_from(file.len()).unwrap_or(c_int::MAX);
    let line = c_int::try_from(loc.line()).unwrap_or(c_int::MAX);
    // SAFETY: `file` is valid for reading `len <= file.len()` bytes, and
    // the helper reads no more (it copies them into a buffer of its own
    // before `__might_sleep()` prints it; 6.12 keeps no pointer to it).
    // The helper also calls `might_resched()`, which may schedule, and on
    // a kernel with voluntary preemption and without preemptible RCU
    // reports an RCU quiescent state (`__cond_resched()` ->
    // `rcu_all_qs()`): called inside an RCU read-side section, that could
    // end a grace period early. That is the rule every sleeping call in
    // the `kernel` crate relies on callers to keep (upstream's
    // `might_sleep()`, `Mutex::lock()`, `GFP_KERNEL` allocations): atomic
    // context is not in the types, and `CONFIG_DEBUG_ATOMIC_SLEEP`, which
    // this very check reports to, is how it is caught. Every caller in
    // this tree runs in process context holding no lock (the ring setup
    // ioctl, `Kiocb::queue` from `read_iter`).
    unsafe { bindings::might_sleep_at(file.as_ptr().cast(), len, line) };
}
