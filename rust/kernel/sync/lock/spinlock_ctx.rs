// SPDX-License-Identifier: GPL-2.0

//! Spinlocks for data shared with interrupt context.
//!
//! 6.12's [`SpinLock`](super::spinlock::SpinLock) is `spin_lock()`: fine
//! between threads, a deadlock if a softirq or hard interrupt on the same CPU
//! takes the lock while a thread holds it. A driver whose receive queue is
//! filled by a softirq (NAPI poll) and drained by `read()` needs
//! `spin_lock_bh()`; data shared with a hard-irq handler (hrtimer callback,
//! irq_work) needs `spin_lock_irqsave()`. Both are lock backends here, so the
//! guards, `lock()` and lockdep classes work as for `SpinLock`.

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

/// The backend of [`SpinLockIrq`]: the guard keeps the saved interrupt flags.
pub struct SpinLockIrqBackend;

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

// SAFETY: `spin_lock_irqsave`/`spin_unlock_irqrestore` provide mutual
// exclusion; the flags saved by `lock` are what `unlock` restores.
unsafe impl super::Backend for SpinLockIrqBackend {
    type State = bindings::spinlock_t;
    type GuardState = crate::ffi::c_ulong;

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
        unsafe { bindings::spin_lock_irqsave(ptr) }
    }

    unsafe fn unlock(ptr: *mut Self::State, guard_state: &Self::GuardState) {
        // SAFETY: The caller owns the lock, and `guard_state` is what `lock`
        // saved on this CPU (guards are not `Send`).
        unsafe { bindings::spin_unlock_irqrestore(ptr, *guard_state) }
    }
}
