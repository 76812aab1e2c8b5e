// SPDX-License-Identifier: GPL-2.0

//! I/O vectors: `struct iov_iter` (`include/linux/uio.h`).
//!
//! Shape follows upstream Rust-for-Linux `kernel::iov`: a source iterator
//! (data flows *from* it, as in `->write_iter`) and a destination iterator
//! (data flows *to* it, as in `->read_iter`). Copies into user memory may
//! fault and come up short; the methods return how much was copied and leave
//! the errno choice (usually `EFAULT`) to the caller.
//!
//! C headers: [`include/linux/uio.h`](srctree/include/linux/uio.h)

use crate::{
    alloc::{Allocator, Flags, Vec},
    bindings,
    error::Result,
    types::Opaque,
};
use core::marker::PhantomData;

mod extract;
mod pin_span;
pub(crate) use extract::ExtractedPages;

/// An `iov_iter` that data is copied out of (`ITER_SOURCE`).
///
/// # Invariants
///
/// `iov` is a valid `ITER_SOURCE` `iov_iter` whose buffers are valid for
/// reading for `'data` (user buffers are checked by the copy routines).
#[repr(transparent)]
pub struct IovIterSource<'data> {
    iov: Opaque<bindings::iov_iter>,
    _source: PhantomData<&'data [u8]>,
}

/// An `iov_iter` that data is copied into (`ITER_DEST`).
///
/// # Invariants
///
/// `iov` is a valid `ITER_DEST` `iov_iter` whose buffers are valid for
/// writing for `'data` (user buffers are checked by the copy routines).
///
/// # Examples
///
/// Copy into a kernel buffer through an `ITER_KVEC` iterator, the way a
/// driver's `read_iter` copies into user memory:
///
/// ```
/// use kernel::iov::IovIterDest;
///
/// let mut buf = [0u8; 4];
/// let copied = IovIterDest::with_kernel_buf(&mut buf, |iter| {
///     assert_eq!(iter.len(), 4);
///     let n = iter.copy_to_iter(b"abcdef"); // a short destination truncates
///     assert_eq!(iter.len(), 0);
///     n
/// });
/// assert_eq!(copied, 4);
/// assert_eq!(&buf, b"abcd");
/// ```
#[repr(transparent)]
pub struct IovIterDest<'data> {
    iov: Opaque<bindings::iov_iter>,
    _dest: PhantomData<&'data mut [u8]>,
}

impl<'data> IovIterSource<'data> {
    /// Borrows an `iov_iter` that is a data source.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid `ITER_SOURCE` iterator for `'iov`, not used by
    /// anyone else meanwhile, whose buffers are readable for `'data`.
    pub unsafe fn from_raw<'iov>(ptr: *mut bindings::iov_iter) -> &'iov mut IovIterSource<'data> {
        // SAFETY: `repr(transparent)` over `Opaque<iov_iter>`; the rest is the
        // caller's promise.
        unsafe { &mut *ptr.cast() }
    }

    /// `iov_iter_count()`: bytes left.
    pub fn len(&self) -> usize {
        // SAFETY: Valid iterator (type invariant).
        unsafe { bindings::iov_iter_count(self.iov.get()) }
    }

    /// Whether no bytes are left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `iov_iter_advance()`: skips `bytes` (clamped to what is left).
    pub fn advance(&mut self, bytes: usize) {
        // SAFETY: Valid iterator; `iov_iter_advance` clamps to the count.
        unsafe { bindings::iov_iter_advance(self.iov.get(), bytes) };
    }

    /// `copy_from_iter()`: fills as much of `out` as it can; returns the byte
    /// count, short if the source ran out or a user page faulted.
    pub fn copy_from_iter(&mut self, out: &mut [u8]) -> usize {
        // SAFETY: `out` is valid for writes of its length; the iterator is a
        // valid source (type invariant).
        unsafe { bindings::_copy_from_iter(out.as_mut_ptr().cast(), out.len(), self.iov.get()) }
    }

    /// Appends everything left to `out` (upstream's signature): reserves
    /// room for it, copies, and returns the bytes copied, fewer than
    /// [`Self::len`] was if a user page faulted.
    pub fn copy_from_iter_vec<A: Allocator>(&mut self, out: &mut Vec<u8, A>, flags: Flags) -> Result<usize> {
        let len = self.len();
        out.reserve(len, flags)?;
        let old = out.len();
        // SAFETY: The spare capacity after `old` is valid for writes of
        // `len` bytes (reserved above).
        let n = unsafe { bindings::_copy_from_iter(out.as_mut_ptr().add(old).cast(), len, self.iov.get()) };
        // SAFETY: `_copy_from_iter` initialised `n <= len` bytes after `old`.
        unsafe { out.set_len(old + n) };
        Ok(n)
    }
}

impl<'data> IovIterDest<'data> {
    /// Borrows an `iov_iter` that is a data destination.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid `ITER_DEST` iterator for `'iov`, not used by
    /// anyone else meanwhile, whose buffers are writable for `'data`.
    pub unsafe fn from_raw<'iov>(ptr: *mut bindings::iov_iter) -> &'iov mut IovIterDest<'data> {
        // SAFETY: `repr(transparent)`; the rest is the caller's promise.
        unsafe { &mut *ptr.cast() }
    }

    /// Runs `f` with a destination iterator over a kernel buffer
    /// (`iov_iter_kvec(ITER_DEST)`).
    pub fn with_kernel_buf<R>(buf: &mut [u8], f: impl FnOnce(&mut IovIterDest<'_>) -> R) -> R {
        let mut kvec = bindings::kvec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let iov = Opaque::<bindings::iov_iter>::uninit();
        // SAFETY: `iov` is valid for writes; `kvec` describes `buf`, which is
        // exclusively borrowed for this whole function, so writes through the
        // iterator cannot alias anything else.
        unsafe { bindings::iov_iter_kvec(iov.get(), bindings::ITER_DEST as u32, &mut kvec, 1, buf.len()) };
        // SAFETY: Initialised just above as an `ITER_DEST` iterator over
        // memory that stays borrowed until `f` returns; `iov` is not moved.
        f(unsafe { IovIterDest::from_raw(iov.get()) })
    }

    /// `iov_iter_count()`: bytes of room left.
    pub fn len(&self) -> usize {
        // SAFETY: Valid iterator (type invariant).
        unsafe { bindings::iov_iter_count(self.iov.get()) }
    }

    /// Whether no room is left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pins the user pages behind the next `max_bytes` bytes (at most
    /// `max_pages` pages) long-term, to be written after this call returns;
    /// see [`ExtractedPages::extract`]. Crate-private: only `fs::aio`, which
    /// gives the pins back correctly, keeps pages.
    #[track_caller] // so that `might_sleep()` names the driver's line
    pub(crate) fn extract_pages(&mut self, max_bytes: usize, max_pages: usize) -> Result<ExtractedPages> {
        ExtractedPages::extract(self, max_bytes, max_pages)
    }

    /// `copy_to_iter()`: copies as much of `input` as fits; returns the byte
    /// count, short if the destination is smaller or a user page faulted.
    pub fn copy_to_iter(&mut self, input: &[u8]) -> usize {
        // SAFETY: `input` is valid for reads of its length; the iterator is a
        // valid destination (type invariant).
        unsafe { bindings::_copy_to_iter(input.as_ptr().cast(), input.len(), self.iov.get()) }
    }
}
