//! io_uring for the tests, through the `io-uring` crate: a ring, one entry
//! submitted, completions waited for with a deadline, and the entries
//! several tests build. Errors are the tests' strings.

use std::os::fd::RawFd;
use std::time::Duration;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use crate::sys::TestResult;

/// A ring of `entries` submission entries.
pub fn ring(entries: u32) -> Result<IoUring, String> {
    IoUring::new(entries).map_err(|e| format!("io_uring_setup: {e}"))
}

/// Pushes one entry and submits it.
pub fn submit(ring: &mut IoUring, e: &squeue::Entry, what: &str) -> TestResult {
    // SAFETY: the buffers the entry names are the caller's and outlive the
    // request (every test reaps or cancels what it submits before they go).
    unsafe { ring.submission().push(e) }.map_err(|_| format!("{what}: submission queue full"))?;
    let n = ring
        .submit()
        .map_err(|e| format!("{what}: io_uring_enter: {e}"))?;
    ensure!(n == 1, "{what}: {n} entries submitted");
    Ok(())
}

/// Waits up to `timeout` for `n` completions and takes them.
pub fn completions(
    ring: &mut IoUring,
    n: usize,
    timeout: Duration,
    what: &str,
) -> Result<Vec<cqueue::Entry>, String> {
    let deadline = std::time::Instant::now() + timeout;
    let mut got = Vec::new();
    while got.len() < n {
        got.extend(ring.completion());
        if got.len() >= n {
            break;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(format!(
                "{what}: {} of {n} completions within {} ms: {got:?}",
                got.len(),
                timeout.as_millis()
            ));
        }
        let ts = types::Timespec::from(left);
        let args = types::SubmitArgs::new().timespec(&ts);
        match ring.submitter().submit_with_args(n - got.len(), &args) {
            Ok(_) => {}
            Err(e)
                if e.raw_os_error() == Some(libc::ETIME)
                    || e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(format!("{what}: io_uring_enter: {e}")),
        }
    }
    Ok(got)
}

/// Fails if a completion is there or comes within `wait`.
pub fn no_completion(ring: &mut IoUring, wait: Duration, what: &str) -> TestResult {
    match completions(ring, 1, wait, what) {
        Ok(c) => Err(format!("{what}: unexpected completion {c:?}")),
        Err(_) => Ok(()),
    }
}

/// `IORING_OP_READ` (current position: offset -1) of `len` bytes.
pub fn read_entry(fd: RawFd, buf: &mut [u8], data: u64) -> squeue::Entry {
    opcode::Read::new(types::Fd(fd), buf.as_mut_ptr(), buf.len() as u32)
        .offset(u64::MAX)
        .build()
        .user_data(data)
}
