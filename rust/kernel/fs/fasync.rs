// SPDX-License-Identifier: GPL-2.0

//! Signal-driven I/O: the `fasync_struct` list behind `O_ASYNC`/`SIGIO`
//! (`fasync_helper()` and `kill_fasync()` in `fs/fcntl.c`).
//!
//! Upstream Rust-for-Linux has no abstraction for this; the shape follows C:
//! a driver keeps one queue per object, calls [`FasyncQueue::helper`] from its
//! `->fasync` and [`FasyncQueue::kill`] when data arrives.

use crate::{bindings, error::{to_result, Result}, fs::File};
use core::cell::UnsafeCell;

/// `POLL_IN`: the `si_code` for "data to read" in a `SIGIO`.
pub const POLL_IN: i32 = bindings::POLL_IN as i32;
/// `POLL_OUT`: the `si_code` for "room to write".
pub const POLL_OUT: i32 = bindings::POLL_OUT as i32;

/// The head of a `fasync_struct` list (`struct fasync_struct *`).
///
/// # Invariants
///
/// `head` is only written by `fasync_helper()`, which serialises on the global
/// `fasync_lock`; `kill_fasync()` reads it under RCU. Entries are removed by the
/// `->fasync(fd, file, 0)` call `__fput` makes for files that have `FASYNC`,
/// before `->release`, so a queue owned by a file's private data is empty
/// when it drops.
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

    /// `fasync_helper()`: adds (`on`) or removes `file` for `fd`, as the
    /// driver's `->fasync` is asked to.
    ///
    /// Like the poll table, the borrow ties the queue to the file's private
    /// data, which outlives the `fasync` entry.
    pub fn helper(&self, fd: i32, file: &File, on: bool) -> Result {
        // SAFETY: `head` is only modified by `fasync_helper`, which takes the
        // global `fasync_lock`; `file` is alive for the call.
        let ret = unsafe { bindings::fasync_helper(fd, file.as_ptr(), on as i32, self.head.get()) };
        to_result(if ret < 0 { ret } else { 0 })
    }

    /// `kill_fasync()`: sends `sig` (usually `SIGIO`) with `band` (`POLL_IN`,
    /// `POLL_OUT`) to every owner on the list. Callable from any context.
    pub fn kill(&self, sig: i32, band: i32) {
        // SAFETY: `kill_fasync` reads the list under RCU and tolerates
        // concurrent `fasync_helper` calls.
        unsafe { bindings::kill_fasync(self.head.get(), sig, band) };
    }
}
