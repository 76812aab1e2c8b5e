// SPDX-License-Identifier: GPL-2.0

//! Memory management: what `->mmap` of kernel pages needs: the area
//! ([`virt`]), pages shared with user space ([`shared_pages`]) and the
//! `RLIMIT_MEMLOCK` charge for them ([`locked_vm`]).
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)

pub mod locked_vm;
pub mod shared_pages;
pub mod virt;
