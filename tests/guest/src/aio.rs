//! Linux AIO (`io_setup`, `io_submit`, `io_getevents`, `io_cancel`,
//! `io_destroy`) for the tests: a context that is destroyed on drop, over
//! the system calls of `simnic::aio_abi` (where `struct iocb` and
//! `struct io_event` are defined), with the tests' error strings; and the
//! page pin counters of `/proc/vmstat`. One call per function (but
//! [`AioContext::expect_events`]); nothing retried.

pub use simnic::aio_abi::Iocb;
use simnic::aio_abi::{self, AioContextId, IoEvent};

use crate::net::raw;
use crate::sys::errname;

/// `RWF_NOWAIT` in `aio_rw_flags`.
pub const RWF_NOWAIT: i32 = 0x8;

/// An `io_setup` context, destroyed on drop (which cancels what is pending
/// and waits for it).
pub struct AioContext(pub AioContextId);

impl AioContext {
    pub fn new(nr: u32) -> Result<Self, String> {
        aio_abi::io_setup(nr)
            .map(Self)
            .map_err(|e| format!("io_setup({nr}): {}", errname(raw(&e))))
    }

    /// io_submit of the iocbs: how many were taken, or the errno.
    ///
    /// The iocbs must stay where they are until their completion is reaped
    /// (io_cancel finds a request by the iocb's address).
    pub fn submit(&self, iocbs: &mut [&mut Iocb]) -> Result<usize, i32> {
        let mut ptrs: Vec<*mut Iocb> = iocbs.iter_mut().map(|c| &mut **c as *mut Iocb).collect();
        // SAFETY: valid iocb pointers; their buffers are the caller's to keep.
        unsafe { aio_abi::io_submit(self.0, &mut ptrs) }.map_err(|e| raw(&e))
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
        aio_abi::io_cancel(self.0, iocb).map_err(|e| raw(&e))
    }

    /// io_getevents for at least `min` (at most 64) events, waiting up to
    /// `timeout_ms`.
    pub fn events(&self, min: usize, timeout_ms: u64) -> Result<Vec<IoEvent>, String> {
        let mut ev = [IoEvent::default(); 64];
        let ts = libc::timespec {
            tv_sec: (timeout_ms / 1000) as libc::time_t,
            tv_nsec: ((timeout_ms % 1000) * 1_000_000) as libc::c_long,
        };
        let n = aio_abi::io_getevents(self.0, min, &mut ev, Some(&ts))
            .map_err(|e| format!("io_getevents: {}", errname(raw(&e))))?;
        Ok(ev[..n].to_vec())
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
        aio_abi::io_destroy(ctx).map_err(|e| format!("io_destroy: {}", errname(raw(&e))))
    }
}

impl Drop for AioContext {
    fn drop(&mut self) {
        // Pending requests are cancelled by the kernel; an error has no one
        // to go to.
        let _ = aio_abi::io_destroy(self.0);
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
    Ok((
        field("nr_foll_pin_acquired ")?,
        field("nr_foll_pin_released ")?,
    ))
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
