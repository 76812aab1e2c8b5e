// SPDX-License-Identifier: GPL-2.0

//! Memory management: only what `->mmap` needs so far.

pub mod virt;
