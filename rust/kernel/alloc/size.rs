// SPDX-License-Identifier: GPL-2.0

//! What an allocation really takes: `kmalloc_size_roundup()`.
//!
//! `kmalloc(n)` hands out an object of its next size class (or whole pages
//! above the largest class), so memory accounting that charges what was
//! asked for undercounts. Socket buffers charge `truesize`; a driver that
//! charges its users for buffers does the same with this.
//!
//! C header: [`include/linux/slab.h`](srctree/include/linux/slab.h)

use crate::bindings;

/// `kmalloc_size_roundup(size)`: the size `kmalloc(size)` really allocates.
///
/// # Examples
///
/// ```
/// use kernel::alloc::kmalloc_size_roundup;
///
/// assert_eq!(kmalloc_size_roundup(9), 16);
/// assert_eq!(kmalloc_size_roundup(100), 128);
/// assert_eq!(kmalloc_size_roundup(8193), 16384); // whole pages, a power of two
/// ```
pub fn kmalloc_size_roundup(size: usize) -> usize {
    // SAFETY: A pure function of its argument.
    unsafe { bindings::kmalloc_size_roundup(size) }
}
