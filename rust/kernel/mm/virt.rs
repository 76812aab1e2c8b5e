// SPDX-License-Identifier: GPL-2.0

//! Virtual memory areas: `struct vm_area_struct`.
//!
//! Upstream Rust-for-Linux calls the area an `->mmap` handler gets `VmaNew`;
//! this is the same idea, reduced to what a driver reads before deciding. The
//! page-inserting operations arrive with the mmap receive path.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)

use crate::{bindings, types::Opaque};

/// A VMA being set up by `f_op->mmap`.
///
/// # Invariants
///
/// Points to a `vm_area_struct` that is being mapped: the caller of `->mmap`
/// holds the mmap lock for writing, and the area is not yet visible to others.
#[repr(transparent)]
pub struct VmaNew {
    vma: Opaque<bindings::vm_area_struct>,
}

impl VmaNew {
    /// Borrows the area `->mmap` was given.
    ///
    /// # Safety
    ///
    /// `ptr` must be the `vm_area_struct` of an `->mmap` call in progress, and
    /// the reference must not outlive that call.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::vm_area_struct) -> &'a VmaNew {
        // SAFETY: `repr(transparent)`; validity is the caller's promise.
        unsafe { &*ptr.cast() }
    }

    fn raw(&self) -> *mut bindings::vm_area_struct {
        self.vma.get()
    }

    /// First address of the area.
    pub fn start(&self) -> usize {
        // SAFETY: Valid, and the mmap lock is held (type invariant).
        unsafe { (*self.raw()).__bindgen_anon_1.__bindgen_anon_1.vm_start as usize }
    }

    /// One past the last address of the area.
    pub fn end(&self) -> usize {
        // SAFETY: As above.
        unsafe { (*self.raw()).__bindgen_anon_1.__bindgen_anon_1.vm_end as usize }
    }

    /// Offset in the file, in pages (`vm_pgoff`).
    pub fn pgoff(&self) -> usize {
        // SAFETY: As above.
        unsafe { (*self.raw()).vm_pgoff as usize }
    }

    /// `vm_flags`: `VM_READ`, `VM_WRITE`, `VM_SHARED`, ...
    pub fn flags(&self) -> usize {
        // SAFETY: As above.
        unsafe { bindings::vma_flags(self.raw()) as usize }
    }
}
