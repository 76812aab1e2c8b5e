// SPDX-License-Identifier: GPL-2.0

//! Files: `struct file`.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use crate::{
    bindings,
    cred::Credential,
    error::{code::EBADF, Result},
    types::Opaque,
};
use core::ptr::NonNull;

/// Flags of a file, as `open(2)` and `fcntl(F_SETFL)` set them (`f_flags`),
/// with upstream's names.
pub mod flags {
    /// File is opened in append mode.
    pub const O_APPEND: u32 = crate::bindings::O_APPEND;
    /// Signal-driven I/O is enabled (`FASYNC` in C).
    pub const O_ASYNC: u32 = crate::bindings::FASYNC;
    /// Close-on-exec.
    pub const O_CLOEXEC: u32 = crate::bindings::O_CLOEXEC;
    /// Create the file if it does not exist.
    pub const O_CREAT: u32 = crate::bindings::O_CREAT;
    /// Direct I/O.
    pub const O_DIRECT: u32 = crate::bindings::O_DIRECT;
    /// Must be a directory.
    pub const O_DIRECTORY: u32 = crate::bindings::O_DIRECTORY;
    /// Synchronous data integrity writes.
    pub const O_DSYNC: u32 = crate::bindings::O_DSYNC;
    /// With `O_CREAT`: fail if the file exists.
    pub const O_EXCL: u32 = crate::bindings::O_EXCL;
    /// Large file.
    pub const O_LARGEFILE: u32 = crate::bindings::O_LARGEFILE;
    /// Do not update the access time.
    pub const O_NOATIME: u32 = crate::bindings::O_NOATIME;
    /// Do not make it the controlling terminal.
    pub const O_NOCTTY: u32 = crate::bindings::O_NOCTTY;
    /// Do not follow a final symbolic link.
    pub const O_NOFOLLOW: u32 = crate::bindings::O_NOFOLLOW;
    /// File is opened in non-blocking mode.
    pub const O_NONBLOCK: u32 = crate::bindings::O_NONBLOCK;
    /// Same as `O_NONBLOCK`.
    pub const O_NDELAY: u32 = crate::bindings::O_NDELAY;
    /// A path, not an open file.
    pub const O_PATH: u32 = crate::bindings::O_PATH;
    /// Synchronous writes.
    pub const O_SYNC: u32 = crate::bindings::O_SYNC;
    /// An unnamed temporary file.
    pub const O_TMPFILE: u32 = crate::bindings::O_TMPFILE;
    /// Truncate on open.
    pub const O_TRUNC: u32 = crate::bindings::O_TRUNC;
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
/// Borrowed from a file operation's arguments (the VFS keeps the file alive
/// for the duration of the call), or through a [`FileRef`] (a reference
/// from [`File::fget`], dropped with `fput`).
///
/// # Invariants
///
/// A `&File` points to a `struct file` that stays alive for the lifetime of
/// the reference: its count is non-zero, except for the `&File` a
/// `->release` gets, whose file is freed only after the call.
#[repr(transparent)]
pub struct File {
    inner: Opaque<bindings::file>,
}

// SAFETY: The methods below only read fields that are safe to read from any
// thread (`f_flags` with a volatile read, the immutable `f_cred`).
unsafe impl Sync for File {}
// SAFETY: A `struct file` is not tied to the thread that opened it.
unsafe impl Send for File {}

/// An owned reference to a `struct file`: what `fget` returns and `fput`
/// drops.
///
/// Upstream has `ARef<File>` (`File: AlwaysRefCounted`), which lets any
/// `&File` be turned into an owned reference. That is unsound for the
/// `&File` a `->release` gets: its count is already zero, and a reference
/// taken then would `__fput` the file a second time. So a `&File` cannot be
/// upgraded here; owned references come from [`File::fget`] (and cloning
/// one).
///
/// # Invariants
///
/// `ptr` is a file on which this value owns one reference.
pub struct FileRef {
    ptr: NonNull<bindings::file>,
}

// SAFETY: A file reference may be dropped (`fput`) on any thread and in any
// context (the final put is deferred from interrupts).
unsafe impl Send for FileRef {}
// SAFETY: Shared access only reads through `&File`, which is `Sync`.
unsafe impl Sync for FileRef {}

impl core::ops::Deref for FileRef {
    type Target = File;

    fn deref(&self) -> &File {
        // SAFETY: We own a reference (type invariant), so the file is alive
        // for as long as `self`.
        unsafe { File::from_raw_file(self.ptr.as_ptr()) }
    }
}

impl Clone for FileRef {
    fn clone(&self) -> Self {
        // SAFETY: Our reference keeps the count above zero.
        unsafe { bindings::get_file(self.ptr.as_ptr()) };
        // INVARIANT: The reference just taken.
        Self { ptr: self.ptr }
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: Gives up the reference we own; `fput` may be called in any
        // context.
        unsafe { bindings::fput(self.ptr.as_ptr()) };
    }
}

impl File {
    /// `fget(fd)`: the file open on the calling process's descriptor `fd`,
    /// referenced; `EBADF` if there is none (or it is an `O_PATH` one, or
    /// the caller has no descriptor table: an interrupt, or a task exiting).
    pub fn fget(fd: u32) -> Result<FileRef> {
        // SAFETY: The helper checks that the current task has a descriptor
        // table, then takes a reference on the descriptor's file, or
        // returns null.
        let ptr = NonNull::new(unsafe { bindings::fget_checked(fd) }).ok_or(EBADF)?;
        // INVARIANT: We own the reference `fget` took.
        Ok(FileRef { ptr })
    }

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

    /// `f_flags`: `O_NONBLOCK`, `O_APPEND`, `O_ASYNC`, the access mode...
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

    /// `file_can_poll()`: whether the file has a `->poll` (epoll refuses
    /// files without one with `EPERM`).
    pub fn can_poll(&self) -> bool {
        // SAFETY: The file is alive (type invariant); `f_op` does not change
        // once the file is open.
        unsafe { (*(*self.as_ptr()).f_op).poll.is_some() }
    }

    /// Whether the file is an epoll instance, whose `->poll` polls other
    /// files in turn (`is_file_epoll`).
    pub fn is_epoll(&self) -> bool {
        // SAFETY: The file is alive (type invariant); its dentry and name
        // are stable while it is.
        unsafe { bindings::file_is_epoll(self.as_ptr()) }
    }

    /// Whether the file can hold references to other files: an io_uring
    /// (registered files) or an `AF_UNIX` socket (descriptors in flight).
    /// Something that holds a reference to it can then be part of a
    /// reference cycle the kernel's garbage collection of those cannot see.
    pub fn can_hold_files(&self) -> bool {
        // SAFETY: The file is alive (type invariant).
        unsafe { bindings::file_holds_files(self.as_ptr()) }
    }

    /// The credentials of whoever opened the file (`f_cred`).
    pub fn cred(&self) -> &Credential {
        // SAFETY: `f_cred` is set at open and never changes; the file holds a
        // reference to it for as long as the file lives, so as long as `self`.
        unsafe { Credential::from_ptr((*self.as_ptr()).f_cred) }
    }
}
