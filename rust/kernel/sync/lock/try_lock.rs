// SPDX-License-Identifier: GPL-2.0

//! Taking a lock only if it is free (`spin_trylock()`, `mutex_trylock()`).
//!
//! Upstream added `Backend::try_lock` and `Lock::try_lock` in v6.13; 6.12
//! has neither, and its `Backend` trait cannot grow a method from outside.
//! So the method lives on a sub-trait here, with the same name and
//! signature on [`Lock`]: when the kernel has its own, this file goes and
//! callers stay as they are.
//!
//! C headers: [`include/linux/spinlock.h`](srctree/include/linux/spinlock.h),
//! [`include/linux/mutex.h`](srctree/include/linux/mutex.h)

use super::mutex::MutexBackend;
use super::spinlock::SpinLockBackend;
use super::{Backend, Guard, Lock};
use crate::bindings;

/// A lock [`Backend`] that can also try to acquire its lock without waiting.
///
/// # Safety
///
/// - [`TryLockBackend::try_lock`] returns `Some` only when it acquired the
///   lock, and then with a guard state [`Backend::unlock`] accepts, exactly
///   as [`Backend::lock`] would have returned it;
/// - when it returns `None` the lock's state is unchanged and not held by
///   the caller.
pub unsafe trait TryLockBackend: Backend {
    /// Tries to acquire the lock; `None` if someone else holds it.
    ///
    /// # Safety
    ///
    /// As for [`Backend::lock`]: `ptr` points at a state initialised by
    /// [`Backend::init`] and still valid.
    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState>;
}

// SAFETY: `spin_trylock()` returns non-zero exactly when it took the lock,
// which `spin_unlock()` (the backend's `unlock`, with the unit guard state
// `lock` also returns) releases; on zero it changed nothing.
unsafe impl TryLockBackend for SpinLockBackend {
    unsafe fn try_lock(ptr: *mut bindings::spinlock_t) -> Option<()> {
        // SAFETY: The caller guarantees `ptr` is an initialised, live
        // spinlock.
        (unsafe { bindings::spin_trylock(ptr) } != 0).then_some(())
    }
}

// SAFETY: `mutex_trylock()` returns 1 exactly when it took the mutex, which
// `mutex_unlock()` (the backend's `unlock`, with the unit guard state)
// releases; on 0 it changed nothing. It does not sleep. The kernel's rule
// that a mutex is taken in process context only is, as for `Mutex::lock`,
// a rule whose breach lockdep reports or which deadlocks: no memory
// unsafety follows from it. (Upstream's v6.13 `try_lock` is the same.)
unsafe impl TryLockBackend for MutexBackend {
    unsafe fn try_lock(ptr: *mut bindings::mutex) -> Option<()> {
        // SAFETY: The caller guarantees `ptr` is an initialised, live mutex.
        (unsafe { bindings::mutex_trylock(ptr) } != 0).then_some(())
    }
}

impl<T: ?Sized, B: TryLockBackend> Lock<T, B> {
    /// Acquires the lock if nobody holds it, and returns a guard; `None`
    /// at once otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::prelude::*;
    /// use kernel::sync::{new_spinlock, SpinLock};
    ///
    /// let lock = KBox::pin_init(new_spinlock!(5u32, "doctest_try_lock"), GFP_KERNEL)?;
    /// let held = lock.try_lock().expect("a free lock is taken");
    /// assert!(lock.try_lock().is_none());
    /// drop(held);
    /// assert_eq!(*lock.try_lock().expect("free again"), 5);
    ///
    /// use kernel::sync::{new_mutex, Mutex};
    /// let m = KBox::pin_init(new_mutex!(7u32, "doctest_try_lock_mutex"), GFP_KERNEL)?;
    /// let held = m.lock();
    /// assert!(m.try_lock().is_none());
    /// drop(held);
    /// assert_eq!(*m.try_lock().expect("free again"), 7);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn try_lock(&self) -> Option<Guard<'_, T, B>> {
        // SAFETY: `state` was initialised by `B::init` when the lock was
        // constructed, and lives as long as `self`.
        let state = unsafe { B::try_lock(self.state.get())? };
        // SAFETY: `try_lock` returned `Some`: the lock is held, with the
        // state `unlock` expects, which the guard passes back on drop.
        Some(unsafe { Guard::new(self, state) })
    }
}
