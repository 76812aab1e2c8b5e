// SPDX-License-Identifier: GPL-2.0

//! `RLIMIT_MEMLOCK` accounting: pages of kernel memory a user made the
//! kernel pin for them, charged to the user's `locked_vm` (in `struct
//! user_struct`, shared by all of that user's processes) against the
//! calling process's `RLIMIT_MEMLOCK`, as AF_XDP charges a umem
//! (`xdp_umem_account_pages`) and io_uring its registered buffers
//! (`__io_account_mem`; 6.12 does not charge its SQ and CQ rings).
//! A task with `CAP_IPC_LOCK` is not charged, as there.
//!
//! No upstream Rust abstraction exists.
//!
//! C header: [`include/linux/sched/user.h`](srctree/include/linux/sched/user.h)

use crate::{
    bindings,
    capability::{capable, CAP_IPC_LOCK},
    error::{code_ext::ENOBUFS, Result},
    page::PAGE_SIZE,
    task::might_sleep,
};
use core::ptr::NonNull;

/// Pages charged to a user's `locked_vm`; dropping it gives them back.
///
/// # Invariants
///
/// If `user` is set, it holds a reference on that `user_struct` (from
/// `get_current_user`), and `pages` were added to its `locked_vm` by
/// [`LockedVmCharge::charge_current`] and not yet subtracted.
pub struct LockedVmCharge {
    user: Option<NonNull<bindings::user_struct>>,
    pages: usize,
}

// SAFETY: A `user_struct` reference may be dropped on any thread
// (`free_uid` takes `uidhash_lock` with interrupts off), and the counter
// is atomic.
unsafe impl Send for LockedVmCharge {}
// SAFETY: `&self` methods only read `pages`.
unsafe impl Sync for LockedVmCharge {}

impl LockedVmCharge {
    /// Charges `bytes` (rounded up to pages) to the current user, unless
    /// the task has `CAP_IPC_LOCK`. `ENOBUFS` if the user's `locked_vm`
    /// would go over the task's `RLIMIT_MEMLOCK` (what AF_XDP returns).
    /// Process context: it charges the current task's user against the
    /// current task's limit, which in an interrupt would be whichever task
    /// was interrupted; `might_sleep()` checks it on every call.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::mm::locked_vm::LockedVmCharge;
    ///
    /// // KUnit runs in a kernel thread, which has CAP_IPC_LOCK: not charged.
    /// let c = LockedVmCharge::charge_current(8192)?;
    /// assert_eq!(c.pages(), 0);
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller] // so that `might_sleep()` names the caller's line
    pub fn charge_current(bytes: usize) -> Result<Self> {
        might_sleep();
        if capable(CAP_IPC_LOCK) {
            return Ok(Self { user: None, pages: 0 });
        }
        let pages = bytes.div_ceil(PAGE_SIZE);
        // SAFETY: The current task's credentials are valid in process
        // context; this takes a reference on their user.
        let user = unsafe { bindings::get_current_user() };
        let Some(user) = NonNull::new(user) else {
            return Err(ENOBUFS);
        };
        // INVARIANT: The reference is ours; `pages` is added below or the
        // reference dropped.
        let mut charge = Self { user: Some(user), pages: 0 };
        // SAFETY: Reads the current task's limit; no preconditions.
        let limit = unsafe { bindings::rlimit(bindings::RLIMIT_MEMLOCK) } as usize / PAGE_SIZE;
        let add = isize::try_from(pages).map_err(|_| ENOBUFS)?;
        // SAFETY: `user` is a live `user_struct` (we hold a reference).
        let mut old = unsafe { bindings::user_locked_vm_read(user.as_ptr()) };
        loop {
            let new = old.checked_add(add).ok_or(ENOBUFS)?;
            if new < 0 || new as u64 > limit as u64 {
                return Err(ENOBUFS);
            }
            // SAFETY: As above; `old` is a valid out-pointer, updated with
            // the current value on failure.
            if unsafe { bindings::user_locked_vm_try_cmpxchg(user.as_ptr(), &mut old, new) } {
                break;
            }
        }
        charge.pages = pages;
        Ok(charge)
    }

    /// Pages charged (0 for a task with `CAP_IPC_LOCK`).
    pub fn pages(&self) -> usize {
        self.pages
    }
}

impl Drop for LockedVmCharge {
    fn drop(&mut self) {
        if let Some(user) = self.user {
            // SAFETY: We hold a reference on `user`, and added `pages` to
            // its counter (type invariant); both are given back once.
            unsafe {
                bindings::user_locked_vm_sub(user.as_ptr(), self.pages as _);
                bindings::free_uid(user.as_ptr());
            }
        }
    }
}
