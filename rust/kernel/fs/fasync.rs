// SPDX-License-Identifier: GPL-2.0

//! Signal-driven I/O: the `fasync_struct` list behind `O_ASYNC` and `SIGIO`
//! (`fasync_helper()` and `kill_fasync()` in `fs/fcntl.c`).
//!
//! Upstream Rust-for-Linux has no abstraction for this. A driver owns one
//! [`FasyncQueue`] per object that can become readable (a socket's
//! `sk_wq->fasync_list`), hands it to the file operations when user space
//! turns `O_ASYNC` on ([`MiscDevice::fasync`]), and calls
//! [`FasyncQueue::kill`] when the object becomes readable or writable.
//!
//! Adding and removing files is not the driver's business: in C a driver's
//! `->fasync` calls `fasync_helper()` itself, and a driver that adds a file
//! to one list and removes it from another leaves a `fasync_struct` pointing
//! at the file after it is freed. Here only the file operation shim calls it
//! (`fasync_helper` is crate-private), on the queue it recorded for the file
//! the first time, so every entry is removed by the `->fasync(-1, file, 0)`
//! call `__fput` makes before `->release`.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)
//!
//! [`MiscDevice::fasync`]: crate::miscdevice::MiscDevice::fasync

use crate::{bindings, fs::File};
use core::cell::UnsafeCell;

/// `POLL_IN`: the `si_code` of a `SIGIO` for "data to read".
pub const POLL_IN: i32 = bindings::POLL_IN as i32;
/// `POLL_OUT`: the `si_code` for "room to write".
pub const POLL_OUT: i32 = bindings::POLL_OUT as i32;
/// `POLL_ERR`: the `si_code` for "an error is pending".
pub const POLL_ERR: i32 = bindings::POLL_ERR as i32;
/// `POLL_HUP`: the `si_code` for "hung up".
pub const POLL_HUP: i32 = bindings::POLL_HUP as i32;
/// `SIGIO`, the signal `kill_fasync` sends unless the owner chose another
/// with `F_SETSIG`.
pub const SIGIO: i32 = bindings::SIGIO as i32;

/// The head of a `fasync_struct` list (`struct fasync_struct *`).
///
/// # Invariants
///
/// `head` is only written by `fasync_helper()`, which serialises on the global
/// `fasync_lock`, and only through [`Self::helper`], which the file operation
/// shims call for the file whose `->fasync` runs; `kill_fasync()` reads it
/// under RCU. Every file on the list is removed by `__fput` before its
/// `->release`, and a queue reachable from a file's private data outlives
/// that `->release`: so the list is empty when the queue drops.
pub struct FasyncQueue {
    head: UnsafeCell<*mut bindings::fasync_struct>,
}

// SAFETY: The C functions synchronise every access to the list (invariant).
unsafe impl Sync for FasyncQueue {}
// SAFETY: The list is not tied to a thread.
unsafe impl Send for FasyncQueue {}

impl Default for FasyncQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl FasyncQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        Self { head: UnsafeCell::new(core::ptr::null_mut()) }
    }

    /// `fasync_helper()`: adds (`on`) or removes `file` for `fd`. Returns
    /// what it returns: `1` if the list changed, `0` if not, or a negative
    /// errno (`ENOMEM`). It also sets or clears `FASYNC` in `f_flags`, under
    /// `f_lock`, with the list change.
    ///
    /// # Safety
    ///
    /// `file` must be the file whose `->fasync` is running, and the queue
    /// must stay where it is until `file` is removed again (it must outlive
    /// the file's `->release`).
    pub(crate) unsafe fn helper(&self, fd: i32, file: &File, on: bool) -> i32 {
        // SAFETY: `head` is only modified by `fasync_helper`, which takes the
        // global `fasync_lock`; `file` is alive for the call; the caller
        // keeps the queue in place until the entry is gone.
        unsafe { bindings::fasync_helper(fd, file.as_ptr(), on as i32, self.head.get()) }
    }

    /// `kill_fasync()`: sends `sig` (usually [`SIGIO`]) with `band`
    /// ([`POLL_IN`], [`POLL_OUT`], [`POLL_ERR`]...) to the owner
    /// (`F_SETOWN`) of every file on the queue. Callable from any context;
    /// an empty queue costs one load.
    pub fn kill(&self, sig: i32, band: i32) {
        // SAFETY: `kill_fasync` reads the list under RCU and tolerates
        // concurrent `fasync_helper` calls; entries' files are alive while
        // on the list (type invariant).
        unsafe { bindings::kill_fasync(self.head.get(), sig, band) };
    }

    /// The address the file operations record for a file's queue.
    pub(crate) fn as_ptr(&self) -> *const FasyncQueue {
        self
    }
}

impl Drop for FasyncQueue {
    fn drop(&mut self) {
        // Empty by the type invariant; a file left on the list would be a
        // bug in the shims, and `kill_fasync` on it a use-after-free.
        // SAFETY: `&mut self`: nobody else can reach the queue any more, so
        // no `fasync_helper` or `kill_fasync` runs on it.
        let head = unsafe { *self.head.get() };
        if !head.is_null() {
            // SAFETY: Only prints a warning with a backtrace.
            unsafe { bindings::fasync_queue_warn_nonempty() };
        }
    }
}
