// SPDX-License-Identifier: GPL-2.0

//! Miscellaneous devices: `misc_register()` and the file operations of the
//! node it creates (`include/linux/miscdevice.h`).
//!
//! Shape follows upstream Rust-for-Linux `kernel::miscdevice`
//! ([`MiscDeviceRegistration`], [`MiscDevice`], [`MiscDeviceOptions`]), plus
//! what upstream lacks: `poll`, `fasync`, `owner` (so an open file pins the
//! module) and the open-time file mode bits (`stream_open`, `FMODE_NOWAIT`).
//!
//! What the shims guarantee whatever the driver does (safe code can neither
//! corrupt the kernel nor fake its internal protocols through them):
//! - registrations that point at the file (`fasync`) are made and undone by
//!   the shims, on a queue recorded per file, so none survives the file;
//! - kernel-internal return codes (`-EIOCBQUEUED`, which `new_sync_read`
//!   `BUG()`s on and AIO/io_uring take as "completion comes later";
//!   `-ERESTART_RESTARTBLOCK` without a restart block; ...) and byte counts
//!   larger than the request become `-EIO` ([`rw_return`], [`ioctl_return`]);
//! - `POLLFREE`, which tells epoll that a wait queue is being freed, is
//!   stripped from what `poll` returns.
//!
//! C headers: [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h)

use crate::{
    alloc::{flags::GFP_KERNEL, KBox},
    bindings, build_error,
    error::{code::EINVAL, to_result, Error, Result, VTABLE_DEFAULT_ERROR},
    ffi::{c_int, c_long, c_uint, c_ulong, c_void},
    fs::{aio::Submitted, fasync::FasyncQueue, File, Kiocb},
    init::{pin_init_from_closure, PinInit},
    iov::{IovIterDest, IovIterSource},
    mm::virt::VmaNew,
    prelude::*,
    str::CStr,
    sync::poll::{PollMask, PollTable},
    types::{ForeignOwnable, Opaque},
    ThisModule,
};
use core::{
    marker::PhantomData,
    pin::Pin,
    sync::atomic::{AtomicPtr, Ordering},
};

/// What to register a misc device with.
#[derive(Copy, Clone)]
pub struct MiscDeviceOptions {
    /// The node's name: `/dev/<name>`.
    pub name: &'static CStr,
    /// The node's permission bits as devtmpfs creates it (`0o600` when zero,
    /// the kernel's default).
    pub mode: u16,
}

impl MiscDeviceOptions {
    /// The `struct miscdevice` to register, using `T`'s file operations.
    pub const fn into_raw<T: MiscDevice>(self) -> bindings::miscdevice {
        // SAFETY: All-zeroes is a valid `miscdevice` (null pointers, empty list).
        let mut result: bindings::miscdevice = unsafe { core::mem::zeroed() };
        result.minor = bindings::MISC_DYNAMIC_MINOR as _;
        result.name = self.name.as_char_ptr();
        result.fops = MiscdeviceVTable::<T>::build();
        result.mode = self.mode;
        result
    }
}

/// A registered misc device; dropping it calls `misc_deregister()`.
///
/// Files already open keep working after that: their file operations are a
/// `'static` table whose `owner` holds the module, and their private data is
/// theirs.
///
/// It also holds the driver's per-device data (`T::Data`), which `open` can
/// reach through [`Self::data`] (the shape of the "additional data" series
/// proposed for upstream: `type Data`, `register(opts, data)`, `data()`).
///
/// # Invariants
///
/// `inner` is a registered `miscdevice` for as long as `self` lives; `data`
/// is initialised (and pinned) before registration.
#[pin_data(PinnedDrop)]
pub struct MiscDeviceRegistration<T: MiscDevice> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    #[pin]
    data: T::Data,
    _t: PhantomData<T>,
}

// SAFETY: `misc_deregister` may run on any thread; the data is `Send`.
unsafe impl<T: MiscDevice> Send for MiscDeviceRegistration<T> {}
// SAFETY: No `&self` method touches the `miscdevice` mutably; the data is
// `Sync`.
unsafe impl<T: MiscDevice> Sync for MiscDeviceRegistration<T> {}

impl<T: MiscDevice> MiscDeviceRegistration<T> {
    /// Registers the device (`misc_register()`) with the driver's data.
    pub fn register(opts: MiscDeviceOptions, data: impl PinInit<T::Data, Error>) -> impl PinInit<Self, Error> {
        let init = move |slot: *mut Self| {
            // SAFETY: `slot` is valid for writes and pinned (closure
            // contract); the data goes in before the device becomes visible
            // to `open`. On failure nothing was initialised.
            unsafe { data.__pinned_init(core::ptr::addr_of_mut!((*slot).data))? };
            // SAFETY: `slot` is valid for writes (closure contract); no
            // reference to the uninitialised memory is created.
            let raw = Opaque::raw_get(unsafe { core::ptr::addr_of!((*slot).inner) });
            // SAFETY: `raw` is valid for writes; pinned from here on.
            unsafe { raw.write(opts.into_raw::<T>()) };
            // SAFETY: `raw` holds a complete `miscdevice` that will not move
            // and is deregistered in `drop`.
            let ret = to_result(unsafe { bindings::misc_register(raw) });
            if ret.is_err() {
                // SAFETY: Written above; on failure the slot is not used again.
                unsafe { core::ptr::drop_in_place(core::ptr::addr_of_mut!((*slot).data)) };
            }
            ret
        };
        // SAFETY: `init` initialises every field on success (`_t` is a ZST)
        // and leaves nothing registered on failure.
        unsafe { pin_init_from_closure(init) }
    }

    /// The driver's data given to [`Self::register`].
    pub fn data(&self) -> &T::Data {
        &self.data
    }

    /// The file operations this registration installed in its files.
    pub fn file_ops(&self) -> MiscFileOps<T> {
        // SAFETY: Registered (type invariant): `fops` was written before
        // `misc_register` and never changes.
        let ops = unsafe { (*self.inner.get()).fops };
        // INVARIANT: The table `misc_open` installs for this device.
        MiscFileOps { ops, _t: PhantomData }
    }

    /// The minor number the kernel picked.
    pub fn minor(&self) -> i32 {
        // SAFETY: Registered (type invariant); `minor` is written once by
        // `misc_register` before it returns.
        unsafe { (*self.inner.get()).minor }
    }
}

#[pinned_drop]
impl<T: MiscDevice> PinnedDrop for MiscDeviceRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered (type invariant), so deregistering once is valid.
        unsafe { bindings::misc_deregister(self.inner.get()) };
    }
}

/// The file operations of a misc device.
///
/// One value of `Self::Ptr` per open file is the file's private data. The
/// borrowed form passed to the other operations lives as long as the file's
/// private data (until `release`), which [`PollTable`] relies on.
#[vtable]
pub trait MiscDevice: Sized {
    /// What `open` returns and `release` gets back: `Arc<Self>`, `KBox<Self>`...
    type Ptr: ForeignOwnable + Send + Sync;

    /// Data of the device as a whole, kept (pinned) in the registration
    /// (`()` if none).
    type Data: Send + Sync;

    /// The module whose code these operations are: `file_operations.owner`.
    /// An open file holds a reference on it, so `rmmod` cannot unload the code
    /// under an open file. Drivers write `const OWNER: &'static ThisModule =
    /// &THIS_MODULE;`.
    const OWNER: &'static ThisModule;

    /// The device is a stream (`stream_open()`): no file position, `lseek`
    /// and `pread`/`pwrite` fail with `ESPIPE`, reads and writes need not be
    /// serialised on `f_pos`.
    const STREAM: bool = false;

    /// Reads and writes honour `IOCB_NOWAIT` (`FMODE_NOWAIT`), so
    /// `preadv2(RWF_NOWAIT)` and io_uring's inline attempts reach the driver
    /// instead of failing with `EOPNOTSUPP`.
    const NOWAIT: bool = false;

    /// `open`: called for every `open()` of the node.
    fn open(file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr>;

    /// `release`: the last reference to the open file is gone.
    fn release(device: Self::Ptr, _file: &File) {
        drop(device);
    }

    /// `read_iter`: `read`, `readv`, `preadv2`, AIO and io_uring reads.
    fn read_iter(_kiocb: Kiocb<'_, Self::Ptr>, _iov: &mut IovIterDest<'_>) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `read_iter` for a driver that can complete a read later: instead of
    /// [`Self::read_iter`] (a driver implements one of the two). Returns
    /// [`Submitted::Done`] with the bytes read now, or
    /// [`Submitted::Queued`] with the token [`Kiocb::queue`] gave when it
    /// took the kiocb (only AIO kiocbs can be queued: [`Kiocb::can_queue`]).
    /// Once the kiocb was queued, the request is the [`AsyncKiocb`]'s to
    /// complete, and the VFS is told `-EIOCBQUEUED` whatever this returns.
    ///
    /// [`AsyncKiocb`]: crate::fs::aio::AsyncKiocb
    fn read_iter_async<'a>(_kiocb: Kiocb<'a, Self::Ptr>, _iov: &mut IovIterDest<'_>) -> Result<Submitted<'a>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `write_iter`: `write`, `writev`, `pwritev2`, AIO and io_uring writes.
    fn write_iter(_kiocb: Kiocb<'_, Self::Ptr>, _iov: &mut IovIterSource<'_>) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `poll`: select, poll, epoll, aio and io_uring poll. Register wait
    /// queues with `table` and return the events ready now.
    fn poll<'a>(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'a>,
        _file: &'a File,
        _table: &mut PollTable<'a>,
    ) -> PollMask {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `fasync`: user space turned signal-driven I/O on for this file
    /// (`fcntl(F_SETFL, O_ASYNC)`, `ioctl(FIOASYNC)`). Returns the queue the
    /// file goes on; the driver signals it with [`FasyncQueue::kill`] when
    /// the file becomes readable or writable. An error refuses `O_ASYNC`.
    ///
    /// The file operations add the file to the queue, and take it off when
    /// `O_ASYNC` is turned off or the file is closed, without calling the
    /// driver. A file stays with the queue returned the first time: a later
    /// call returning another one fails `O_ASYNC` with `EINVAL`. The queue
    /// lives as long as the private data (`'a`), hence beyond the file's
    /// `release`, by which time the file has left it.
    fn fasync<'a>(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'a>,
        _file: &'a File,
    ) -> Result<&'a FasyncQueue> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `unlocked_ioctl`.
    fn ioctl(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `compat_ioctl`: an ioctl from a 32-bit process on a 64-bit kernel.
    ///
    /// Without it, the file operations use `compat_ptr_ioctl` (the argument
    /// converted to a 64-bit pointer, then [`Self::ioctl`]), which is right
    /// for commands whose argument structs have the same layout for both:
    /// fixed-size fields, pointers carried as `u64`.
    fn compat_ioctl(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `mmap`.
    fn mmap(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _vma: &VmaNew,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// The errno a failed file operation returns, with the kernel-internal codes
/// (512 and up) that only the kernel may produce turned into `-EIO`.
///
/// Kept: `ERESTARTSYS`, `ERESTARTNOINTR` and `ERESTARTNOHAND`, which a wait
/// interrupted by a signal returns and the signal code turns into `EINTR` or
/// a restart, and (for ioctls only) `ENOIOCTLCMD`, which the VFS turns into
/// `ENOTTY`. Anything else there would be a lie to a kernel protocol:
/// `EIOCBQUEUED` promises an asynchronous completion that never comes,
/// `ERESTART_RESTARTBLOCK` makes the syscall restart through whatever
/// `restart_block` the task last set up.
fn errno_for_vfs(e: Error, ioctl: bool) -> c_int {
    let errno = e.to_errno();
    let internal = -errno >= bindings::ERESTARTSYS as c_int;
    let allowed = matches!(
        -errno as u32,
        bindings::ERESTARTSYS | bindings::ERESTARTNOINTR | bindings::ERESTARTNOHAND
    ) || (ioctl && -errno == bindings::ENOIOCTLCMD as c_int);
    if internal && !allowed { -(bindings::EIO as c_int) } else { errno }
}

/// What a `read_iter` or `write_iter` shim returns to the VFS for the
/// driver's result `r` on a request of `count` bytes: the byte count, or a
/// negative errno. A count larger than the request (which callers such as
/// `new_sync_read` and io_uring trust) and the kernel-internal errnos become
/// `-EIO`.
///
/// # Examples
///
/// ```
/// use kernel::{error::code::*, miscdevice::rw_return, prelude::*};
///
/// assert_eq!(rw_return(Ok(3), 4), 3);
/// assert_eq!(rw_return(Err(EAGAIN), 4), -11);
/// // A driver cannot claim more than was asked...
/// assert_eq!(rw_return(Ok(5), 4), -5);
/// assert_eq!(rw_return(Ok(usize::MAX), 4), -5);
/// // ...nor pretend to have queued an asynchronous completion.
/// assert_eq!(rw_return(Err(Error::from_errno(-529)), 4), -5); // EIOCBQUEUED
/// assert_eq!(rw_return(Err(Error::from_errno(-516)), 4), -5); // ERESTART_RESTARTBLOCK
/// // A signal during a wait restarts or interrupts the call, as in C.
/// assert_eq!(rw_return(Err(ERESTARTSYS), 4), -512);
/// ```
pub fn rw_return(r: Result<usize>, count: usize) -> isize {
    match r {
        Ok(n) if n <= count && n <= isize::MAX as usize => n as isize,
        Ok(_) => -(bindings::EIO as isize),
        Err(e) => errno_for_vfs(e, false) as isize,
    }
}

/// What an `unlocked_ioctl` or `compat_ioctl` shim returns for the driver's
/// result: the value, or a negative errno. A negative `Ok` value (which
/// user space would read as an errno), for a 32-bit caller one above
/// `i32::MAX` (which it would read the same way), and the kernel-internal
/// errnos other than `ENOIOCTLCMD` become `-EIO`.
///
/// # Examples
///
/// ```
/// use kernel::{error::code::*, miscdevice::ioctl_return, prelude::*};
///
/// assert_eq!(ioctl_return(Ok(7)), 7);
/// assert_eq!(ioctl_return(Err(ENOTTY)), -25);
/// assert_eq!(ioctl_return(Ok(-22)), -5);
/// assert_eq!(ioctl_return(Err(Error::from_errno(-515))), -515); // ENOIOCTLCMD: the VFS says ENOTTY
/// assert_eq!(ioctl_return(Err(Error::from_errno(-529))), -5); // EIOCBQUEUED
/// ```
pub fn ioctl_return(r: Result<isize>) -> c_long {
    // SAFETY: Reads the current task's syscall flags; no preconditions.
    let compat = unsafe { bindings::in_compat_syscall() };
    match r {
        // A 32-bit caller's return value is sign-extended from 32 bits by
        // the signal code (`syscall_get_error`): above `i32::MAX` it would
        // read as a kernel-internal errno such as `-ERESTART_RESTARTBLOCK`.
        Ok(n) if n >= 0 && (!compat || n <= i32::MAX as isize) => n as c_long,
        Ok(_) => -(bindings::EIO as c_long),
        Err(e) => errno_for_vfs(e, true) as c_long,
    }
}

/// The file operations a [`MiscDeviceRegistration<T>`] installed: tells
/// the driver's own files apart from others that user space hands it by
/// descriptor (to refuse loops, say), and borrows their private data.
///
/// Only a registration of `T` gives one out, so a file whose `f_op` is this
/// table was opened through `T`'s `open`.
///
/// # Invariants
///
/// `ops` is the `fops` of a `miscdevice` registered with
/// `MiscdeviceVTable::<T>` operations: `misc_open` installs it in the files
/// it opens.
pub struct MiscFileOps<T: MiscDevice> {
    ops: *const bindings::file_operations,
    _t: PhantomData<T>,
}

impl<T: MiscDevice> Clone for MiscFileOps<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: MiscDevice> Copy for MiscFileOps<T> {}

// SAFETY: A pointer to a `'static` table, only compared.
unsafe impl<T: MiscDevice> Send for MiscFileOps<T> {}
// SAFETY: As above.
unsafe impl<T: MiscDevice> Sync for MiscFileOps<T> {}

impl<T: MiscDevice> MiscFileOps<T> {
    /// The driver's private data of `file`, if it is an open file of this
    /// device.
    pub fn private_data_of<'a>(&self, file: &'a File) -> Option<<T::Ptr as ForeignOwnable>::Borrowed<'a>> {
        // SAFETY: The file is alive (`File` invariant); `f_op` is set before
        // the file is visible to anyone but its opener and not changed after.
        let ops = unsafe { (*file.as_ptr()).f_op };
        if !core::ptr::eq(ops, self.ops) {
            return None;
        }
        // SAFETY: With these operations the file went through `T`'s `open`
        // (type invariant): its `private_data` is a `MiscFile` record, or
        // null while `T::open` runs, after it failed, and from `release` on
        // (`device` gives `None` then). `file` is alive, so `release` cannot
        // run while the borrow lasts.
        unsafe { MiscdeviceVTable::<T>::device(file.as_ptr()) }
    }
}

/// What the file operations keep for one open file, in `private_data`
/// (which is null instead while `T::open` runs, after it failed, and from
/// `release` on).
///
/// # Invariants
///
/// - `data` is what `T::Ptr::into_foreign` returned for the value `open`
///   produced; it is converted back exactly once, in `release`.
/// - `fasync` is null until `O_ASYNC` is first turned on, then the address
///   of the [`FasyncQueue`] the file was put on, never changed again; that
///   queue was borrowed for the private data's lifetime, so it stays valid
///   (and in place) until `release`.
struct MiscFile {
    data: *const c_void,
    fasync: AtomicPtr<FasyncQueue>,
}

/// The C entry points, one set per `T`.
struct MiscdeviceVTable<T: MiscDevice>(PhantomData<T>);

impl<T: MiscDevice> MiscdeviceVTable<T> {
    /// # Safety
    ///
    /// Called by `misc_open` as `f_op->open`, with `private_data` pointing to
    /// the `miscdevice` of a live `MiscDeviceRegistration<T>`.
    unsafe extern "C" fn open(inode: *mut bindings::inode, raw_file: *mut bindings::file) -> c_int {
        // SAFETY: `misc_open` stored the registered `miscdevice` here; it is
        // the `inner` of a `MiscDeviceRegistration<T>`, which stays
        // registered (and alive) while `misc_open` holds `misc_mtx`.
        let misc = unsafe {
            &*crate::container_of!(
                (*raw_file).private_data.cast::<Opaque<bindings::miscdevice>>(),
                MiscDeviceRegistration<T>,
                inner
            )
        };
        if T::STREAM {
            // SAFETY: Valid inode and file of an open in progress.
            unsafe { bindings::stream_open(inode, raw_file) };
        }
        if T::NOWAIT {
            // SAFETY: The file is not yet visible to any other thread while
            // `->open` runs, so this plain update of `f_mode` cannot race.
            unsafe { (*raw_file).f_mode |= bindings::FMODE_NOWAIT };
        }
        // From here `f_op` is ours but there is no record yet: null says so
        // to every shim (`record`), should the driver poll its own file from
        // `open`, or the open fail and leave `f_op` behind.
        // SAFETY: The file is private to this open.
        unsafe { (*raw_file).private_data = core::ptr::null_mut() };
        // Allocated first: once `T::open` succeeded, failing would need a
        // `release` the VFS will not call.
        let rec = match KBox::new(
            MiscFile { data: core::ptr::null(), fasync: AtomicPtr::new(core::ptr::null_mut()) },
            GFP_KERNEL,
        ) {
            Ok(rec) => rec,
            Err(e) => return Error::from(e).to_errno(),
        };
        // SAFETY: The file is alive for the whole call.
        let file = unsafe { File::from_raw_file(raw_file) };
        match T::open(file, misc) {
            Ok(ptr) => {
                let mut rec = rec;
                // INVARIANT: `release` converts it back, once.
                rec.data = ptr.into_foreign();
                // SAFETY: Still our file; `release` takes the record back.
                unsafe { (*raw_file).private_data = KBox::into_raw(rec).cast() };
                0
            }
            Err(e) => errno_for_vfs(e, false),
        }
    }

    /// The record `open` stored in a file's `private_data`: `None` while
    /// `T::open` runs, after it failed, and from `release` on.
    ///
    /// # Safety
    ///
    /// `raw_file` is a live file with this device's operations; the
    /// reference must not outlive the file's `release`.
    unsafe fn record<'a>(raw_file: *mut bindings::file) -> Option<&'a MiscFile> {
        // SAFETY: `open` stores a `KBox<MiscFile>` there (or null), and
        // `release` clears it before freeing the record.
        unsafe { (*raw_file).private_data.cast::<MiscFile>().as_ref() }
    }

    /// The driver's private data of a file, borrowed; `None` as for
    /// [`Self::record`].
    ///
    /// # Safety
    ///
    /// As for [`Self::record`]; `'a` must end before `release`.
    unsafe fn device<'a>(raw_file: *mut bindings::file) -> Option<<T::Ptr as ForeignOwnable>::Borrowed<'a>> {
        // SAFETY: The caller's promise; `data` came from `into_foreign` and
        // is only taken back in `release`, after the record is unlinked.
        unsafe { Self::record(raw_file).map(|r| T::Ptr::borrow(r.data)) }
    }

    /// # Safety
    ///
    /// Called as `f_op->release` of a file whose `open` succeeded.
    unsafe extern "C" fn release(_inode: *mut bindings::inode, raw_file: *mut bindings::file) -> c_int {
        // SAFETY: `open` stored the record; this is the last use of the
        // file, so no borrow of it is outstanding. Unlinked first, so that
        // nothing `T::release` does reaches the record or the data through
        // the file (every shim and `private_data_of` see null).
        let rec = unsafe { core::mem::replace(&mut (*raw_file).private_data, core::ptr::null_mut()) };
        if rec.is_null() {
            return 0;
        }
        // SAFETY: A `KBox<MiscFile>` from `open`, unlinked above.
        let rec = unsafe { KBox::from_raw(rec.cast::<MiscFile>()) };
        // SAFETY: `data` came from `into_foreign` (type invariant) and this
        // is the one place it is converted back.
        let device = unsafe { T::Ptr::from_foreign(rec.data) };
        // SAFETY: The file is alive for the call (its count is zero, which
        // is why `File` has no way to take a reference from a `&File`).
        T::release(device, unsafe { File::from_raw_file(raw_file) });
        0
    }

    /// # Safety
    ///
    /// Called as `f_op->read_iter` with valid arguments for an open file.
    unsafe extern "C" fn read_iter(kiocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
        // SAFETY: The VFS holds a file reference during the call, so
        // `release` has not run.
        let Some(rec) = (unsafe { Self::record((*kiocb).ki_filp) }) else {
            return -(bindings::EBADF as isize);
        };
        let data = rec.data;
        // SAFETY: Valid for the call; `data` is the file's private data,
        // alive for the call (above).
        let kiocb = unsafe { Kiocb::<T::Ptr>::from_raw(kiocb, data) };
        // SAFETY: The VFS passes a destination iterator for reads.
        let iov = unsafe { IovIterDest::from_raw(iter) };
        let count = iov.len();
        rw_return(T::read_iter(kiocb, iov), count)
    }

    /// # Safety
    ///
    /// Called as `f_op->read_iter` with valid arguments for an open file.
    unsafe extern "C" fn read_iter_async(kiocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
        // SAFETY: As in `read_iter`.
        let Some(rec) = (unsafe { Self::record((*kiocb).ki_filp) }) else {
            return -(bindings::EBADF as isize);
        };
        let data = rec.data;
        let queued = core::cell::Cell::new(false);
        // SAFETY: As in `read_iter`; we honour `queued` below.
        let kiocb = unsafe { Kiocb::<T::Ptr>::from_raw_queueable(kiocb, data, &queued) };
        // SAFETY: The VFS passes a destination iterator for reads.
        let iov = unsafe { IovIterDest::from_raw(iter) };
        let count = iov.len();
        let r = T::read_iter_async(kiocb, iov);
        if queued.get() {
            // The handle completes the request, whatever the driver said
            // (completing it here as well would complete it twice). The
            // kiocb may be completed already: not touched again.
            return -(bindings::EIOCBQUEUED as isize);
        }
        match r {
            Ok(Submitted::Done(n)) => rw_return(Ok(n), count),
            // A token exists only if `queue` set the flag, checked above.
            Ok(Submitted::Queued(_)) => -(bindings::EIO as isize),
            Err(e) => rw_return(Err(e), count),
        }
    }

    /// # Safety
    ///
    /// Called as `f_op->write_iter` with valid arguments for an open file.
    unsafe extern "C" fn write_iter(kiocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
        // SAFETY: As in `read_iter`.
        let Some(rec) = (unsafe { Self::record((*kiocb).ki_filp) }) else {
            return -(bindings::EBADF as isize);
        };
        let data = rec.data;
        // SAFETY: As in `read_iter`.
        let kiocb = unsafe { Kiocb::<T::Ptr>::from_raw(kiocb, data) };
        // SAFETY: The VFS passes a source iterator for writes.
        let iov = unsafe { IovIterSource::from_raw(iter) };
        let count = iov.len();
        rw_return(T::write_iter(kiocb, iov), count)
    }

    /// # Safety
    ///
    /// Called as `f_op->poll` for an open file; `table` may be null.
    unsafe extern "C" fn poll(raw_file: *mut bindings::file, table: *mut bindings::poll_table) -> c_uint {
        // SAFETY: The poller holds a file reference for the call.
        let file = unsafe { File::from_raw_file(raw_file) };
        // SAFETY: Private data from `open`, alive until `release`, which
        // cannot run while the poller holds the file (or, for epoll, before
        // `eventpoll_release` removed its entries).
        let Some(device) = (unsafe { Self::device(raw_file) }) else {
            // Not opened (yet, or any more): nothing to wait for.
            return bindings::EPOLLERR;
        };
        // SAFETY: `table` is null or valid for this call; the lifetime of
        // `device` (the private data's) is the one the table gets.
        let mut table = unsafe { PollTable::from_raw(file, table) };
        T::poll(device, file, &mut table).without_internal().bits()
    }

    /// # Safety
    ///
    /// Called as `f_op->fasync` for an open file: by `fcntl(F_SETFL)` or
    /// `ioctl(FIOASYNC)` when `FASYNC` changes, and by `__fput` (with
    /// `on == 0`) before `release` if `FASYNC` is set.
    unsafe extern "C" fn fasync(fd: c_int, raw_file: *mut bindings::file, on: c_int) -> c_int {
        // SAFETY: The caller (`fcntl` or `__fput`) holds the file.
        let file = unsafe { File::from_raw_file(raw_file) };
        // SAFETY: Open, not released (above).
        let Some(rec) = (unsafe { Self::record(raw_file) }) else {
            return if on == 0 { 0 } else { -(bindings::EBADF as c_int) };
        };
        if on == 0 {
            // Off: only the layer is involved. A file is on a list only
            // through `fasync_helper` (which updates `FASYNC` with it, under
            // `f_lock`), only on the recorded queue, and `__fput` calls us
            // whenever `FASYNC` is set. (`open(O_ASYNC)` sets `FASYNC`
            // without a list: then nothing is recorded and nothing to do.)
            let q = rec.fasync.load(Ordering::Acquire);
            if q.is_null() {
                return 0;
            }
            // SAFETY: The recorded queue is valid until `release` (type
            // invariant of `MiscFile`), which has not run; `file` is the
            // file whose `->fasync` this is.
            return unsafe { (*q).helper(fd, file, false) };
        }
        // SAFETY: Private data from `open`, alive until `release`; the
        // borrow does not outlive this call.
        let Some(device) = (unsafe { Self::device(raw_file) }) else {
            return -(bindings::EBADF as c_int);
        };
        let queue = match T::fasync(device, file) {
            Ok(q) => q,
            Err(e) => return errno_for_vfs(e, false),
        };
        let want = queue.as_ptr().cast_mut();
        // INVARIANT: Recorded once; a concurrent `on` racing with us records
        // the same queue or fails below.
        let recorded = match rec.fasync.compare_exchange(
            core::ptr::null_mut(),
            want,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => want,
            Err(cur) => cur,
        };
        if recorded != want {
            return EINVAL.to_errno();
        }
        // SAFETY: `queue` lives as long as the private data, beyond this
        // file's `release` (its lifetime `'a`), and cannot move while
        // borrowed; the file leaves it at the latest in `__fput`'s
        // `->fasync(-1, file, 0)` above, before `release`.
        unsafe { queue.helper(fd, file, true) }
    }

    /// # Safety
    ///
    /// Called as `f_op->unlocked_ioctl` for an open file.
    unsafe extern "C" fn ioctl(raw_file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: The ioctl syscall holds the file.
        let file = unsafe { File::from_raw_file(raw_file) };
        // SAFETY: Private data from `open`, alive until `release`.
        let Some(device) = (unsafe { Self::device(raw_file) }) else {
            return -(bindings::EBADF as c_long);
        };
        ioctl_return(T::ioctl(device, file, cmd, arg as usize))
    }

    /// # Safety
    ///
    /// Called as `f_op->compat_ioctl` for an open file.
    #[cfg_attr(not(CONFIG_COMPAT), allow(dead_code))]
    unsafe extern "C" fn compat_ioctl(raw_file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: The ioctl syscall holds the file.
        let file = unsafe { File::from_raw_file(raw_file) };
        // SAFETY: Private data from `open`, alive until `release`.
        let Some(device) = (unsafe { Self::device(raw_file) }) else {
            return -(bindings::EBADF as c_long);
        };
        ioctl_return(T::compat_ioctl(device, file, cmd, arg as usize))
    }

    /// # Safety
    ///
    /// Called as `f_op->mmap` for an open file, with the mmap lock held.
    unsafe extern "C" fn mmap(raw_file: *mut bindings::file, vma: *mut bindings::vm_area_struct) -> c_int {
        // SAFETY: `mmap_region` holds the file.
        let file = unsafe { File::from_raw_file(raw_file) };
        // SAFETY: Private data from `open`, alive until `release`.
        let Some(device) = (unsafe { Self::device(raw_file) }) else {
            return -(bindings::EBADF as c_int);
        };
        // SAFETY: The area of this `->mmap` call, used only during it.
        let area = unsafe { VmaNew::from_raw(vma) };
        match T::mmap(device, file, area) {
            Ok(()) => 0,
            Err(e) => errno_for_vfs(e, false),
        }
    }

    const VTABLE: bindings::file_operations = bindings::file_operations {
        owner: T::OWNER.as_ptr(),
        open: Some(Self::open),
        release: Some(Self::release),
        read_iter: if T::HAS_READ_ITER_ASYNC {
            Some(Self::read_iter_async)
        } else if T::HAS_READ_ITER {
            Some(Self::read_iter)
        } else {
            None
        },
        write_iter: if T::HAS_WRITE_ITER { Some(Self::write_iter) } else { None },
        poll: if T::HAS_POLL { Some(Self::poll) } else { None },
        fasync: if T::HAS_FASYNC { Some(Self::fasync) } else { None },
        unlocked_ioctl: if T::HAS_IOCTL { Some(Self::ioctl) } else { None },
        // Without CONFIG_COMPAT there are no 32-bit callers and C's
        // `compat_ptr_ioctl` does not exist.
        #[cfg(CONFIG_COMPAT)]
        compat_ioctl: if T::HAS_COMPAT_IOCTL {
            Some(Self::compat_ioctl)
        } else if T::HAS_IOCTL {
            Some(bindings::compat_ptr_ioctl)
        } else {
            None
        },
        mmap: if T::HAS_MMAP { Some(Self::mmap) } else { None },
        // SAFETY: All-zeroes is a valid `file_operations`: null function
        // pointers mean "not supported" to the VFS.
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    };

    /// The table, promoted to a `'static`.
    const fn build() -> &'static bindings::file_operations {
        &Self::VTABLE
    }
}
