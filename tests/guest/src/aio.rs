//! Linux AIO (`io_setup`, `io_submit`, `io_getevents`, `io_cancel`,
//! `io_destroy`) as raw system calls, and the page pin counters of
//! `/proc/vmstat`, for the tests. One call per function; nothing retried.

use std::os::fd::RawFd;

use crate::sys::{errname, errno};

pub const IOCB_CMD_PREAD: u16 = 0;
pub const IOCB_CMD_POLL: u16 = 5;
pub const IOCB_CMD_PREADV: u16 = 7;
/// `RWF_NOWAIT` in `aio_rw_flags`.
pub const RWF_NOWAIT: i32 = 0x8;

/// `struct iocb` (include/uapi/linux/aio_abi.h, little-endian).
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct Iocb {
    pub aio_data: u64,
    pub aio_key: u32,
    pub aio_rw_flags: i32,
    pub aio_lio_opcode: u16,
    pub aio_reqprio: i16,
    pub aio_fildes: u32,
    pub aio_buf: u64,
    pub aio_nbytes: u64,
    pub aio_offset: i64,
    pub aio_reserved2: u64,
    pub aio_flags: u32,
    pub aio_resfd: u32,
}

impl Iocb {
    /// `IOCB_CMD_PREAD` of `len` bytes at `buf` on `fd`, tagged `data`.
    pub fn pread(fd: RawFd, buf: *mut u8, len: usize, data: u64) -> Self {
        Self {
            aio_data: data,
            aio_lio_opcode: IOCB_CMD_PREAD,
            aio_fildes: fd as u32,
            aio_buf: buf as u64,
            aio_nbytes: len as u64,
            ..Default::default()
        }
    }

    /// `IOCB_CMD_PREADV` over `iov` (which must outlive `io_submit`, and no
    /// longer: the kernel copies the array then).
    pub fn preadv(fd: RawFd, iov: &[libc::iovec], data: u64) -> Self {
        Self {
            aio_data: data,
            aio_lio_opcode: IOCB_CMD_PREADV,
            aio_fildes: fd as u32,
            aio_buf: iov.as_ptr() as u64,
            aio_nbytes: iov.len() as u64,
            ..Default::default()
        }
    }

    /// `IOCB_CMD_POLL` for `events` on `fd`.
    pub fn poll(fd: RawFd, events: i16, data: u64) -> Self {
        Self {
            aio_data: data,
            aio_lio_opcode: IOCB_CMD_POLL,
            aio_fildes: fd as u32,
            aio_buf: events as u16 as u64,
            ..Default::default()
        }
    }
}

/// `struct io_event`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct IoEvent {
    pub data: u64,
    pub obj: u64,
    pub res: i64,
    pub res2: i64,
}

/// An `io_setup` context, destroyed on drop (which cancels what is pending
/// and waits for it).
pub struct AioContext(pub libc::c_ulong);

impl AioContext {
    pub fn new(nr: u32) -> Result<Self, String> {
        let mut ctx: libc::c_ulong = 0;
        // SAFETY: `ctx` is a valid out-pointer, zero as io_setup requires.
        let r = unsafe { libc::syscall(libc::SYS_io_setup, nr, &mut ctx) };
        if r != 0 {
            return Err(format!("io_setup({nr}): {}", errname(errno())));
        }
        Ok(Self(ctx))
    }

    /// io_submit of the iocbs: how many were taken, or the errno.
    ///
    /// The iocbs must stay where they are until their completion is reaped
    /// (io_cancel finds a request by the iocb's address).
    pub fn submit(&self, iocbs: &mut [&mut Iocb]) -> Result<usize, i32> {
        let mut ptrs: Vec<*mut Iocb> = iocbs.iter_mut().map(|c| &mut **c as *mut Iocb).collect();
        // SAFETY: valid iocb pointers; their buffers are the caller's to keep.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_submit,
                self.0,
                ptrs.len() as libc::c_long,
                ptrs.as_mut_ptr(),
            )
        };
        if r < 0 {
            Err(errno())
        } else {
            Ok(r as usize)
        }
    }

    /// io_submit of one iocb, which must be taken.
    pub fn submit_one(&self, iocb: &mut Iocb, what: &str) -> Result<(), String> {
        match self.submit(&mut [iocb]) {
            Ok(1) => Ok(()),
            Ok(n) => Err(format!("{what}: io_submit took {n} of 1")),
            Err(e) => Err(format!("{what}: io_submit: {}", errname(e))),
        }
    }

    /// io_cancel: `Ok(())` for 0 (never returned since 4.19), else the errno
    /// (`EINPROGRESS`: cancellation under way, the event comes through the
    /// ring; `EAGAIN`: not cancelled; `EINVAL`: not pending any more).
    pub fn cancel(&self, iocb: &Iocb) -> Result<(), i32> {
        let mut ev = IoEvent::default();
        // SAFETY: a valid iocb pointer and a valid event out-pointer.
        let r = unsafe { libc::syscall(libc::SYS_io_cancel, self.0, iocb as *const Iocb, &mut ev) };
        if r < 0 {
            Err(errno())
        } else {
            Ok(())
        }
    }

    /// io_getevents for at least `min` (at most 64) events, waiting up to
    /// `timeout_ms`.
    pub fn events(&self, min: usize, timeout_ms: u64) -> Result<Vec<IoEvent>, String> {
        let mut ev = [IoEvent::default(); 64];
        let ts = libc::timespec {
            tv_sec: (timeout_ms / 1000) as libc::time_t,
            tv_nsec: ((timeout_ms % 1000) * 1_000_000) as libc::c_long,
        };
        // SAFETY: room for 64 events; a valid timespec.
        let n = unsafe {
            libc::syscall(
                libc::SYS_io_getevents,
                self.0,
                min as libc::c_long,
                64 as libc::c_long,
                ev.as_mut_ptr(),
                &ts,
            )
        };
        if n < 0 {
            return Err(format!("io_getevents: {}", errname(errno())));
        }
        Ok(ev[..n as usize].to_vec())
    }

    /// Collects `n` events within `timeout_ms` in all, failing if fewer come.
    pub fn expect_events(
        &self,
        n: usize,
        timeout_ms: u64,
        what: &str,
    ) -> Result<Vec<IoEvent>, String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
        let mut all = Vec::new();
        while all.len() < n {
            let left = deadline
                .saturating_duration_since(std::time::Instant::now())
                .as_millis() as u64;
            let got = self.events(n - all.len(), left)?;
            if got.is_empty() && left == 0 {
                break;
            }
            all.extend(got);
        }
        if all.len() != n {
            return Err(format!(
                "{what}: {} of {n} completions within {timeout_ms} ms: {all:?}",
                all.len()
            ));
        }
        Ok(all)
    }

    /// io_destroy, which cancels what is pending and waits for it.
    pub fn destroy(self) -> Result<(), String> {
        let ctx = self.0;
        std::mem::forget(self);
        // SAFETY: our context.
        let r = unsafe { libc::syscall(libc::SYS_io_destroy, ctx) };
        if r != 0 {
            return Err(format!("io_destroy: {}", errname(errno())));
        }
        Ok(())
    }
}

impl Drop for AioContext {
    fn drop(&mut self) {
        // SAFETY: our context; pending requests are cancelled by the kernel.
        unsafe { libc::syscall(libc::SYS_io_destroy, self.0) };
    }
}

/// Pages pinned with `FOLL_PIN` and not released yet, system-wide:
/// `nr_foll_pin_acquired - nr_foll_pin_released` from `/proc/vmstat`.
/// Nothing else in the guest pins pages, so a test compares it before and
/// after and sees its own pins only. The counters are per-CPU and folded
/// into `/proc/vmstat` lazily (every `vm.stat_interval`); writing
/// `/proc/sys/vm/stat_refresh` folds them first.
pub fn pinned_pages() -> Result<i64, String> {
    let (acquired, released) = pin_counters()?;
    Ok(acquired - released)
}

/// `nr_foll_pin_acquired` and `nr_foll_pin_released` from `/proc/vmstat`
/// (folded first, as for [`pinned_pages`]): pins taken and given back
/// since boot, system-wide.
pub fn pin_counters() -> Result<(i64, i64), String> {
    std::fs::write("/proc/sys/vm/stat_refresh", "1")
        .map_err(|e| format!("/proc/sys/vm/stat_refresh: {e}"))?;
    let vm = std::fs::read_to_string("/proc/vmstat").map_err(|e| format!("/proc/vmstat: {e}"))?;
    let field = |name: &str| -> Result<i64, String> {
        vm.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .ok_or_else(|| format!("/proc/vmstat: no {name}"))
    };
    Ok((field("nr_foll_pin_acquired ")?, field("nr_foll_pin_released ")?))
}

/// Waits (up to 5 s: the pins go back from a work item) until the pinned
/// page count is `want` again.
pub fn expect_pins(want: i64, what: &str) -> crate::sys::TestResult {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let now = pinned_pages()?;
        if now == want {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!("{what}: {now} pages pinned, expected {want}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
