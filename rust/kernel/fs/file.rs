// SPDX-License-Identifier: GPL-2.0

//! Files: `struct file`.

use crate::{bindings, cred::Credential, types::Opaque};

/// Flags of a file, as `open(2)` and `fcntl(F_SETFL)` set them (`f_flags`).
pub mod flags {
    /// File is opened in non-blocking mode.
    pub const O_NONBLOCK: u32 = crate::bindings::O_NONBLOCK;
    /// File is opened in append mode.
    pub const O_APPEND: u32 = crate::bindings::O_APPEND;
    /// Signal-driven I/O is enabled (`fcntl(F_SETFL, O_ASYNC)`).
    pub const FASYNC: u32 = crate::bindings::FASYNC;
    /// Mask for the access mode.
    pub const O_ACCMODE: u32 = crate::bindings::O_ACCMODE;
    /// Read-only access.
    pub const O_RDONLY: u32 = crate::bindings::O_RDONLY;
    /// Write-only access.
    pub const O_WRONLY: u32 = crate::bindings::O_WRONLY;
    /// Read-write access.
    pub const O_RDWR: u32 = crate::bindings::O_RDWR;
}

/// An open file: `struct file`.
///
/// Only ever handled by reference, borrowed from a file operation's
/// arguments; the VFS keeps the file alive for the duration of the call.
///
/// # Invariants
///
/// A `&File` points to a `struct file` whose reference count is non-zero for
/// the lifetime of the reference.
#[repr(transparent)]
pub struct File {
    inner: Opaque<bindings::file>,
}

// SAFETY: The methods below only read fields that are safe to read from any
// thread (`f_flags` with a volatile read, the immutable `f_cred`).
unsafe impl Sync for File {}
// SAFETY: A `struct file` is not tied to the thread that opened it.
unsafe impl Send for File {}

impl File {
    /// Borrows a `struct file`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a file that stays alive (non-zero refcount) for `'a`.
    pub unsafe fn from_raw_file<'a>(ptr: *const bindings::file) -> &'a File {
        // SAFETY: `File` is `repr(transparent)` over `Opaque<file>`, and the
        // caller guarantees the file outlives `'a`.
        unsafe { &*ptr.cast() }
    }

    /// The raw `struct file`.
    pub fn as_ptr(&self) -> *mut bindings::file {
        self.inner.get()
    }

    /// `f_flags`: `O_NONBLOCK`, `O_APPEND`, `FASYNC`, the access mode...
    ///
    /// `fcntl(F_SETFL)` may change them at any time, so this is a snapshot.
    pub fn flags(&self) -> u32 {
        // SAFETY: The file is alive (type invariant). `f_flags` changes under
        // `f_lock` concurrently with us; a volatile read is `READ_ONCE()`.
        unsafe { core::ptr::addr_of!((*self.as_ptr()).f_flags).read_volatile() }
    }

    /// Whether the file was opened (or set) with `O_NONBLOCK`.
    pub fn is_nonblocking(&self) -> bool {
        self.flags() & flags::O_NONBLOCK != 0
    }

    /// The credentials of whoever opened the file (`f_cred`).
    pub fn cred(&self) -> &Credential {
        // SAFETY: `f_cred` is set at open and never changes; the file holds a
        // reference to it for as long as the file lives, so as long as `self`.
        unsafe { Credential::from_ptr((*self.as_ptr()).f_cred) }
    }
}
