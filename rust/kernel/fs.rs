// SPDX-License-Identifier: GPL-2.0

//! Kernel file systems: the pieces of `include/linux/fs.h` a character device
//! driver needs.
//!
//! Shape follows upstream Rust-for-Linux (`kernel::fs::File`,
//! `kernel::fs::Kiocb`), so a later kernel lets these files go.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h)

pub mod aio;
pub mod fasync;
pub mod file;
pub mod kiocb;

pub use self::file::{File, FileRef};
pub use self::kiocb::Kiocb;
