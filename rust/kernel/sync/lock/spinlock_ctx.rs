// SPDX-License-Identifier: GPL-2.0

//! Spinlocks for data shared with interrupt context.
//!
//! 6.12's [`SpinLock`](super::spinlock::SpinLock) is `spin_lock()`: fine
//! between threads, a deadlock if a softirq or hard interrupt on the same CPU
//! takes the lock while a thread holds it. A driver whose receive queue is
//! filled by a softirq (NAPI poll) and drained by `read()` needs
//! `spin_lock_bh()`; data shared with a hard-irq handler (hrtimer callback,
//! irq_work) needs interrupts off while held. Both are lock backends here,
//! so the guards, `lock()` and lockdep classes work as for `SpinLock`.
//!
//! C header: [`include/linux/spinlock.h`](srctree/include/linux/spinlock.h)

use super::spinlock::SpinLockBackend;
use crate::bindings;

/// Creates a [`SpinLockBh`] initialiser with a new lockdep class.
#[macro_export]
macro_rules! new_spinlock_bh {
    ($inner:expr $(, $name:literal)? $(,)?) => {
        $crate::sync::SpinLockBh::new(
            $inner, $crate::optional_name!($($name)?), $crate::static_lock_class!())
    };
}
pub use new_spinlock_bh;

/// Creates a [`SpinLockIrq`] initialiser with a new lockdep class.
#[macro_export]
macro_rules! new_spinlock_irq {
    ($inner:expr $(, $name:literal)? $(,)?) => {
        $crate::sync::SpinLockIrq::new(
            $inner, $crate::optional_name!($($name)?), $crate::static_lock_class!())
    };
}
pub use new_spinlock_irq;

/// A spinlock that disables softirqs on this CPU while held (`spin_lock_bh`).
///
/// Use it for data a softirq (a BH work item, a NAPI-style poll) shares with
/// process context. Taking it from a softirq is also correct.
pub type SpinLockBh<T> = super::Lock<T, SpinLockBhBackend>;

/// A spinlock that disables hard interrupts on this CPU while held
/// (`spin_lock_irqsave`), usable from any context.
pub type SpinLockIrq<T> = super::Lock<T, SpinLockIrqBackend>;

/// The backend of [`SpinLockBh`].
pub struct SpinLockBhBackend;

/// The backend of [`SpinLockIrq`].
///
/// Why not `spin_lock_irqsave()` with the flags in the guard, as C writes
/// it: C code releases locks in the reverse order it took them, but Rust
/// guards may drop in any order. Lock `a`, then `b`, drop `a`: `a`'s saved
/// flags (interrupts on) would be restored while `b` is still held, and
/// dropping `b` would then restore "off" for good. So interrupts are
/// disabled through a per-CPU nesting count instead
/// ([`local_interrupt_disable`]): the first guard saves the flags, the last
/// one restores them, whatever the order in between.
///
/// Limits, as for C's `spin_lock_irqsave`: a guard must not be held across
/// a sleep (the task could wake on another CPU, leaving this CPU's count
/// raised: that is "scheduling while atomic", which debug kernels report),
/// nor taken in NMI context; and a [`SpinLockBh`] guard released while this
/// one is held runs pending softirqs with interrupts on, a lock-order bug
/// in C too. `PREEMPT_RT`, where spinlocks sleep, is not supported.
pub struct SpinLockIrqBackend;

/// `local_interrupt_disable()`: disables hard interrupts on this CPU, counting
/// nested calls; the outermost call saves the previous interrupt state.
///
/// The same design as upstream's (later) `local_interrupt_disable` /
/// `local_interrupt_enable` pair; here it is private to the
/// [`SpinLockIrq`] backend, which keeps the calls paired.
fn local_interrupt_disable() {
    // SAFETY: Disabling interrupts is always allowed; the count and saved
    // flags are per-CPU and only touched with interrupts off.
    unsafe { bindings::local_interrupt_disable() }
}

/// `local_interrupt_enable()`: undoes one [`local_interrupt_disable`]; the
/// last one restores the interrupt state the first one saved.
///
/// # Safety
///
/// Must pair with an earlier [`local_interrupt_disable`] on this CPU.
unsafe fn local_interrupt_enable() {
    // SAFETY: The caller pairs this with a disable, so the count is non-zero
    // and interrupts are off (we are still on the same CPU).
    unsafe { bindings::local_interrupt_enable() }
}

/// `irqs_disabled()`: whether hard interrupts are disabled on this CPU.
///
/// # Examples
///
/// Guards of [`SpinLockIrq`] may be dropped in any order; interrupts come
/// back on only when the last one goes:
///
/// ```
/// use kernel::prelude::*;
/// use kernel::sync::{lock::spinlock_ctx::irqs_disabled, new_spinlock_irq, SpinLockIrq};
///
/// let a = KBox::pin_init(new_spinlock_irq!(1u32, "doctest_a"), GFP_KERNEL)?;
/// let b = KBox::pin_init(new_spinlock_irq!(2u32, "doctest_b"), GFP_KERNEL)?;
/// assert!(!irqs_disabled());
/// let ga = a.lock();
/// let gb = b.lock();
/// drop(ga); // out of order: `b` is still held
/// assert!(irqs_disabled());
/// assert_eq!(*gb, 2);
/// drop(gb);
/// assert!(!irqs_disabled());
/// # Ok::<(), Error>(())
/// ```
pub fn irqs_disabled() -> bool {
    // SAFETY: Reads this CPU's interrupt flag; no preconditions.
    unsafe { bindings::irqs_disabled() }
}

// SAFETY: `spin_lock_bh`/`spin_unlock_bh` provide mutual exclusion, and the
// lock is initialised by `__spin_lock_init` before use.
unsafe impl super::Backend for SpinLockBhBackend {
    type State = bindings::spinlock_t;
    type GuardState = ();

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const crate::ffi::c_char,
        key: *mut bindings::lock_class_key,
    ) {
        // SAFETY: Same state type and contract as the plain spinlock's.
        unsafe { <SpinLockBackend as super::Backend>::init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: `ptr` is valid and initialised (the `Backend` contract).
        unsafe { bindings::spin_lock_bh(ptr) }
    }

    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: The caller owns the lock (the `Backend` contract).
        unsafe { bindings::spin_unlock_bh(ptr) }
    }
}

// SAFETY: `spin_lock`/`spin_unlock` provide mutual exclusion; interrupts are
// off on this CPU from before the lock is taken until after it is released,
// because every guard holds one count of `local_interrupt_disable`.
unsafe impl super::Backend for SpinLockIrqBackend {
    type State = bindings::spinlock_t;
    type GuardState = ();

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const crate::ffi::c_char,
        key: *mut bindings::lock_class_key,
    ) {
        // SAFETY: Same state type and contract as the plain spinlock's.
        unsafe { <SpinLockBackend as super::Backend>::init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        local_interrupt_disable();
        // SAFETY: `ptr` is valid and initialised (the `Backend` contract).
        unsafe { bindings::spin_lock(ptr) }
    }

    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: The caller owns the lock (the `Backend` contract).
        unsafe { bindings::spin_unlock(ptr) };
        // SAFETY: Pairs with the disable in `lock`, on this CPU: guards are
        // not `Send`, and with interrupts off the task cannot migrate.
        unsafe { local_interrupt_enable() };
    }
}
