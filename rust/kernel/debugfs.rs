// SPDX-License-Identifier: GPL-2.0

//! debugfs: read-only files whose content a callback formats
//! (`debugfs_create_file` + `single_open` / `seq_file`).
//!
//! Upstream Rust-for-Linux got a debugfs API in 6.17; this is a small one in
//! the same spirit. A [`Dir`] owns its files' data: dropping it removes the
//! directory recursively (`debugfs_remove`, which waits until no file
//! operation is running on any file in it) and only then releases the data,
//! so a `show` callback never sees freed memory and never runs after unload.
//!
//! `debugfs_remove` waits for file operations in progress, not for open
//! files: a file opened before `rmmod` is closed after it, and the close
//! runs `release` through the file's `file_operations`, which live in the
//! module. So the table names its module as `owner` ([`Show::OWNER`]): each
//! open file holds a module reference, and `rmmod` fails with `EAGAIN`
//! until the last one is closed, as for the module's device node.
//!
//! C header: [`include/linux/debugfs.h`](srctree/include/linux/debugfs.h)

use crate::{
    alloc::{flags::GFP_KERNEL, KVec},
    bindings,
    error::{from_err_ptr, Result},
    str::CStr,
    sync::Arc,
    types::Opaque,
    ThisModule,
};
use core::{any::Any, fmt};

/// The content of a debugfs file, produced on each read.
pub trait Show: Send + Sync + 'static {
    /// The module whose code `show` is: the files' `file_operations.owner`.
    /// Drivers write `const OWNER: &'static ThisModule = &THIS_MODULE;`.
    const OWNER: &'static ThisModule;

    /// Writes the file's whole content to `m`.
    fn show(&self, m: &mut SeqFile) -> fmt::Result;
}

/// The `seq_file` a [`Show::show`] writes to; use `write!`/`writeln!`.
///
/// # Invariants
///
/// Wraps a `seq_file` being filled by a `single_open` show callback.
#[repr(transparent)]
pub struct SeqFile(Opaque<bindings::seq_file>);

impl fmt::Write for SeqFile {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: Valid `seq_file` (type invariant); `s` is valid for reads.
        // `seq_write` returns -1 on overflow, and `seq_read` then retries the
        // whole show with a larger buffer, so the error is not ours to report.
        unsafe { bindings::seq_write(self.0.get(), s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// A debugfs directory and the data of the files in it.
///
/// # Invariants
///
/// `dentry` is a directory created by `debugfs_create_dir` (or an error
/// pointer if debugfs is unavailable, which the debugfs functions accept and
/// ignore); it is removed before `data` is dropped.
pub struct Dir {
    dentry: *mut bindings::dentry,
    data: KVec<Arc<dyn Any + Send + Sync>>,
}

// SAFETY: debugfs functions may be called from any thread.
unsafe impl Send for Dir {}
// SAFETY: No `&self` method mutates anything.
unsafe impl Sync for Dir {}

impl Dir {
    /// `debugfs_create_dir(name, NULL)`: a directory at the debugfs root.
    pub fn new(name: &CStr) -> Result<Self> {
        // SAFETY: `name` is a valid C string; a NULL parent means the root.
        let dentry = unsafe { bindings::debugfs_create_dir(name.as_char_ptr(), core::ptr::null_mut()) };
        // Without debugfs (not mounted, or disabled) the kernel returns an
        // error pointer, and the driver is expected to carry on: keep it.
        // INVARIANT: A directory or an error pointer.
        Ok(Self { dentry, data: KVec::new() })
    }

    /// Adds a read-only file `name` whose content `data.show()` produces.
    pub fn add_file<T: Show>(&mut self, name: &CStr, data: Arc<T>) -> Result {
        let raw = (&*data as *const T).cast_mut().cast();
        // Keep the data alive for as long as the directory, before the file
        // can be opened.
        let keep: Arc<dyn Any + Send + Sync> = data;
        self.data.push(keep, GFP_KERNEL)?;
        // SAFETY: `name` is a valid C string; `self.dentry` is a directory or
        // an error pointer; `raw` stays valid until the directory is removed
        // (it is in `self.data`); the table is `'static`.
        let f = unsafe {
            bindings::debugfs_create_file(
                name.as_char_ptr(),
                0o444,
                self.dentry,
                raw,
                ShowVTable::<T>::build(),
            )
        };
        // An error pointer only means no debugfs: the file is optional.
        let _ = from_err_ptr(f);
        Ok(())
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // Only after this is `data` dropped (with the fields), so no `show`
        // can run on freed data.
        // SAFETY: `dentry` came from `debugfs_create_dir` (type invariant);
        // `debugfs_remove` accepts error pointers and waits for running file
        // operations on the files it removes.
        unsafe { bindings::debugfs_remove(self.dentry) };
    }
}

struct ShowVTable<T>(core::marker::PhantomData<T>);

impl<T: Show> ShowVTable<T> {
    /// # Safety
    ///
    /// Called by `seq_read` through `single_open` with `m->private` set to
    /// the `Arc<T>` pointer `add_file` registered, which is alive.
    unsafe extern "C" fn show(m: *mut bindings::seq_file, _v: *mut crate::ffi::c_void) -> i32 {
        // SAFETY: `private` is the `T` pointer of a live `Arc` (see `open`).
        let data = unsafe { &*(*m).private.cast::<T>() };
        // SAFETY: `m` is the `seq_file` being filled; `SeqFile` is
        // `repr(transparent)` over it.
        let seq = unsafe { &mut *m.cast::<SeqFile>() };
        let _ = data.show(seq);
        0
    }

    /// # Safety
    ///
    /// `f_op->open` of a file created by `add_file`: `i_private` is the data.
    unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> i32 {
        // SAFETY: Valid inode and file of an open in progress; `i_private`
        // was set by `debugfs_create_file`.
        unsafe { bindings::single_open(file, Some(Self::show), (*inode).i_private) }
    }

    const VTABLE: bindings::file_operations = bindings::file_operations {
        // debugfs' proxy takes a reference on it at open (`fops_get`) and
        // drops it after `release` (`fops_put`).
        owner: T::OWNER.as_ptr(),
        open: Some(Self::open),
        read: Some(bindings::seq_read),
        llseek: Some(bindings::seq_lseek),
        release: Some(bindings::single_release),
        // SAFETY: All-zeroes is a valid `file_operations`.
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    };

    const fn build() -> &'static bindings::file_operations {
        &Self::VTABLE
    }
}
