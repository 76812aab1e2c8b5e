// SPDX-License-Identifier: GPL-2.0

//! Kernel I/O control blocks: `struct kiocb`, the context of `->read_iter` and
//! `->write_iter`.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use crate::{bindings, fs::File, types::ForeignOwnable};
use core::{cell::Cell, marker::PhantomData, ptr::NonNull};

/// The `kiocb` of a `->read_iter` or `->write_iter` call on a file whose
/// private data is a `T` (set by the file operation shims' `open`).
///
/// # Invariants
///
/// `inner` points to a valid `kiocb` for `'a`, whose `ki_filp` is alive for
/// `'a`; `private` was produced by `T::into_foreign` and stays valid (not
/// converted back) for `'a`. `queued`, if present, is the flag the file
/// operation shim reads when the driver returns: set (only by
/// [`Kiocb::queue`](crate::fs::aio)) once the kiocb was handed to an
/// [`AsyncKiocb`](crate::fs::aio::AsyncKiocb), after which the shim returns
/// `-EIOCBQUEUED` whatever the driver says. Absent, the kiocb cannot be
/// queued (a `read_iter` that must complete in the call).
pub struct Kiocb<'a, T> {
    pub(crate) inner: NonNull<bindings::kiocb>,
    private: *const crate::ffi::c_void,
    pub(crate) queued: Option<&'a Cell<bool>>,
    _phantom: PhantomData<&'a T>,
}

impl<'a, T: ForeignOwnable> Kiocb<'a, T> {
    /// Wraps a `kiocb` on a file whose private data (as the file operation
    /// shims keep it) is `private`.
    ///
    /// # Safety
    ///
    /// `kiocb` must be valid for `'a`, and `private` must come from
    /// `T::into_foreign` and stay valid (not `from_foreign`ed) for `'a`.
    pub unsafe fn from_raw(kiocb: *mut bindings::kiocb, private: *const crate::ffi::c_void) -> Self {
        // INVARIANT: As the caller guarantees.
        Self {
            // SAFETY: The caller guarantees a valid, hence non-null, pointer.
            inner: unsafe { NonNull::new_unchecked(kiocb) },
            private,
            queued: None,
            _phantom: PhantomData,
        }
    }

    /// Like [`Self::from_raw`], for a `read_iter` that may complete later:
    /// [`Kiocb::queue`](crate::fs::aio) sets `queued` when it hands the
    /// kiocb over.
    ///
    /// # Safety
    ///
    /// As for [`Self::from_raw`]; and the caller must return `-EIOCBQUEUED`
    /// to the kernel if `queued` is set when the driver returns, and must
    /// not use the `kiocb` after that (its completion may already have run).
    pub(crate) unsafe fn from_raw_queueable(
        kiocb: *mut bindings::kiocb,
        private: *const crate::ffi::c_void,
        queued: &'a Cell<bool>,
    ) -> Self {
        // SAFETY: As the caller guarantees.
        let mut this = unsafe { Self::from_raw(kiocb, private) };
        // INVARIANT: The caller honours the flag.
        this.queued = Some(queued);
        this
    }

    /// The raw `struct kiocb`.
    pub fn as_raw(&self) -> *mut bindings::kiocb {
        self.inner.as_ptr()
    }

    fn raw(&self) -> *mut bindings::kiocb {
        self.inner.as_ptr()
    }

    /// The file the I/O is on (`ki_filp`).
    pub fn ki_filp(&self) -> &'a File {
        // SAFETY: `ki_filp` is alive for `'a` (type invariant).
        unsafe { File::from_raw_file((*self.raw()).ki_filp) }
    }

    /// The file's private data, borrowed (upstream's name: the driver's
    /// view of "the file").
    pub fn file(&self) -> <T as ForeignOwnable>::Borrowed<'a> {
        // SAFETY: The private data came from `T::into_foreign` and is not
        // released before `'a` ends (type invariant).
        unsafe { T::borrow(self.private) }
    }

    /// `ki_flags`: `IOCB_NOWAIT`, `IOCB_HIPRI`, ...
    pub fn flags(&self) -> u32 {
        // SAFETY: Valid for `'a`; only the caller's thread uses this kiocb.
        unsafe { (*self.raw()).ki_flags as u32 }
    }

    /// `IOCB_NOWAIT`: `preadv2(RWF_NOWAIT)`, or io_uring's first non-blocking
    /// attempt. The operation must not sleep; `EAGAIN` asks the caller to
    /// retry in a context that may.
    pub fn is_nowait(&self) -> bool {
        self.flags() & bindings::IOCB_NOWAIT as u32 != 0
    }

    /// Whether waiting for data is forbidden: `O_NONBLOCK` on the file or
    /// `IOCB_NOWAIT` on this request (the test `pipe_read` makes).
    pub fn is_nonblocking(&self) -> bool {
        self.is_nowait() || self.ki_filp().is_nonblocking()
    }

    /// `is_sync_kiocb()`: whether the submitter waits for the result (a plain
    /// `read(2)`), as opposed to AIO or io_uring with a completion callback.
    pub fn is_sync(&self) -> bool {
        // SAFETY: Valid for `'a`.
        unsafe { (*self.raw()).ki_complete.is_none() }
    }

    /// The file position, `ki_pos`.
    pub fn ki_pos(&self) -> i64 {
        // SAFETY: Valid for `'a`.
        unsafe { (*self.raw()).ki_pos }
    }

    /// The file position, for update.
    pub fn ki_pos_mut(&mut self) -> &mut i64 {
        // SAFETY: Valid for `'a`; `&mut self` makes this the only access.
        unsafe { &mut (*self.raw()).ki_pos }
    }
}
