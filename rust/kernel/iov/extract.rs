// SPDX-License-Identifier: GPL-2.0

//! User pages pinned out of an `iov_iter`, to be written after the call that
//! handed the iterator in has returned: what an asynchronous read needs,
//! since the iterator (and the iovec array behind it, on the submitter's
//! stack) is gone when `io_submit()` returns.
//!
//! `iov_iter_extract_pages()` pins the pages of user-backed iterators
//! (`FOLL_PIN`, counted in `/proc/vmstat` as `nr_foll_pin_acquired`);
//! [`ExtractedPages`] gives every pin back exactly once:
//! `unpin_user_pages_dirty_lock()` after data was written (it may sleep, so
//! only in process context), `unpin_user_pages()` from `Drop` otherwise
//! (which does not sleep, so a drop anywhere is fine).
//!
//! C headers: [`include/linux/uio.h`](srctree/include/linux/uio.h),
//! [`include/linux/mm.h`](srctree/include/linux/mm.h)

use super::IovIterDest;
use crate::{
    alloc::{flags::GFP_KERNEL, KVec},
    bindings,
    error::{code::*, Result},
};

/// One contiguous run of user memory: `len` bytes from `offset` in the first
/// of its pages, which are `pages[first..]`.
#[derive(Clone, Copy)]
struct Run {
    first: usize,
    offset: usize,
    len: usize,
}

/// Pinned user pages, the destination of a read that completes later.
///
/// # Examples
///
/// Only user memory can be kept: a kernel buffer's iterator is refused,
/// and nothing is taken from it.
///
/// ```
/// use kernel::{error::code_ext::EOPNOTSUPP, iov::IovIterDest};
///
/// let mut buf = [0u8; 16];
/// IovIterDest::with_kernel_buf(&mut buf, |iter| {
///     assert!(iter.extract_pages(16, 1).err() == Some(EOPNOTSUPP));
///     assert_eq!(iter.len(), 16);
/// });
/// ```
///
/// # Invariants
///
/// - Every pointer in `pages` is a page pinned with `FOLL_PIN` by
///   `iov_iter_extract_pages()` on a user-backed iterator, pinned once per
///   entry, and not yet unpinned. The pin keeps the page itself alive
///   (whatever happens to the mapping), so writing it through a kernel
///   mapping is valid at any time until it is unpinned.
/// - The runs cover `pages` in order, each inside its pages
///   (`offset + len <= PAGE_SIZE * pages of the run`, `offset < PAGE_SIZE`);
///   `len` is the sum of their lengths.
pub struct ExtractedPages {
    pages: KVec<*mut bindings::page>,
    runs: KVec<Run>,
    len: usize,
    /// Bytes written so far (from the start), which makes the pages dirty.
    written: usize,
}

// SAFETY: The pins are not tied to the task that took them: any thread may
// write the pages and give the pins back.
unsafe impl Send for ExtractedPages {}
// SAFETY: `&self` methods only read the lengths.
unsafe impl Sync for ExtractedPages {}

const PAGE_SIZE: usize = bindings::PAGE_SIZE;

impl ExtractedPages {
    /// `iov_iter_extract_pages()` in a loop: pins the pages behind the first
    /// `max_bytes` bytes of `iter`, at most `max_pages` pages (an iovec of
    /// many small elements may need a page per element: the pinned range
    /// then ends earlier, which the reader sees as a smaller buffer), and
    /// advances the iterator past them.
    ///
    /// Only user-backed iterators (`ITER_UBUF`, `ITER_IOVEC`) can be kept
    /// beyond the call: a kernel iterator's memory (a `kvec` on someone's
    /// stack, a bio's pages) belongs to its caller, so those give
    /// `EOPNOTSUPP`. A page that cannot be pinned for writing (unmapped,
    /// read-only) gives `EFAULT`, with everything pinned so far given back.
    pub fn extract(iter: &mut IovIterDest<'_>, max_bytes: usize, max_pages: usize) -> Result<Self> {
        // SAFETY: A valid iterator (type invariant of `IovIterDest`).
        if !unsafe { bindings::iov_iter_extract_will_pin(iter.iov.get()) } {
            return Err(crate::error::code_ext::EOPNOTSUPP);
        }
        let want = iter.len().min(max_bytes);
        let mut this = Self {
            pages: KVec::with_capacity(max_pages, GFP_KERNEL)?,
            runs: KVec::with_capacity(max_pages, GFP_KERNEL)?,
            len: 0,
            written: 0,
        };
        while this.len < want && this.pages.len() < max_pages {
            let room = max_pages - this.pages.len();
            let first = this.pages.len();
            // SAFETY: `first <= capacity`, so this points into (or one past)
            // the allocation; only the spare capacity is written through it.
            let mut slot = unsafe { this.pages.as_mut_ptr().add(first) };
            let mut offset: usize = 0;
            // SAFETY: A valid user-backed destination iterator; `slot` is
            // non-null, so the function fills it rather than allocating,
            // with at most `room` pointers, which the capacity has. It
            // advances the iterator by what it returns.
            let n = unsafe {
                bindings::iov_iter_extract_pages(
                    iter.iov.get(),
                    &mut slot,
                    want - this.len,
                    room as u32,
                    0,
                    &mut offset,
                )
            };
            if n <= 0 {
                // `this` drops: what was pinned so far is given back.
                return Err(if n < 0 { crate::error::Error::from_errno(n as i32) } else { EFAULT });
            }
            let n = n as usize;
            let npages = (offset + n).div_ceil(PAGE_SIZE);
            // SAFETY: `iov_iter_extract_pages` pinned and stored `npages`
            // pages (its byte count is capped at what they cover) at
            // `first..`, within the capacity.
            unsafe { this.pages.set_len(first + npages) };
            // INVARIANT: One run per call, over the pages it just pinned;
            // the run count cannot exceed the page count (each run has at
            // least one page), hence the capacity.
            this.runs.push(Run { first, offset, len: n }, GFP_KERNEL)?;
            this.len += n;
        }
        Ok(this)
    }

    /// Bytes of user memory pinned.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is pinned (a zero-length read).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pages pinned (what the pins cost: `page_count() * PAGE_SIZE`).
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Bytes written so far by [`Self::copy_from_slice`].
    pub fn written(&self) -> usize {
        self.written
    }

    /// Writes `data` into the pinned memory from the start, as much as fits;
    /// returns the byte count. Runs in any context (no fault can happen:
    /// the pages are pinned and written through `kmap_local_page`). Only
    /// the first call writes; later ones return 0, so the count is always
    /// what the reader gets.
    pub fn copy_from_slice(&mut self, data: &[u8]) -> usize {
        if self.written != 0 {
            return 0;
        }
        let total = data.len().min(self.len);
        let mut done = 0;
        for run in self.runs.iter() {
            let mut page = run.first;
            let mut offset = run.offset;
            let mut left = run.len.min(total - done);
            while left > 0 {
                let chunk = left.min(PAGE_SIZE - offset);
                // SAFETY: `pages[page]` is pinned (type invariant), so the
                // page is alive; `kmap_local_page` maps it for this CPU
                // until the `kunmap_local` below.
                let addr = unsafe { bindings::kmap_local_page(self.pages[page]) };
                // SAFETY: `offset + chunk <= PAGE_SIZE` (a run stays inside
                // its pages, `chunk` is capped at the page's end); the
                // source is `chunk` bytes of `data` from `done`, in bounds
                // since `done + chunk <= total <= data.len()`. Kernel and
                // user memory do not overlap.
                unsafe {
                    core::ptr::copy_nonoverlapping(data.as_ptr().add(done), addr.cast::<u8>().add(offset), chunk)
                };
                // SAFETY: The mapping made above, released once.
                unsafe { bindings::kunmap_local(addr) };
                done += chunk;
                left -= chunk;
                offset = 0;
                page += 1;
            }
            if done == total {
                break;
            }
        }
        self.written = done;
        done
    }

    /// Gives the pins back, marking the pages dirty if anything was written
    /// (`unpin_user_pages_dirty_lock()`, which may sleep: process context
    /// only).
    pub fn unpin_dirty(mut self) {
        let dirty = self.written > 0;
        let pages = core::mem::replace(&mut self.pages, KVec::new());
        if pages.is_empty() {
            return;
        }
        // SAFETY: The pages are pinned, once each (type invariant), and
        // `self` no longer holds them (taken above), so `Drop` does not give
        // them back a second time. The caller is in process context.
        unsafe { bindings::unpin_user_pages_dirty_lock(pages.as_ptr().cast_mut(), pages.len() as _, dirty) };
    }
}

impl Drop for ExtractedPages {
    /// Gives back the pins that [`Self::unpin_dirty`] did not, without
    /// marking the pages dirty: `unpin_user_pages()` does not sleep, so a
    /// drop in any context is fine.
    fn drop(&mut self) {
        if self.pages.is_empty() {
            return;
        }
        // SAFETY: The pages are pinned, once each, and not given back yet
        // (type invariant).
        unsafe { bindings::unpin_user_pages(self.pages.as_mut_ptr(), self.pages.len() as _) };
    }
}
