// SPDX-License-Identifier: GPL-2.0

//! User pages pinned long-term out of an `iov_iter`, to be written after the
//! call that handed the iterator in has returned: what an asynchronous read
//! needs, since the iterator (and the iovec array behind it, on the
//! submitter's stack) is gone when `io_submit()` returns.
//!
//! The pins may be held indefinitely (until a datagram comes), so they are
//! long-term pins (`Documentation/core-api/pin_user_pages.rst`, "CASE 2"):
//! `pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM)` per piece of the
//! iterator, as io_uring pins registered buffers (`io_pin_pages`) and
//! AF_XDP a umem. With `FOLL_LONGTERM`, gup refuses (`EFAULT`) a writable
//! shared file mapping whose filesystem tracks dirty pages (the data would
//! be written behind its back, perhaps under writeback), and migrates the
//! pages out of `ZONE_MOVABLE`/CMA first. Anonymous memory, private file
//! mappings and shmem (tmpfs, memfd), which has no writeback, are pinned.
//! `iov_iter_extract_pages()` cannot pass `FOLL_LONGTERM`, hence the loop
//! here. The pins are counted in `/proc/vmstat` as `nr_foll_pin_acquired`.
//!
//! [`ExtractedPages`] gives every pin back exactly once:
//! `unpin_user_pages_dirty_lock()` after data was written (it may sleep, so
//! only in process context), `unpin_user_pages()` from `Drop` otherwise.
//! It is `pub(crate)`: a driver could otherwise unpin from atomic context,
//! drop written pages without dirtying them, or keep long-term pins in a
//! structure of its own. Drivers get at it only through `fs::aio`, whose
//! work item gives the pins back in process context.
//!
//! C headers: [`include/linux/uio.h`](srctree/include/linux/uio.h),
//! [`include/linux/mm.h`](srctree/include/linux/mm.h)

use super::{
    pin_span::{pages_bound, piece},
    IovIterDest,
};
use crate::{
    alloc::{flags::GFP_KERNEL_ACCOUNT, KVec},
    bindings,
    error::{code::*, Result},
    ffi::c_int,
    task::might_sleep,
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
/// # Invariants
///
/// - Every pointer in `pages` is a page pinned by `pin_user_pages_fast()`
///   with `FOLL_WRITE | FOLL_LONGTERM` (so `FOLL_PIN`), once per entry, and
///   not yet unpinned. The pin keeps the page itself alive (whatever
///   happens to the mapping), so writing it through a kernel mapping is
///   valid at any time until it is unpinned.
/// - The runs cover `pages` in order, each inside its pages
///   (`offset + len <= PAGE_SIZE * pages of the run`, `offset < PAGE_SIZE`);
///   `len` is the sum of their lengths.
/// - `written <= len`; `written_once` is set by the first write.
pub(crate) struct ExtractedPages {
    pages: KVec<*mut bindings::page>,
    runs: KVec<Run>,
    len: usize,
    /// Bytes written (from the start), which makes the pages dirty.
    written: usize,
    /// Whether the one write happened (even of 0 bytes).
    written_once: bool,
}

// SAFETY: The pins are not tied to the task that took them: any thread may
// write the pages and give the pins back.
unsafe impl Send for ExtractedPages {}
// SAFETY: `&self` methods only read the lengths.
unsafe impl Sync for ExtractedPages {}

const PAGE_SIZE: usize = bindings::PAGE_SIZE;

impl ExtractedPages {
    /// Pins the pages behind the first `max_bytes` bytes of `iter`, at most
    /// `max_pages` pages, one `pin_user_pages_fast()` per piece (iovec
    /// element), and advances the iterator past them. An iovec of many
    /// small elements may need a page per element: the pinned range then
    /// ends earlier, which the reader sees as a smaller buffer. Process
    /// context (gup may fault pages in and sleep), which `might_sleep()`
    /// checks on every call, not only when a page is not resident.
    ///
    /// What it allocates (8 bytes a page, 24 a piece) is sized by what the
    /// iterator can need, not by `max_pages` alone: `max_pages` is first
    /// capped at `pin_span::pages_bound` of the bytes wanted and the
    /// iterator's piece count, and the runs at one per piece.
    ///
    /// Only user-backed iterators (`ITER_UBUF`, `ITER_IOVEC`) can be kept
    /// beyond the call: a kernel iterator's memory (a `kvec` on someone's
    /// stack, a bio's pages) belongs to its caller, so those give
    /// `EOPNOTSUPP`. A page that cannot be pinned for writing long-term
    /// (unmapped, read-only, a shared mapping of a file whose filesystem
    /// tracks dirty pages) gives `EFAULT`, and other gup errors (`ENOMEM`,
    /// `EOVERFLOW` for a range that wraps, `EINTR` on a fatal signal,
    /// `EBUSY`) are passed on, with everything pinned so far given back.
    /// After a failure the iterator may stand past the pieces that were
    /// pinned and given back: a caller must not go on to copy through it
    /// (`Kiocb::queue` consumes the request, so its driver cannot).
    #[track_caller] // so that `might_sleep()` names the driver's line
    pub(crate) fn extract(iter: &mut IovIterDest<'_>, max_bytes: usize, max_pages: usize) -> Result<Self> {
        might_sleep();
        // SAFETY: A valid iterator (type invariant of `IovIterDest`).
        if !unsafe { bindings::user_backed_iter(iter.iov.get()) } {
            return Err(crate::error::code_ext::EOPNOTSUPP);
        }
        let want = iter.len().min(max_bytes);
        // SAFETY: A valid user-backed iterator (checked above).
        let nr_segs = unsafe { bindings::iov_iter_user_nr_segs(iter.iov.get()) };
        // No more pages than the bytes wanted can take, whatever the
        // caller asked for: with the count at most `MAX_RW_COUNT` and at
        // most `UIO_MAXIOV` pieces, at most 526,334 (about 4 MiB of pointers).
        let max_pages = max_pages.min(pages_bound(want, nr_segs, PAGE_SIZE));
        let mut this = Self {
            pages: KVec::with_capacity(max_pages, GFP_KERNEL_ACCOUNT)?,
            // A run per non-empty piece, and each has a page at least.
            runs: KVec::with_capacity(max_pages.min(nr_segs), GFP_KERNEL_ACCOUNT)?,
            len: 0,
            written: 0,
            written_once: false,
        };
        while this.len < want && this.pages.len() < max_pages {
            let mut seg: usize = 0;
            // SAFETY: A valid user-backed iterator with bytes left
            // (`this.len < want <= count` before the first advance, and
            // each advance takes what `len` gains), so its current piece
            // exists; `seg` is a valid out-pointer.
            let addr = unsafe { bindings::iov_iter_user_seg(iter.iov.get(), &mut seg) } as usize;
            let seg = seg.min(want - this.len);
            if seg == 0 {
                // An empty iovec element: advancing by 0 steps over it
                // (bytes are left, so a non-empty element follows).
                // SAFETY: A valid iterator; 0 is within its count.
                unsafe { bindings::iov_iter_advance(iter.iov.get(), 0) };
                continue;
            }
            let offset = addr % PAGE_SIZE;
            let first = this.pages.len();
            // `1 <= npages <= max_pages - first` (room is left, `seg > 0`);
            // `n` bytes of the piece lie in those pages.
            let (npages, n) = piece(offset, seg, max_pages - first, PAGE_SIZE);
            // SAFETY: `first <= capacity`, so this points into (or one past)
            // the allocation; only the spare capacity is written through it.
            let slot = unsafe { this.pages.as_mut_ptr().add(first) };
            // SAFETY: `slot` has room for `npages` pointers (capacity
            // `max_pages`, `first + npages <= max_pages`), which is all
            // gup writes. The user range is checked by gup itself
            // (`access_ok`, then the VMAs under the mmap lock); a bad one
            // gives an error or fewer pages, not a fault. `npages` fits a
            // `c_int` (so gup sees the count we have room for): it is at
            // most `ceil((offset + seg) / PAGE_SIZE) <= seg / PAGE_SIZE + 2`,
            // and `seg` is at most the iterator's count, which is at most
            // `MAX_RW_COUNT` (`INT_MAX & PAGE_MASK`): the VFS caps every
            // read's count at it, and the only caller, `Kiocb::queue`,
            // takes only `fs/aio.c` reads, whose iterator `aio_setup_rw()`
            // built with `import_ubuf()` or `import_iovec()`, which cap it.
            // So `npages <= MAX_RW_COUNT / PAGE_SIZE + 2`, far below
            // `INT_MAX`. The flags are valid for a pin.
            let got = unsafe {
                bindings::pin_user_pages_fast(
                    (addr - offset) as _,
                    npages as c_int,
                    bindings::FOLL_WRITE | bindings::FOLL_LONGTERM,
                    slot,
                )
            };
            if got > 0 {
                // SAFETY: gup pinned and stored `got <= npages` pages at
                // `first..`, within the capacity.
                // INVARIANT: Pinned once each, so `Drop` gives them back,
                // also on the error path below.
                unsafe { this.pages.set_len(first + got as usize) };
            }
            if got != npages as c_int {
                // `this` drops: what was pinned so far is given back.
                return Err(if got < 0 { crate::error::Error::from_errno(got) } else { EFAULT });
            }
            // INVARIANT: One run per piece, over the pages just pinned
            // (`offset + n <= npages * PAGE_SIZE`). Within the capacity
            // (so the push does not allocate): a run has a page at least
            // and each non-empty piece (at most `nr_segs`) gives one run,
            // the last one when the pages run out.
            this.runs.push(Run { first, offset, len: n }, GFP_KERNEL_ACCOUNT)?;
            this.len += n;
            // SAFETY: A valid iterator; `n <= seg`, within what is left.
            unsafe { bindings::iov_iter_advance(iter.iov.get(), n) };
        }
        Ok(this)
    }

    /// Bytes of user memory pinned.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Pages pinned (what the pins cost: `page_count() * PAGE_SIZE`).
    pub(crate) fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Bytes written by [`Self::copy_from_slice`]: the most a completion
    /// may report.
    pub(crate) fn written(&self) -> usize {
        self.written
    }

    /// Writes `data` into the pinned memory from the start, as much as fits;
    /// returns the byte count. Runs in any context (no fault can happen:
    /// the pages are pinned and written with `memcpy_to_page`, which maps
    /// each with `kmap_local_page` and flushes the data cache for aliasing
    /// caches). Only the first call writes (even a 0-byte one); later ones
    /// return 0, so [`Self::written`] is always what the reader gets.
    pub(crate) fn copy_from_slice(&mut self, data: &[u8]) -> usize {
        if self.written_once {
            return 0;
        }
        self.written_once = true;
        let total = data.len().min(self.len);
        let mut done = 0;
        for run in self.runs.iter() {
            let mut page = run.first;
            let mut offset = run.offset;
            let mut left = run.len.min(total - done);
            while left > 0 {
                let chunk = left.min(PAGE_SIZE - offset);
                // SAFETY: `pages[page]` is pinned (type invariant), so the
                // page is alive; `offset + chunk <= PAGE_SIZE` (a run stays
                // inside its pages, `chunk` is capped at the page's end);
                // the source is `chunk` bytes of `data` from `done`, in
                // bounds since `done + chunk <= total <= data.len()`.
                // The two do not overlap: `data` is a shared borrow, and no
                // reference into a page user space can map exists (the
                // layer hands out none, see `SharedPages`). Others may
                // write the destination meanwhile (user space, or the
                // kernel if the user pinned an mmap ring's page): that
                // races only on those bytes, as a device's DMA into user
                // memory does, and the pin keeps the page alive.
                unsafe {
                    bindings::memcpy_to_page(self.pages[page], offset, data.as_ptr().add(done).cast(), chunk)
                };
                done += chunk;
                left -= chunk;
                offset = 0;
                page += 1;
            }
            if done == total {
                break;
            }
        }
        // INVARIANT: `done <= total <= len`.
        self.written = done;
        done
    }

    /// Gives the pins back, marking the pages dirty if anything was written
    /// (`unpin_user_pages_dirty_lock()`, which may sleep: process context
    /// only, which `might_sleep()` checks).
    pub(crate) fn unpin_dirty(mut self) {
        might_sleep();
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
    /// drop in any context is fine. Only paths where nothing was written
    /// drop it (an extraction that failed, a charge refused); `fs::aio`
    /// unpins every request it queued with [`Self::unpin_dirty`].
    fn drop(&mut self) {
        if self.pages.is_empty() {
            return;
        }
        // SAFETY: The pages are pinned, once each, and not given back yet
        // (type invariant).
        unsafe { bindings::unpin_user_pages(self.pages.as_mut_ptr(), self.pages.len() as _) };
    }
}
