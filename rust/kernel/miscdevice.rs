// SPDX-License-Identifier: GPL-2.0

//! Miscellaneous devices: `misc_register()` and the file operations of the
//! node it creates (`include/linux/miscdevice.h`).
//!
//! Shape follows upstream Rust-for-Linux `kernel::miscdevice`
//! ([`MiscDeviceRegistration`], [`MiscDevice`], [`MiscDeviceOptions`]), plus
//! what upstream lacks: `poll`, `fasync`, `owner` (so an open file pins the
//! module) and the open-time file mode bits (`stream_open`, `FMODE_NOWAIT`).

use crate::{
    bindings, build_error,
    error::{to_result, Error, Result, VTABLE_DEFAULT_ERROR},
    ffi::{c_int, c_long, c_uint, c_ulong},
    fs::{File, Kiocb},
    init::{pin_init_from_closure, PinInit},
    iov::{IovIterDest, IovIterSource},
    mm::virt::VmaNew,
    prelude::*,
    str::CStr,
    sync::poll::{PollMask, PollTable},
    types::{ForeignOwnable, Opaque},
    ThisModule,
};
use core::{marker::PhantomData, pin::Pin};

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
/// It also holds the driver's per-device data (`T::RegistrationData`), which
/// `open` can reach through [`Self::data`] (upstream added the same later).
///
/// # Invariants
///
/// `inner` is a registered `miscdevice` for as long as `self` lives; `data`
/// is initialised before registration.
#[pin_data(PinnedDrop)]
pub struct MiscDeviceRegistration<T: MiscDevice> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    data: T::RegistrationData,
    _t: PhantomData<T>,
}

// SAFETY: `misc_deregister` may run on any thread; the data is `Send`.
unsafe impl<T: MiscDevice> Send for MiscDeviceRegistration<T> {}
// SAFETY: No `&self` method touches the `miscdevice` mutably; the data is
// `Sync`.
unsafe impl<T: MiscDevice> Sync for MiscDeviceRegistration<T> {}

impl<T: MiscDevice> MiscDeviceRegistration<T> {
    /// Registers the device (`misc_register()`) with the driver's data.
    pub fn register(opts: MiscDeviceOptions, data: T::RegistrationData) -> impl PinInit<Self, Error> {
        let init = move |slot: *mut Self| {
            // SAFETY: `slot` is valid for writes (closure contract); the data
            // goes in before the device becomes visible to `open`.
            unsafe { core::ptr::addr_of_mut!((*slot).data).write(data) };
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
    pub fn data(&self) -> &T::RegistrationData {
        &self.data
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

    /// Data of the device as a whole, kept in the registration (`()` if none).
    type RegistrationData: Send + Sync;

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

    /// `fasync`: `fcntl(F_SETFL, O_ASYNC)` turned on (`on`) or off, or the
    /// file is being closed with it on.
    fn fasync(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _fd: i32,
        _file: &File,
        _on: bool,
    ) -> Result {
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

    /// `mmap`.
    fn mmap(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _vma: &VmaNew,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// Converts a result into what `ssize_t`/`long`-returning file operations
/// return.
fn to_ssize(r: Result<usize>) -> isize {
    match r {
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
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
        // SAFETY: The file is alive for the whole call.
        let file = unsafe { File::from_raw_file(raw_file) };
        match T::open(file, misc) {
            Ok(ptr) => {
                // SAFETY: Still our file; `release` takes this back.
                unsafe { (*raw_file).private_data = ptr.into_foreign().cast_mut() };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called as `f_op->release` of a file whose `open` succeeded.
    unsafe extern "C" fn release(_inode: *mut bindings::inode, raw_file: *mut bindings::file) -> c_int {
        // SAFETY: `open` stored `into_foreign`'s result; this is the last use
        // of the file, so no borrow of it is outstanding.
        let device = unsafe { T::Ptr::from_foreign((*raw_file).private_data) };
        // SAFETY: The file is alive for the call.
        T::release(device, unsafe { File::from_raw_file(raw_file) });
        0
    }

    /// # Safety
    ///
    /// Called as `f_op->read_iter` with valid arguments for an open file.
    unsafe extern "C" fn read_iter(kiocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
        // SAFETY: Valid for the call; private data set by `open` and not yet
        // released, since the VFS holds a file reference during the call.
        let kiocb = unsafe { Kiocb::<T::Ptr>::from_raw(kiocb) };
        // SAFETY: The VFS passes a destination iterator for reads.
        let iov = unsafe { IovIterDest::from_raw(iter) };
        to_ssize(T::read_iter(kiocb, iov))
    }

    /// # Safety
    ///
    /// Called as `f_op->write_iter` with valid arguments for an open file.
    unsafe extern "C" fn write_iter(kiocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
        // SAFETY: As in `read_iter`.
        let kiocb = unsafe { Kiocb::<T::Ptr>::from_raw(kiocb) };
        // SAFETY: The VFS passes a source iterator for writes.
        let iov = unsafe { IovIterSource::from_raw(iter) };
        to_ssize(T::write_iter(kiocb, iov))
    }

    /// # Safety
    ///
    /// Called as `f_op->poll` for an open file; `table` may be null.
    unsafe extern "C" fn poll(raw_file: *mut bindings::file, table: *mut bindings::poll_table) -> c_uint {
        // SAFETY: The poller holds a file reference for the call.
        let file = unsafe { File::from_raw_file(raw_file) };
        // SAFETY: Private data from `open`, alive until `release`.
        let device = unsafe { T::Ptr::borrow((*raw_file).private_data) };
        // SAFETY: `table` is null or valid for this call; the lifetime of
        // `device` (the private data's) is the one the table gets.
        let mut table = unsafe { PollTable::from_raw(file, table) };
        T::poll(device, file, &mut table).bits()
    }

    /// # Safety
    ///
    /// Called as `f_op->fasync` for an open file.
    unsafe extern "C" fn fasync(fd: c_int, raw_file: *mut bindings::file, on: c_int) -> c_int {
        // SAFETY: The caller (`fcntl` or `__fput`) holds the file.
        let file = unsafe { File::from_raw_file(raw_file) };
        // SAFETY: Private data from `open`; `__fput` calls this before `release`.
        let device = unsafe { T::Ptr::borrow((*raw_file).private_data) };
        match T::fasync(device, fd, file, on != 0) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called as `f_op->unlocked_ioctl` for an open file.
    unsafe extern "C" fn ioctl(raw_file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: The ioctl syscall holds the file.
        let file = unsafe { File::from_raw_file(raw_file) };
        // SAFETY: Private data from `open`, alive until `release`.
        let device = unsafe { T::Ptr::borrow((*raw_file).private_data) };
        match T::ioctl(device, file, cmd, arg as usize) {
            Ok(n) => n as c_long,
            Err(e) => e.to_errno() as c_long,
        }
    }

    /// # Safety
    ///
    /// Called as `f_op->mmap` for an open file, with the mmap lock held.
    unsafe extern "C" fn mmap(raw_file: *mut bindings::file, vma: *mut bindings::vm_area_struct) -> c_int {
        // SAFETY: `mmap_region` holds the file.
        let file = unsafe { File::from_raw_file(raw_file) };
        // SAFETY: Private data from `open`, alive until `release`.
        let device = unsafe { T::Ptr::borrow((*raw_file).private_data) };
        // SAFETY: The area of this `->mmap` call, used only during it.
        let area = unsafe { VmaNew::from_raw(vma) };
        match T::mmap(device, file, area) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    const VTABLE: bindings::file_operations = bindings::file_operations {
        owner: T::OWNER.as_ptr(),
        open: Some(Self::open),
        release: Some(Self::release),
        read_iter: if T::HAS_READ_ITER { Some(Self::read_iter) } else { None },
        write_iter: if T::HAS_WRITE_ITER { Some(Self::write_iter) } else { None },
        poll: if T::HAS_POLL { Some(Self::poll) } else { None },
        fasync: if T::HAS_FASYNC { Some(Self::fasync) } else { None },
        unlocked_ioctl: if T::HAS_IOCTL { Some(Self::ioctl) } else { None },
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
