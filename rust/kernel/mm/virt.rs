// SPDX-License-Identifier: GPL-2.0

//! Virtual memory areas: `struct vm_area_struct`.
//!
//! The shape of upstream Rust-for-Linux's `kernel::mm::virt` (v6.18):
//! [`VmaRef`] is an area seen with the mmap lock (or the VMA lock) held for
//! reading; [`VmaMixedMap`] one that also has `VM_MIXEDMAP` set, which is
//! what [`VmaMixedMap::vm_insert_page`] needs; [`VmaNew`] is the area an
//! `f_op->mmap` handler is setting up, which alone may change its flags.
//! Upstream's `VmaRef::mm` and `zap_page_range_single` are left out (nothing
//! here needs them, and 6.12 has no `MmWithUser`); [`VmaNew::pgoff`] is
//! ours (an `->mmap` handler checks the offset it is asked to map).
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)

use crate::{
    bindings,
    error::{code::EINVAL, to_result, Result},
    page::Page,
    types::Opaque,
};
use core::ops::Deref;

/// The integer type of VMA flags (`vm_flags_t`).
pub type VmFlags = bindings::vm_flags_t;

/// `VM_*` flags of a VMA.
pub mod flags {
    use super::VmFlags;
    use crate::bindings;

    /// No flags.
    pub const NONE: VmFlags = 0;
    /// The mapping may be read.
    pub const READ: VmFlags = bindings::VM_READ as VmFlags;
    /// The mapping may be written.
    pub const WRITE: VmFlags = bindings::VM_WRITE as VmFlags;
    /// The mapping may be executed.
    pub const EXEC: VmFlags = bindings::VM_EXEC as VmFlags;
    /// The mapping is shared (`MAP_SHARED`): writes reach the pages, not
    /// copies of them.
    pub const SHARED: VmFlags = bindings::VM_SHARED as VmFlags;
    /// `mprotect` may add `READ`.
    pub const MAYREAD: VmFlags = bindings::VM_MAYREAD as VmFlags;
    /// `mprotect` may add `WRITE`.
    pub const MAYWRITE: VmFlags = bindings::VM_MAYWRITE as VmFlags;
    /// `mprotect` may add `EXEC`.
    pub const MAYEXEC: VmFlags = bindings::VM_MAYEXEC as VmFlags;
    /// The mapping may become shared.
    pub const MAYSHARE: VmFlags = bindings::VM_MAYSHARE as VmFlags;
    /// Pages without `struct page`, by PFN only.
    pub const PFNMAP: VmFlags = bindings::VM_PFNMAP as VmFlags;
    /// Memory-mapped I/O or similar.
    pub const IO: VmFlags = bindings::VM_IO as VmFlags;
    /// Not copied on `fork`.
    pub const DONTCOPY: VmFlags = bindings::VM_DONTCOPY as VmFlags;
    /// `mremap` cannot grow it.
    pub const DONTEXPAND: VmFlags = bindings::VM_DONTEXPAND as VmFlags;
    /// Left out of core dumps.
    pub const DONTDUMP: VmFlags = bindings::VM_DONTDUMP as VmFlags;
    /// May hold both `struct page` pages and raw PFNs (`vm_insert_page`).
    pub const MIXEDMAP: VmFlags = bindings::VM_MIXEDMAP as VmFlags;
}

/// A VMA seen with the mmap lock or the VMA lock held for reading (or
/// more).
///
/// # Invariants
///
/// The area is valid and the caller holds its mmap or VMA read lock (or
/// stronger) for as long as the reference lives.
#[repr(transparent)]
pub struct VmaRef {
    vma: Opaque<bindings::vm_area_struct>,
}

impl VmaRef {
    /// Borrows an area.
    ///
    /// # Safety
    ///
    /// `vma` must be valid, and its mmap or VMA read lock (or stronger)
    /// held, for all of `'a`.
    pub unsafe fn from_raw<'a>(vma: *const bindings::vm_area_struct) -> &'a Self {
        // SAFETY: `repr(transparent)`; the rest is the caller's promise.
        unsafe { &*vma.cast() }
    }

    /// The raw area.
    pub fn as_ptr(&self) -> *mut bindings::vm_area_struct {
        self.vma.get()
    }

    /// `vm_flags`: a combination of [`flags`].
    pub fn flags(&self) -> VmFlags {
        // SAFETY: Valid, and the lock held (type invariant) keeps writers of
        // the flags out.
        unsafe { bindings::vma_flags(self.as_ptr()) }
    }

    /// First address of the area.
    pub fn start(&self) -> usize {
        // SAFETY: As in `flags`.
        unsafe { (*self.as_ptr()).__bindgen_anon_1.__bindgen_anon_1.vm_start as usize }
    }

    /// One past the last address of the area.
    pub fn end(&self) -> usize {
        // SAFETY: As in `flags`.
        unsafe { (*self.as_ptr()).__bindgen_anon_1.__bindgen_anon_1.vm_end as usize }
    }

    /// The area as a [`VmaMixedMap`] if `VM_MIXEDMAP` is set.
    pub fn as_mixedmap_vma(&self) -> Option<&VmaMixedMap> {
        if self.flags() & flags::MIXEDMAP != 0 {
            // SAFETY: `VM_MIXEDMAP` is set; the rest is our own invariant.
            Some(unsafe { VmaMixedMap::from_raw(self.as_ptr()) })
        } else {
            None
        }
    }
}

/// A [`VmaRef`] with `VM_MIXEDMAP` set.
///
/// # Invariants
///
/// Those of [`VmaRef`], and `VM_MIXEDMAP` is set (so never `VM_PFNMAP`).
#[repr(transparent)]
pub struct VmaMixedMap {
    vma: VmaRef,
}

impl Deref for VmaMixedMap {
    type Target = VmaRef;

    fn deref(&self) -> &VmaRef {
        &self.vma
    }
}

impl VmaMixedMap {
    /// Borrows an area.
    ///
    /// # Safety
    ///
    /// As for [`VmaRef::from_raw`], and `VM_MIXEDMAP` must be set.
    pub unsafe fn from_raw<'a>(vma: *const bindings::vm_area_struct) -> &'a Self {
        // SAFETY: `repr(transparent)`; the rest is the caller's promise.
        unsafe { &*vma.cast() }
    }

    /// Maps `page` at `address` of the area (`vm_insert_page`). The page
    /// table takes a reference of its own on the page, so the page stays
    /// allocated for as long as it is mapped, whatever becomes of `page`
    /// (the mapping is torn down at `munmap`, or when the process exits).
    ///
    /// `EFAULT` if `address` is outside the area, `EBUSY` if something is
    /// mapped there already, `ENOMEM` if a page table cannot be allocated.
    pub fn vm_insert_page(&self, address: usize, page: &Page) -> Result {
        // SAFETY: The area is valid and read-locked with `VM_MIXEDMAP` set
        // (type invariant), which is what `vm_insert_page` needs of it (it
        // checks the address itself). `page` is a live order-0 page owned
        // by a `Page`, so neither anonymous nor slab memory nor typed, and
        // has a nonzero count; the mapping takes its own reference.
        to_result(unsafe { bindings::vm_insert_page(self.as_ptr(), address as _, page.as_ptr()) })
    }
}

/// The area an `f_op->mmap` handler is setting up.
///
/// # Invariants
///
/// For the reference's lifetime, the area is the one of an `->mmap` call in
/// progress: the mmap lock is held for writing and no other thread can see
/// the area yet. `!Sync` (through `Opaque`), so the flags are changed by
/// one thread.
#[repr(transparent)]
pub struct VmaNew {
    vma: VmaRef,
}

impl Deref for VmaNew {
    type Target = VmaRef;

    fn deref(&self) -> &VmaRef {
        &self.vma
    }
}

impl VmaNew {
    /// Borrows the area `->mmap` was given.
    ///
    /// # Safety
    ///
    /// `vma` must be the area of an `->mmap` call in progress, and `'a`
    /// must end with that call.
    pub unsafe fn from_raw<'a>(vma: *mut bindings::vm_area_struct) -> &'a Self {
        // SAFETY: `repr(transparent)`; the rest is the caller's promise.
        unsafe { &*vma.cast() }
    }

    /// Sets and clears flags (`vm_flags_set`, `vm_flags_clear`).
    ///
    /// # Safety
    ///
    /// The resulting flags must be valid for the area: not both
    /// `VM_PFNMAP` and `VM_MIXEDMAP`, no `VM_MAY*` cleared while the
    /// matching access is set.
    unsafe fn update_flags(&self, set: VmFlags, unset: VmFlags) {
        // SAFETY: The mmap lock is held for writing (type invariant), which
        // `vm_flags_set`/`vm_flags_clear` assert; the caller vouches for the
        // result.
        unsafe {
            if set != 0 {
                bindings::vm_flags_set(self.as_ptr(), set);
            }
            if unset != 0 {
                bindings::vm_flags_clear(self.as_ptr(), unset);
            }
        }
    }

    /// Offset in the file, in pages (`vm_pgoff`): what `mmap`'s offset
    /// asked for.
    pub fn pgoff(&self) -> usize {
        // SAFETY: Valid, and the mmap lock is held (type invariant).
        unsafe { (*self.as_ptr()).vm_pgoff as usize }
    }

    /// Sets `VM_MIXEDMAP`, so pages can be inserted.
    pub fn set_mixedmap(&self) -> &VmaMixedMap {
        // SAFETY: Nothing here sets `VM_PFNMAP`, so the two cannot meet.
        unsafe { self.update_flags(flags::MIXEDMAP, 0) };
        // SAFETY: Just set; the mmap lock is held for writing.
        unsafe { VmaMixedMap::from_raw(self.as_ptr()) }
    }

    /// Sets `VM_IO`.
    pub fn set_io(&self) {
        // SAFETY: Always a valid flag to add.
        unsafe { self.update_flags(flags::IO, 0) };
    }

    /// Sets `VM_DONTEXPAND`: `mremap` cannot grow the area (beyond the
    /// pages the driver inserted).
    pub fn set_dontexpand(&self) {
        // SAFETY: Always a valid flag to add.
        unsafe { self.update_flags(flags::DONTEXPAND, 0) };
    }

    /// Sets `VM_DONTCOPY`: a child of `fork` does not get the area.
    pub fn set_dontcopy(&self) {
        // SAFETY: Always a valid flag to add.
        unsafe { self.update_flags(flags::DONTCOPY, 0) };
    }

    /// Sets `VM_DONTDUMP`: the area is left out of core dumps.
    pub fn set_dontdump(&self) {
        // SAFETY: Always a valid flag to add.
        unsafe { self.update_flags(flags::DONTDUMP, 0) };
    }

    /// Whether the area is mapped readable.
    pub fn readable(&self) -> bool {
        self.flags() & flags::READ != 0
    }

    /// Whether the area is mapped writable.
    pub fn writable(&self) -> bool {
        self.flags() & flags::WRITE != 0
    }

    /// Whether the area is mapped executable.
    pub fn executable(&self) -> bool {
        self.flags() & flags::EXEC != 0
    }

    /// Whether the area is shared (`MAP_SHARED`).
    pub fn shared(&self) -> bool {
        self.flags() & flags::SHARED != 0
    }

    /// Clears `VM_MAYREAD` (for good); `EINVAL` if the area is readable.
    pub fn try_clear_mayread(&self) -> Result {
        if self.readable() {
            return Err(EINVAL);
        }
        // SAFETY: `VM_READ` is not set.
        unsafe { self.update_flags(0, flags::MAYREAD) };
        Ok(())
    }

    /// Clears `VM_MAYWRITE` (for good); `EINVAL` if the area is writable.
    pub fn try_clear_maywrite(&self) -> Result {
        if self.writable() {
            return Err(EINVAL);
        }
        // SAFETY: `VM_WRITE` is not set.
        unsafe { self.update_flags(0, flags::MAYWRITE) };
        Ok(())
    }

    /// Clears `VM_MAYEXEC` (for good); `EINVAL` if the area is executable.
    pub fn try_clear_mayexec(&self) -> Result {
        if self.executable() {
            return Err(EINVAL);
        }
        // SAFETY: `VM_EXEC` is not set.
        unsafe { self.update_flags(0, flags::MAYEXEC) };
        Ok(())
    }
}
