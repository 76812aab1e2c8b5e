// SPDX-License-Identifier: GPL-2.0

//! Memory management: only what `->mmap` needs so far.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)

pub mod virt;
