// SPDX-License-Identifier: GPL-2.0

//! Pages shared with user space: kernel memory that a process maps (with
//! [`VmaMixedMap::vm_insert_page`]) and may write at any moment, while the
//! kernel reads and writes it too.
//!
//! Memory another party changes behind the compiler's back must never be
//! behind a Rust reference to plain data (`&[u8]`, `&u32`, `&mut ...`): the
//! compiler may assume such memory does not change, re-read a value it has
//! checked, or merge and tear accesses. So [`SharedPages`] hands out no
//! reference to its contents at all. Every access is an atomic operation
//! on a raw address, made by this file: a 32-bit load or store (relaxed,
//! acquire or release) of an aligned word, or a copy of bytes into or out of
//! a kernel buffer done as relaxed 8-byte and 1-byte atomic stores and
//! loads. That is what C's `READ_ONCE`, `WRITE_ONCE`, `smp_load_acquire`
//! and `smp_store_release` are for on memory shared with user space (as
//! io_uring's and AF_XDP's rings use them). A value read is a plain integer,
//! and every bit pattern of one is valid: whatever user space wrote, the
//! kernel gets some `u32` and its caller must check it. Offsets are checked
//! against the size (and alignment), so no caller can reach outside the
//! pages, whatever it computes.
//!
//! The pages are order-0 pages of the page allocator, zeroed, charged to the
//! allocating task's memory cgroup (`GFP_KERNEL_ACCOUNT`). Dropping a
//! [`SharedPages`] puts the kernel's references; a page still mapped by a
//! process stays allocated until the process unmaps it (the page table
//! holds its own reference), so there is never a user mapping of freed
//! memory. Using the pages (`read`, `write`, the atomics) never sleeps and
//! may be done in any context. Dropping may sleep: it frees the vector of
//! page pointers, which is `kvmalloc`'d (a large ring's may be `vmalloc`'d,
//! and `vfree()` may sleep outside interrupt context), so do not drop a
//! `SharedPages` under a spinlock in process context.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)

use crate::{
    alloc::{flags::__GFP_ZERO, Flags, KVec},
    bindings,
    error::{code::EINVAL, Result},
    mm::virt::VmaMixedMap,
    page::{Page, PAGE_SIZE},
};
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

/// Pages the kernel shares with user space, accessed only atomically.
///
/// # Invariants
///
/// `pages` are order-0 pages owned by this object; no reference to their
/// contents is ever created other than to atomic types, for the length of
/// one access, while the page is mapped (`kmap_local_page`).
pub struct SharedPages {
    pages: KVec<Page>,
}

impl SharedPages {
    /// Allocates `count` zeroed pages (`flags` plus `__GFP_ZERO`; use
    /// `GFP_KERNEL_ACCOUNT` for memory a user asked for).
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::mm::shared_pages::SharedPages;
    /// use core::sync::atomic::Ordering;
    ///
    /// let sp = SharedPages::new(2, GFP_KERNEL)?;
    /// assert_eq!(sp.len(), 2 * kernel::page::PAGE_SIZE);
    /// assert_eq!(sp.load_u32(64, Ordering::Relaxed)?, 0);
    /// sp.store_u32(64, 7, Ordering::Release)?;
    /// assert_eq!(sp.load_u32(64, Ordering::Acquire)?, 7);
    /// // Misaligned, or beyond the end: refused.
    /// assert!(sp.load_u32(66, Ordering::Relaxed).is_err());
    /// assert!(sp.store_u32(sp.len(), 1, Ordering::Relaxed).is_err());
    /// // A copy across the page boundary, at an odd offset.
    /// let data: [u8; 21] = core::array::from_fn(|i| i as u8 + 1);
    /// sp.write(4093, &data)?;
    /// let mut back = [0u8; 23];
    /// sp.read(4092, &mut back)?;
    /// assert_eq!(back[0], 0);
    /// assert_eq!(&back[1..22], &data[..]);
    /// assert_eq!(back[22], 0);
    /// assert!(sp.write(sp.len() - 3, &data).is_err());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn new(count: usize, flags: Flags) -> Result<Self> {
        let mut pages = KVec::with_capacity(count, flags)?;
        for _ in 0..count {
            pages.push(Page::alloc_page(flags | __GFP_ZERO)?, flags)?;
        }
        Ok(Self { pages })
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.pages.len() * PAGE_SIZE
    }

    /// Whether there are no pages.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// Maps the pages, in order, from `vma.start()` to `vma.end()` of an
    /// area that must be exactly [`Self::len`] bytes long (`EINVAL`
    /// otherwise). Each page is mapped with
    /// [`VmaMixedMap::vm_insert_page`], so the mapping keeps the pages alive
    /// after `self` is dropped. On an error the pages mapped so far stay
    /// mapped until the failed `mmap` tears the area down.
    pub fn insert_into(&self, vma: &VmaMixedMap) -> Result {
        if vma.end().checked_sub(vma.start()) != Some(self.len()) {
            return Err(EINVAL);
        }
        for (i, page) in self.pages.iter().enumerate() {
            vma.vm_insert_page(vma.start() + i * PAGE_SIZE, page)?;
        }
        Ok(())
    }

    /// Runs `f` on the kernel address of byte `offset`, with at least
    /// `len` bytes after it in the same page. `EINVAL` if they are not all
    /// inside the pages, or cross a page boundary.
    fn with_mapped<T>(&self, offset: usize, len: usize, f: impl FnOnce(*mut u8) -> T) -> Result<T> {
        let page = self.pages.get(offset / PAGE_SIZE).ok_or(EINVAL)?;
        let in_page = offset % PAGE_SIZE;
        if len > PAGE_SIZE - in_page {
            return Err(EINVAL);
        }
        // SAFETY: `page` is a live order-0 page we own. The mapping is
        // undone below, before anything else is mapped by this thread, so
        // `kmap_local` mappings nest.
        let base = unsafe { bindings::kmap_local_page(page.as_ptr()) }.cast::<u8>();
        // `in_page + len <= PAGE_SIZE`: the range is inside the mapped page.
        let r = f(base.wrapping_add(in_page));
        // SAFETY: Mapped above, the last local mapping of this thread.
        unsafe { bindings::kunmap_local(base.cast()) };
        Ok(r)
    }

    /// Loads the `u32` at `offset` (4-aligned) with `order` (`Relaxed` or
    /// `Acquire`; anything else is taken as `Acquire`). The value is
    /// whatever user space last stored: check it before use.
    pub fn load_u32(&self, offset: usize, order: Ordering) -> Result<u32> {
        if offset % 4 != 0 {
            return Err(EINVAL);
        }
        let order = match order {
            Ordering::Relaxed => Ordering::Relaxed,
            _ => Ordering::Acquire,
        };
        self.with_mapped(offset, 4, |p| {
            // SAFETY: `p` is 4-aligned (offset and page are), inside a page
            // mapped for the closure's duration. The `AtomicU32` reference
            // lives for this one load; an atomic type may be changed by
            // others while referenced, and user space stores to it are
            // outside our program (no Rust reference to this memory as
            // plain data exists).
            unsafe { AtomicU32::from_ptr(p.cast()) }.load(order)
        })
    }

    /// Stores `value` at `offset` (4-aligned) with `order` (`Relaxed` or
    /// `Release`; anything else is taken as `Release`).
    pub fn store_u32(&self, offset: usize, value: u32, order: Ordering) -> Result {
        if offset % 4 != 0 {
            return Err(EINVAL);
        }
        let order = match order {
            Ordering::Relaxed => Ordering::Relaxed,
            _ => Ordering::Release,
        };
        self.with_mapped(offset, 4, |p| {
            // SAFETY: As in `load_u32`.
            unsafe { AtomicU32::from_ptr(p.cast()) }.store(value, order)
        })
    }

    /// Copies `src` to `offset` with relaxed atomic stores (8 bytes at a
    /// time where aligned), page by page. `EINVAL`, and nothing written, if
    /// the range is not inside the pages.
    pub fn write(&self, offset: usize, src: &[u8]) -> Result {
        self.check_range(offset, src.len())?;
        self.chunks(offset, src.len(), |p, at, n| {
            for_each_word(p, n, |q, i, wide| {
                let s = &src[at + i..];
                if wide {
                    let v = u64::from_ne_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
                    // SAFETY: `q` is 8-aligned and 8 bytes inside the
                    // mapped page (`for_each_word`); see `load_u32`.
                    unsafe { AtomicU64::from_ptr(q.cast()) }.store(v, Ordering::Relaxed);
                } else {
                    // SAFETY: `q` is inside the mapped page; see `load_u32`.
                    unsafe { AtomicU8::from_ptr(q) }.store(s[0], Ordering::Relaxed);
                }
            })
        })
    }

    /// Copies from `offset` into `dst` with relaxed atomic loads, page by
    /// page. What user space may be changing meanwhile arrives as some mix
    /// of old and new bytes, never as anything the compiler assumed.
    pub fn read(&self, offset: usize, dst: &mut [u8]) -> Result {
        self.check_range(offset, dst.len())?;
        self.chunks(offset, dst.len(), |p, at, n| {
            for_each_word(p, n, |q, i, wide| {
                let d = &mut dst[at + i..];
                if wide {
                    // SAFETY: As in `write`.
                    let v = unsafe { AtomicU64::from_ptr(q.cast()) }.load(Ordering::Relaxed);
                    d[..8].copy_from_slice(&v.to_ne_bytes());
                } else {
                    // SAFETY: As in `write`.
                    d[0] = unsafe { AtomicU8::from_ptr(q) }.load(Ordering::Relaxed);
                }
            })
        })
    }

    fn check_range(&self, offset: usize, len: usize) -> Result {
        match offset.checked_add(len) {
            Some(end) if end <= self.len() => Ok(()),
            _ => Err(EINVAL),
        }
    }

    /// Calls `f(address, position in the copy, bytes)` for each page-sized
    /// piece of `offset..offset + len` (checked to be inside the pages).
    fn chunks(&self, offset: usize, len: usize, mut f: impl FnMut(*mut u8, usize, usize)) -> Result {
        let mut at = 0;
        while at < len {
            let off = offset + at;
            let n = (PAGE_SIZE - off % PAGE_SIZE).min(len - at);
            self.with_mapped(off, n, |p| f(p, at, n))?;
            at += n;
        }
        Ok(())
    }
}

/// Calls `f(address, index, wide)` over `n` bytes from `p`: `wide` for an
/// 8-aligned 8-byte word, otherwise a single byte, in address order.
fn for_each_word(p: *mut u8, n: usize, mut f: impl FnMut(*mut u8, usize, bool)) {
    let mut i = 0;
    while i < n {
        let q = p.wrapping_add(i);
        if (q as usize) % 8 == 0 && n - i >= 8 {
            f(q, i, true);
            i += 8;
        } else {
            f(q, i, false);
            i += 1;
        }
    }
}
