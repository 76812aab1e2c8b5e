//! Userspace side of simnic.
//!
//! This crate holds the uapi of `/dev/simnic` (the constants userspace and
//! `simnic.ko` must agree on) and [`Endpoint`], a thin safe wrapper over the
//! libc calls a program makes on the device.
//!
//! # The device model
//!
//! Every `open()` of [`DEVICE_PATH`] is an independent datagram endpoint with
//! its own receive queue. A file shared by `fork()` or `dup()` shares the
//! endpoint. For now the device echoes: a datagram written to an endpoint is
//! queued to that same endpoint's receive queue.
//!
//! * `write()` sends exactly one datagram of `0..=`[`MAX_DATAGRAM`] bytes
//!   (`EMSGSIZE` above that). It never blocks: when the datagram would not
//!   fit in the queue limits ([`RX_QUEUE_MAX_DATAGRAMS`],
//!   [`RX_QUEUE_MAX_BYTES`]) it fails with `ENOBUFS` and queues nothing.
//! * `read()` dequeues exactly one datagram, in FIFO order. A buffer shorter
//!   than the datagram receives its head and the rest is discarded, as with
//!   UDP. On an empty queue it sleeps, or fails with `EAGAIN` when the file is
//!   `O_NONBLOCK`.
//! * The device is a stream: `lseek()` and positioned reads fail with
//!   `ESPIPE`.
//!
//! The wrapper deliberately does no retrying and no buffering: every method
//! is one system call, and its error is the raw `errno` in an
//! [`io::Error`] (see [`io::Error::raw_os_error`]).

#![deny(missing_docs)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, RawFd};

/// Path of the device node that `simnic.ko` registers (a misc device, mode
/// 0666).
pub const DEVICE_PATH: &str = "/dev/simnic";

/// [`DEVICE_PATH`] as the C string handed to `open(2)`.
const DEVICE_PATH_C: &CStr = c"/dev/simnic";

/// Largest datagram, in bytes, that one `write()` can send; a longer write
/// fails with `EMSGSIZE`. Zero-length datagrams are valid.
pub const MAX_DATAGRAM: usize = 65535;

/// Most datagrams an endpoint's receive queue holds. A write that would queue
/// one more fails with `ENOBUFS`.
pub const RX_QUEUE_MAX_DATAGRAMS: usize = 256;

/// Most payload bytes an endpoint's receive queue holds (datagrams a reader is
/// still copying out count). A write that would exceed it fails with
/// `ENOBUFS`.
pub const RX_QUEUE_MAX_BYTES: usize = 212992;

/// One open file of `/dev/simnic`: a datagram endpoint.
///
/// Dropping it closes the file descriptor. It is not `Clone`: to share the
/// endpoint with another process, `fork()` while it is open.
#[derive(Debug)]
pub struct Endpoint {
    fd: RawFd,
}

impl Endpoint {
    /// Opens a new endpoint in blocking mode: [`recv`](Self::recv) sleeps
    /// until a datagram arrives.
    pub fn open() -> io::Result<Self> {
        Self::open_path(DEVICE_PATH_C, false)
    }

    /// Opens a new endpoint with `O_NONBLOCK`: [`recv`](Self::recv) on an
    /// empty queue fails with `EAGAIN` ([`io::ErrorKind::WouldBlock`]).
    pub fn open_nonblocking() -> io::Result<Self> {
        Self::open_path(DEVICE_PATH_C, true)
    }

    /// The one place the device is opened: read-write and close-on-exec,
    /// plus `O_NONBLOCK` when asked. Taking the path lets host tests run it
    /// against files that exist (or not) on any machine.
    fn open_path(path: &CStr, nonblocking: bool) -> io::Result<Self> {
        let mut flags = libc::O_RDWR | libc::O_CLOEXEC;
        if nonblocking {
            flags |= libc::O_NONBLOCK;
        }
        // SAFETY: `path` is a valid NUL-terminated string for the call.
        let fd = unsafe { libc::open(path.as_ptr(), flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { fd })
    }

    /// Sends `datagram` as one datagram with one `write()`; returns the
    /// number of bytes sent, which is `datagram.len()` on success.
    ///
    /// Errors carry the device's errno: `EMSGSIZE` above [`MAX_DATAGRAM`],
    /// `ENOBUFS` when the receive queue is full.
    pub fn send(&self, datagram: &[u8]) -> io::Result<usize> {
        // SAFETY: the pointer and length describe the live slice.
        let n = unsafe { libc::write(self.fd, datagram.as_ptr().cast(), datagram.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Receives one datagram with one `read()`: copies at most `buf.len()`
    /// bytes of it into `buf` (the rest of a longer datagram is discarded)
    /// and returns the number of bytes copied.
    ///
    /// A signal that interrupts a blocked call is returned as
    /// [`io::ErrorKind::Interrupted`], not retried.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: the pointer and length describe the live, writable slice.
        let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by `self` and closed only here.
        // Errors from close() cannot be acted on in drop.
        unsafe { libc::close(self.fd) };
    }
}

impl AsRawFd for Endpoint {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl AsFd for Endpoint {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor stays open for as long as `self` is borrowed.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }
}

impl IntoRawFd for Endpoint {
    /// Gives up ownership: the descriptor is returned open and not closed.
    fn into_raw_fd(self) -> RawFd {
        let fd = self.fd;
        std::mem::forget(self);
        fd
    }
}

impl FromRawFd for Endpoint {
    /// Takes ownership of `fd`, which [`Drop`] will close.
    ///
    /// # Safety
    /// `fd` must be an open descriptor that nothing else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> Self {
        Self { fd }
    }
}

#[cfg(test)]
mod tests {
    //! The device itself is tested in the guest (tests/guest); here the
    //! wrapper's own logic: flags, errno mapping, ownership of the fd.
    use super::*;

    fn pipe() -> (Endpoint, Endpoint) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
        assert_eq!(rc, 0, "pipe2: {}", io::Error::last_os_error());
        // SAFETY: both descriptors were just created and are owned by nobody.
        unsafe { (Endpoint::from_raw_fd(fds[0]), Endpoint::from_raw_fd(fds[1])) }
    }

    fn fcntl(fd: RawFd, cmd: libc::c_int) -> libc::c_int {
        // SAFETY: F_GETFL/F_GETFD take no argument and only read state.
        let v = unsafe { libc::fcntl(fd, cmd) };
        assert!(v >= 0, "fcntl: {}", io::Error::last_os_error());
        v
    }

    #[test]
    fn device_path_constants_agree() {
        assert_eq!(DEVICE_PATH_C.to_str().unwrap(), DEVICE_PATH);
    }

    #[test]
    fn open_missing_path_is_enoent() {
        let err = Endpoint::open_path(c"/nonexistent-simnic-dir/simnic", false).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
    }

    #[test]
    fn open_is_read_write_cloexec_and_blocking() {
        let ep = Endpoint::open_path(c"/dev/null", false).unwrap();
        let fl = fcntl(ep.as_raw_fd(), libc::F_GETFL);
        assert_eq!(fl & libc::O_ACCMODE, libc::O_RDWR);
        assert_eq!(fl & libc::O_NONBLOCK, 0);
        assert_ne!(fcntl(ep.as_raw_fd(), libc::F_GETFD) & libc::FD_CLOEXEC, 0);
    }

    #[test]
    fn open_nonblocking_sets_o_nonblock() {
        let ep = Endpoint::open_path(c"/dev/null", true).unwrap();
        let fl = fcntl(ep.as_raw_fd(), libc::F_GETFL);
        assert_eq!(fl & libc::O_ACCMODE, libc::O_RDWR);
        assert_ne!(fl & libc::O_NONBLOCK, 0);
    }

    #[test]
    fn send_and_recv_return_counts() {
        let (r, w) = pipe();
        assert_eq!(w.send(b"abcdef").unwrap(), 6);
        let mut buf = [0u8; 4];
        assert_eq!(r.recv(&mut buf).unwrap(), 4);
        assert_eq!(&buf, b"abcd");
        assert_eq!(w.send(b"").unwrap(), 0);
    }

    #[test]
    fn errors_carry_the_raw_errno() {
        let (r, w) = pipe();
        let err = r.recv(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EAGAIN), "{err}");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        // The read end of a pipe is not writable.
        let err = r.send(b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
        drop(w);
    }

    #[test]
    fn drop_closes_the_descriptor() {
        let (r, w) = pipe();
        drop(r);
        // With its only read end closed the pipe reports EPIPE (Rust's
        // runtime ignores SIGPIPE), which proves the close without racing
        // other tests for the reused fd number.
        let err = w.send(b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE), "{err}");
    }

    #[test]
    fn into_raw_fd_keeps_the_descriptor_open() {
        let (r, w) = pipe();
        let raw = r.into_raw_fd();
        assert_eq!(w.send(b"still open").unwrap(), 10);
        // SAFETY: `raw` was released by into_raw_fd and is owned here.
        let r = unsafe { Endpoint::from_raw_fd(raw) };
        let mut buf = [0u8; 16];
        assert_eq!(r.recv(&mut buf).unwrap(), 10);
        assert_eq!(&buf[..10], b"still open");
    }
}
