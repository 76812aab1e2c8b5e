//! Userspace side of simnic.
//!
//! This crate holds the uapi of `/dev/simnic` and [`Endpoint`], a thin safe
//! wrapper over the system calls a program makes on the device.
//!
//! The uapi is [`uapi`]: the file `rust/simnic/uapi.rs` that `simnic.ko`
//! compiles too, included here by path, so ioctl numbers, argument structs,
//! the wire header and the limits cannot drift apart between the module and
//! its users. The items a program needs are re-exported at the crate root.
//! [`aio_abi`] is the kernel's own Linux AIO ABI (`struct iocb`, the
//! `io_*` system calls), which the AIO model's programs use on the device.
//!
//! # The device model
//!
//! Every `open()` of [`DEVICE_PATH`] is an independent datagram endpoint with
//! its own receive queue, attached to a simulated NIC. A file shared by
//! `fork()` or `dup()` shares the endpoint.
//!
//! * **Ports.** An endpoint is bound to one port, `1..=65535`. `open()` binds
//!   it to a free ephemeral port (at least [`EPHEMERAL_PORT_FIRST`]);
//!   [`Endpoint::bind`] picks another (`EADDRINUSE` if an endpoint has it).
//!   Its default destination is its own port, so `write()` then `read()` on
//!   one descriptor still echoes; [`Endpoint::connect`] changes it.
//! * **Sending** (`write()`, [`Endpoint::send_to`]) puts one frame of
//!   `0..=`[`MAX_DATAGRAM`] payload bytes on the NIC's TX ring and returns at
//!   once: `EMSGSIZE` above that size, `ENOBUFS` when the TX ring has no free
//!   descriptor. It never blocks and never reports what happens on the wire.
//! * **The wire.** The simulated hardware transmits the frame onto the RX
//!   ring (after the wire delay, [`Endpoint::set_tx_delay_ns`], default 0)
//!   and raises an interrupt; the driver's NAPI-style poll takes frames off
//!   the RX ring (at most a budget per run) and delivers each to the endpoint
//!   bound to its destination port. Delivery is therefore asynchronous: a
//!   `read()` right after a `write()` may have to wait for it.
//! * **Drops.** A frame that finds the RX ring full, no endpoint on its
//!   destination port, or a full receive queue ([`RX_QUEUE_SLOTS`] datagrams
//!   or the receive buffer, [`RCVBUF_DEFAULT`] bytes by default, see
//!   [`Endpoint::set_rcvbuf`]) is dropped and counted ([`NicStats`],
//!   [`EpStats`]; [`counters`] says which counters are drops). The sender
//!   gets no error, as with UDP.
//! * **Receiving** (`read()`, [`Endpoint::recv_from`]) dequeues exactly one
//!   datagram, in FIFO order. A buffer shorter than the datagram receives its
//!   head and the rest is discarded (counted as truncated). On an empty queue
//!   it sleeps, or fails with `EAGAIN` when the file is `O_NONBLOCK`.
//! * **Readiness.** `poll()` reports `POLLIN` while a datagram is queued and
//!   `POLLOUT` while the TX ring has a free descriptor.
//! * **The mmap receive ring** ([`Endpoint::rx_ring_setup`], [`RxRing`]):
//!   datagrams delivered into memory the process maps, read in place with no
//!   system call; `poll()` then reports `POLLIN` while slots are unconsumed.
//! * **Instrumentation.** Ioctls read the NIC's and the endpoint's counters
//!   and the ring indices, reset the counters, set the wire delay, and start
//!   and stop the built-in traffic generator ([`GenFlow`]).
//! * The device is a stream: `lseek()` and positioned reads fail with
//!   `ESPIPE`.
//!
//! The wrapper deliberately does no retrying and no buffering: every method
//! is one system call, and its error is the raw `errno` in an
//! [`io::Error`] (see [`io::Error::raw_os_error`]; [`errno_name`] gives its
//! symbolic name and [`describe`] a message with both). Ports and sizes are
//! passed as the uapi's `u32`, unchecked, so that the driver is the one judge
//! of what is valid.

#![deny(missing_docs)]

#[path = "../../../rust/simnic/uapi.rs"]
pub mod uapi;

pub mod aio_abi;
mod c_header;
pub mod counters;
mod errno;
mod rx_ring;
pub mod wq;
mod py_module;

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use c_header::c_header;
pub use counters::{frames_unaccounted, nic_counter_kind, nic_counters_of, nic_dropped, NicCounterKind};
pub use py_module::{py_module, PY_MODULE_PATH};
pub use errno::{describe, errno_name};
pub use rx_ring::{poll_one, RxFrame, RxRing, SlotBytes};
pub use uapi::{
    rx_truesize, EpStats, FrameHeader, GenFlow, Limits, NicStats, RingState, AIO_READS_MAX, EPHEMERAL_PORT_FIRST,
    GEN_FLOWS, MAX_DATAGRAM, RCVBUF_DEFAULT, RCVBUF_MAX, RCVBUF_MIN, RMEM_MAX_DEFAULT,
    RX_MEM_MAX_DEFAULT, RX_QUEUE_SLOTS, SHUT_RD, SHUT_RDWR, SHUT_WR, SIMNIC_MSG_NOSIGNAL,
    SIMNIC_SHUT_RD_BIT, SIMNIC_SHUT_WR_BIT, TX_DELAY_MAX_NS, MiniPollFd, MiniEpollInfo, MiniPoll,
    MINI_EPOLL_CTL_ADD, MINI_EPOLL_CTL_DEL, MINI_EPOLL_CTL_MOD, MINI_EPOLL_MAX_USER_WATCHES_DEFAULT, MUX_DEVICE_PATH,
    RxRingDesc, RxRingReq, RxRingStats, RX_RING_MAX_BYTES, RX_RING_MAX_SLOTS, RX_RING_MAX_SLOT_SIZE,
    RX_RING_MIN_SLOTS, RX_RING_MIN_SLOT_SIZE, RX_RING_OFF_CONSUMER, RX_RING_OFF_PRODUCER, RX_RING_OFF_STATUS,
    RX_RING_PAGE_SIZE, RX_RING_STATUS_BAD_INDEX,
};

use uapi::{RecvFrom, SendTo};

/// Path of the device node that `simnic.ko` registers (a misc device, mode
/// 0666).
pub const DEVICE_PATH: &str = "/dev/simnic";

/// [`DEVICE_PATH`] as the C string handed to `open(2)`.
const DEVICE_PATH_C: &CStr = c"/dev/simnic";

/// Most datagrams an endpoint's receive queue holds ([`RX_QUEUE_SLOTS`]). A
/// datagram arriving at a full queue is dropped and counted, not refused.
pub const RX_QUEUE_MAX_DATAGRAMS: usize = RX_QUEUE_SLOTS;

/// Most payload bytes an endpoint's receive queue holds by default (the
/// receive buffer, [`RCVBUF_DEFAULT`]; datagrams a reader is still copying
/// out count). A datagram that would exceed it is dropped and counted.
pub const RX_QUEUE_MAX_BYTES: usize = RCVBUF_DEFAULT as usize;

/// The `flow` argument of [`Endpoint::gen_stop`] that stops every generator
/// flow.
pub const GEN_STOP_ALL: u32 = u32::MAX;

/// What [`Endpoint::recv_from`] received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvInfo {
    /// Bytes copied into the buffer: `min(buffer length, dgram_len)`.
    pub len: usize,
    /// The datagram's full payload length.
    pub dgram_len: usize,
    /// The sender's port; 0 for datagrams of the built-in generator.
    pub src_port: u32,
    /// The datagram was longer than the buffer and its tail was discarded.
    pub truncated: bool,
}

impl RecvInfo {
    /// Reads the driver's answer: `copied` is what the ioctl returned,
    /// `reply` the [`RecvFrom`] as the driver wrote it back.
    fn from_reply(copied: usize, reply: &RecvFrom) -> Self {
        Self {
            len: copied,
            dgram_len: reply.dgram_len as usize,
            src_port: reply.src_port,
            truncated: reply.flags & uapi::SIMNIC_MSG_TRUNC != 0,
        }
    }
}

/// One open file of `/dev/simnic`: a datagram endpoint.
///
/// Dropping it closes the file descriptor. It is not `Clone`: to share the
/// endpoint with another process, `fork()` while it is open.
#[derive(Debug)]
pub struct Endpoint {
    fd: RawFd,
}

/// A system call's return value, or the errno it failed with.
fn check(ret: libc::c_long) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// A length as the uapi's `u32`, saturated: anything that large is over
/// [`MAX_DATAGRAM`] anyway, which the driver rejects before touching the
/// buffer, whereas wrapping would describe a shorter, valid buffer.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

impl Endpoint {
    /// Opens a new endpoint in blocking mode: [`recv`](Self::recv) sleeps
    /// until a datagram arrives. The driver binds it to a free ephemeral
    /// port.
    pub fn open() -> io::Result<Self> {
        Self::open_cstr(DEVICE_PATH_C, false)
    }

    /// Opens a new endpoint with `O_NONBLOCK`: [`recv`](Self::recv) on an
    /// empty queue fails with `EAGAIN` ([`io::ErrorKind::WouldBlock`]).
    pub fn open_nonblocking() -> io::Result<Self> {
        Self::open_cstr(DEVICE_PATH_C, true)
    }

    /// Opens the device node at `path` (for a node created elsewhere than
    /// [`DEVICE_PATH`]), with `O_NONBLOCK` when `nonblocking`.
    ///
    /// A path containing a NUL byte is [`io::ErrorKind::InvalidInput`].
    pub fn open_at(path: impl AsRef<Path>, nonblocking: bool) -> io::Result<Self> {
        let path = CString::new(path.as_ref().as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Self::open_cstr(&path, nonblocking)
    }

    /// The one place the device is opened: read-write and close-on-exec,
    /// plus `O_NONBLOCK` when asked. Taking the path lets host tests run it
    /// against files that exist (or not) on any machine.
    fn open_cstr(path: &CStr, nonblocking: bool) -> io::Result<Self> {
        let mut flags = libc::O_RDWR | libc::O_CLOEXEC;
        if nonblocking {
            flags |= libc::O_NONBLOCK;
        }
        // SAFETY: `path` is a valid NUL-terminated string for the call.
        let fd = unsafe { libc::open(path.as_ptr(), flags) };
        check(fd.into())?;
        Ok(Self { fd })
    }

    /// `ioctl(fd, request, arg)`: `arg` is a pointer to the request's
    /// argument (a `#[repr(C)]` struct or integer of the size encoded in
    /// `request`), or null for a request without one.
    ///
    /// # Safety
    /// `arg` must be null or valid for the reads and writes the request
    /// makes (its direction and size).
    unsafe fn ioctl<T>(&self, request: u32, arg: *mut T) -> io::Result<usize> {
        // SAFETY: forwarded from the caller; the fd is ours.
        let ret = unsafe { libc::ioctl(self.fd, request as libc::Ioctl, arg) };
        check(ret.into())
    }

    /// An ioctl that reads `*arg` (the `_IOW` requests).
    fn ioctl_in<T>(&self, request: u32, arg: &T) -> io::Result<usize> {
        // SAFETY: `arg` is a live `T`, which the request only reads.
        unsafe { self.ioctl(request, (arg as *const T).cast_mut()) }
    }

    /// An ioctl that fills a `T` (the `_IOR` requests) and returns it.
    fn ioctl_out<T: Default>(&self, request: u32) -> io::Result<T> {
        let mut out = T::default();
        // SAFETY: `out` is a live, writable `T`.
        unsafe { self.ioctl(request, &mut out as *mut T) }?;
        Ok(out)
    }

    /// Binds the endpoint to `port` (`SIMNIC_IOC_BIND`), giving up the port
    /// it had. `1..=65535` binds that port; 0 picks a new free ephemeral
    /// port (see [`port`](Self::port)).
    ///
    /// `EADDRINUSE` when another endpoint has the port, `EINVAL` above
    /// 65535.
    pub fn bind(&self, port: u32) -> io::Result<()> {
        self.ioctl_in(uapi::SIMNIC_IOC_BIND, &port).map(drop)
    }

    /// Sets the default destination of [`send`](Self::send)
    /// (`SIMNIC_IOC_CONNECT`); 0 means the endpoint's own port (echo).
    pub fn connect(&self, port: u32) -> io::Result<()> {
        self.ioctl_in(uapi::SIMNIC_IOC_CONNECT, &port).map(drop)
    }

    /// The port the endpoint is bound to (`SIMNIC_IOC_GET_PORT`).
    pub fn port(&self) -> io::Result<u32> {
        self.ioctl_out(uapi::SIMNIC_IOC_GET_PORT)
    }

    /// Sends `datagram` to the default destination with one `write()` and
    /// returns the number of bytes sent, `datagram.len()` on success.
    ///
    /// Success means the frame is on the TX ring, not that it arrived: see
    /// the crate documentation for drops. Errors carry the device's errno:
    /// `EMSGSIZE` above [`MAX_DATAGRAM`], `ENOBUFS` when the TX ring is full.
    pub fn send(&self, datagram: &[u8]) -> io::Result<usize> {
        // SAFETY: the pointer and length describe the live slice.
        let n = unsafe { libc::write(self.fd, datagram.as_ptr().cast(), datagram.len()) };
        check(n as libc::c_long)
    }

    /// Sends `datagram` to `port` (`SIMNIC_IOC_SENDTO`) and returns the
    /// number of bytes sent. As [`send`](Self::send), plus `EINVAL` for a
    /// port outside `1..=65535`.
    pub fn send_to(&self, port: u32, datagram: &[u8]) -> io::Result<usize> {
        self.send_to_flags(port, datagram, 0)
    }

    /// As [`send_to`](Self::send_to), with [`SendTo::flags`]
    /// ([`SIMNIC_MSG_NOSIGNAL`]: no `SIGPIPE` after a shutdown for writing).
    pub fn send_to_flags(&self, port: u32, datagram: &[u8], flags: u32) -> io::Result<usize> {
        let arg = SendTo {
            buf: datagram.as_ptr() as u64,
            len: len_u32(datagram.len()),
            port,
            flags,
            reserved: 0,
        };
        self.ioctl_in(uapi::SIMNIC_IOC_SENDTO, &arg)
    }

    /// `shutdown()` (`SIMNIC_IOC_SHUTDOWN`): [`SHUT_RD`], [`SHUT_WR`] or
    /// [`SHUT_RDWR`]; `EINVAL` otherwise.
    pub fn shutdown(&self, how: u32) -> io::Result<()> {
        self.ioctl_in(uapi::SIMNIC_IOC_SHUTDOWN, &how).map(drop)
    }

    /// The NIC-wide memory limits and the receive memory charged now
    /// (`SIMNIC_IOC_GET_LIMITS`).
    pub fn limits(&self) -> io::Result<Limits> {
        self.ioctl_out(uapi::SIMNIC_IOC_GET_LIMITS)
    }

    /// Sets the NIC-wide memory limits (`SIMNIC_IOC_SET_LIMITS`,
    /// `CAP_NET_ADMIN`); `rx_mem` is ignored.
    pub fn set_limits(&self, limits: &Limits) -> io::Result<()> {
        self.ioctl_in(uapi::SIMNIC_IOC_SET_LIMITS, limits).map(drop)
    }

    /// Loops transmitted frames back to the RX ring (`true`, the default)
    /// or lets them leave and be lost (`SIMNIC_IOC_SET_LOOPBACK`,
    /// `CAP_NET_ADMIN`).
    pub fn set_loopback(&self, on: bool) -> io::Result<()> {
        self.ioctl_in(uapi::SIMNIC_IOC_SET_LOOPBACK, &u32::from(on)).map(drop)
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
        check(n as libc::c_long)
    }

    /// Receives one datagram (`SIMNIC_IOC_RECVFROM`) like
    /// [`recv`](Self::recv), and also tells its full length, its sender's
    /// port and whether it was truncated.
    ///
    /// With `dontwait` an empty queue fails with `EAGAIN` even on a blocking
    /// file (like `MSG_DONTWAIT`).
    pub fn recv_from(&self, buf: &mut [u8], dontwait: bool) -> io::Result<RecvInfo> {
        let mut arg = RecvFrom {
            buf: buf.as_mut_ptr() as u64,
            buf_len: len_u32(buf.len()),
            flags: if dontwait {
                uapi::SIMNIC_RECV_DONTWAIT
            } else {
                0
            },
            dgram_len: 0,
            src_port: 0,
        };
        // SAFETY: `arg` is a live RecvFrom the driver reads and writes back;
        // the buffer it describes is the live, writable `buf` (its length
        // saturated, never above `buf.len()`).
        let copied = unsafe { self.ioctl(uapi::SIMNIC_IOC_RECVFROM, &mut arg as *mut RecvFrom) }?;
        Ok(RecvInfo::from_reply(copied, &arg))
    }

    /// The payload length of the next datagram in the receive queue, 0 when
    /// it is empty (`FIONREAD`; a zero-length datagram also reads 0).
    pub fn pending_len(&self) -> io::Result<usize> {
        let n: libc::c_int = self.ioctl_out(uapi::FIONREAD)?;
        Ok(n as usize)
    }

    /// Sets the receive queue's byte limit (`SIMNIC_IOC_SET_RCVBUF`), in
    /// [`RCVBUF_MIN`]`..=`[`RCVBUF_MAX`] (`EINVAL` otherwise); without
    /// `CAP_NET_ADMIN` it is clamped to [`Limits::rmem_max`].
    pub fn set_rcvbuf(&self, bytes: u32) -> io::Result<()> {
        self.ioctl_in(uapi::SIMNIC_IOC_SET_RCVBUF, &bytes).map(drop)
    }

    /// This endpoint's counters (`SIMNIC_IOC_EP_STATS`).
    pub fn ep_stats(&self) -> io::Result<EpStats> {
        self.ioctl_out(uapi::SIMNIC_IOC_EP_STATS)
    }

    /// The NIC's counters (`SIMNIC_IOC_NIC_STATS`), shared by all endpoints.
    pub fn nic_stats(&self) -> io::Result<NicStats> {
        self.ioctl_out(uapi::SIMNIC_IOC_NIC_STATS)
    }

    /// A snapshot of the descriptor rings' indices and the interrupt state
    /// (`SIMNIC_IOC_RING_STATE`).
    pub fn ring_state(&self) -> io::Result<RingState> {
        self.ioctl_out(uapi::SIMNIC_IOC_RING_STATE)
    }

    /// Zeroes the NIC's counters (`SIMNIC_IOC_RESET_STATS`).
    pub fn reset_stats(&self) -> io::Result<()> {
        // SAFETY: the request takes no argument; null is never dereferenced.
        unsafe { self.ioctl(uapi::SIMNIC_IOC_RESET_STATS, std::ptr::null_mut::<u8>()) }.map(drop)
    }

    /// Starts, or reconfigures, generator flow `flow.flow`
    /// (`SIMNIC_IOC_GEN_START`). `EINVAL` for a flow index, port, payload
    /// length, rate or burst out of range, or a nonzero `reserved`.
    ///
    /// Generated datagrams have source port 0; their payload starts with the
    /// flow index (`u32`, little-endian) and a sequence number (`u64`,
    /// little-endian, from 0), cut to the payload length, and the rest is
    /// zero.
    pub fn gen_start(&self, flow: &GenFlow) -> io::Result<()> {
        self.ioctl_in(uapi::SIMNIC_IOC_GEN_START, flow).map(drop)
    }

    /// Stops generator flow `flow`, or all of them with [`GEN_STOP_ALL`]
    /// (`SIMNIC_IOC_GEN_STOP`).
    pub fn gen_stop(&self, flow: u32) -> io::Result<()> {
        self.ioctl_in(uapi::SIMNIC_IOC_GEN_STOP, &flow).map(drop)
    }

    /// Sets the wire delay between a frame's transmission and its arrival
    /// on the RX ring (`SIMNIC_IOC_SET_TX_DELAY`), at most
    /// [`TX_DELAY_MAX_NS`] (`EINVAL` above).
    pub fn set_tx_delay_ns(&self, ns: u64) -> io::Result<()> {
        self.ioctl_in(uapi::SIMNIC_IOC_SET_TX_DELAY, &ns).map(drop)
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
mod tests;

/// The module's own multiplexers, on [`MUX_DEVICE_PATH`]: an open is a
/// mini-epoll instance ([`MiniEpoll::ctl`], [`MiniEpoll::wait`]), and
/// [`MiniEpoll::mini_poll`] is `poll(2)` done by the module's `do_poll`.
/// Each method is one `ioctl`.
#[derive(Debug)]
pub struct MiniEpoll {
    fd: RawFd,
}

impl MiniEpoll {
    /// Opens the node: a new, empty instance (`epoll_create`).
    pub fn open() -> io::Result<Self> {
        let path = CString::new(uapi::MUX_DEVICE_PATH).expect("no NUL in the path");
        // SAFETY: a valid NUL-terminated path.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        check(fd.into())?;
        Ok(Self { fd })
    }

    fn ioctl<T>(&self, request: u32, arg: *mut T) -> io::Result<usize> {
        // SAFETY: every request of this node takes a pointer to its struct,
        // which the callers pass live and of the right type.
        let ret = unsafe { libc::ioctl(self.fd, request as libc::Ioctl, arg) };
        check(ret.into())
    }

    /// `epoll_ctl(op, fd, events, data)` (`SIMNIC_MUX_IOC_CTL`); `op` is one
    /// of [`MINI_EPOLL_CTL_ADD`], [`MINI_EPOLL_CTL_DEL`],
    /// [`MINI_EPOLL_CTL_MOD`].
    pub fn ctl(&self, op: u32, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut c = uapi::MiniEpollCtl { op, fd, events, reserved: 0, data };
        self.ioctl(uapi::SIMNIC_MUX_IOC_CTL, &mut c).map(drop)
    }

    /// `epoll_wait` (`SIMNIC_MUX_IOC_WAIT`): up to `max` events as
    /// `(events, data)`, waiting up to `timeout_ms` (negative: forever).
    pub fn wait(&self, max: usize, timeout_ms: i32) -> io::Result<Vec<(u32, u64)>> {
        let mut ev = vec![uapi::MiniEpollEvent::default(); max.max(1)];
        let n = self.wait_into(&mut ev[..max], timeout_ms)?;
        Ok(ev[..n].iter().map(|e| (e.events, e.data)).collect())
    }

    /// [`Self::wait`] into the caller's buffer (`epoll_wait(fd, events,
    /// events.len(), timeout_ms)`), allocating nothing; returns how many
    /// events it filled.
    pub fn wait_into(&self, events: &mut [uapi::MiniEpollEvent], timeout_ms: i32) -> io::Result<usize> {
        let mut w = uapi::MiniEpollWait {
            events: events.as_mut_ptr() as u64,
            maxevents: len_u32(events.len()),
            timeout_ms,
        };
        self.ioctl(uapi::SIMNIC_MUX_IOC_WAIT, &mut w)
    }

    /// Sets `max_user_watches`, the most items one user's instances hold
    /// together (`SIMNIC_MUX_IOC_SET_LIMITS`; `CAP_SYS_ADMIN`).
    pub fn set_max_user_watches(&self, max: u32) -> io::Result<()> {
        let mut l = uapi::MiniEpollLimits { max_user_watches: max, reserved: 0 };
        self.ioctl(uapi::SIMNIC_MUX_IOC_SET_LIMITS, &mut l).map(drop)
    }

    /// The instance's counters (`SIMNIC_MUX_IOC_INFO`).
    pub fn info(&self) -> io::Result<uapi::MiniEpollInfo> {
        let mut i = uapi::MiniEpollInfo::default();
        self.ioctl(uapi::SIMNIC_MUX_IOC_INFO, &mut i)?;
        Ok(i)
    }

    /// `poll(fds, timeout_ms)` done by the module (`SIMNIC_MUX_IOC_POLL`):
    /// fills each `revents` and returns how many are ready, and what the
    /// call did (rescans, entries, wake-ups).
    pub fn mini_poll(&self, fds: &mut [uapi::MiniPollFd], timeout_ms: i32) -> io::Result<(usize, uapi::MiniPoll)> {
        let mut p = uapi::MiniPoll {
            fds: fds.as_mut_ptr() as u64,
            nfds: len_u32(fds.len()),
            timeout_ms,
            ..Default::default()
        };
        let n = self.ioctl(uapi::SIMNIC_MUX_IOC_POLL, &mut p)?;
        Ok((n, p))
    }
}

impl Drop for MiniEpoll {
    fn drop(&mut self) {
        // SAFETY: our descriptor, closed once.
        unsafe { libc::close(self.fd) };
    }
}

impl AsRawFd for MiniEpoll {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl FromRawFd for MiniEpoll {
    /// Takes ownership of `fd`, an open instance, which [`Drop`] will close.
    ///
    /// # Safety
    /// `fd` must be an open descriptor of the multiplexer node that nothing
    /// else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> Self {
        Self { fd }
    }
}
