//! One datagram at a time through each way a process can receive one: a
//! blocking `read()`; `epoll_wait()` then `read()` (level-triggered, the
//! descriptor nonblocking); io_uring (`IORING_OP_READ`, `depth` of them in
//! flight, each resubmitted when it completes); Linux AIO (`IOCB_CMD_PREAD`,
//! `depth` of them posted, each posted again when it completes); simnic's
//! mmap receive ring (Documentation/models/mmap.rst: `poll()` while the ring
//! is empty, then the datagram taken in place in its slot, no `read()`).
//! The latency and throughput tests call [`Receiver::recv_with`] the same
//! way whatever the method, so their numbers differ by the receive path
//! only.

use crate::sys;
use io_uring::{opcode, types, IoUring};
use simnic::aio_abi::{self, AioContextId, IoEvent, Iocb};
use simnic::{Endpoint, RxRing};
use std::collections::VecDeque;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, RawFd};

/// How a receiver waits for and takes a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Read,
    EpollRead,
    IoUring,
    Aio,
    /// simnic only: an mmap receive ring on the endpoint.
    MmapRing,
}

impl Method {
    pub fn label(self) -> &'static str {
        match self {
            Method::Read => "read()",
            Method::EpollRead => "epoll_wait + read()",
            Method::IoUring => "io_uring READ",
            Method::Aio => "AIO io_submit/io_getevents",
            Method::MmapRing => "mmap ring (poll, slot in place)",
        }
    }
}

enum Kind {
    Read,
    EpollRead(sys::Epoll),
    IoUring(Box<IoUring>),
    Aio { ctx: AioContextId, iocbs: Vec<Iocb> },
    Ring(RxRing),
}

/// A receiver on one descriptor.
///
/// The buffers of the requests in flight are leaked, not freed: an
/// io_uring closed with reads in flight cancels them in the background,
/// and a benchmark process lives only for its run.
pub struct Receiver {
    fd: RawFd,
    kind: Kind,
    bufs: Vec<&'static mut [u8]>,
    /// Completed requests not handed out yet: (slot, result).
    ready: VecDeque<(usize, i64)>,
    /// What `read()` fills (read, epoll + read).
    scratch: Vec<u8>,
}

// SAFETY: the ring, the AIO context and the buffers may be used from any
// thread of the process; a receiver is used by one thread at a time.
unsafe impl Send for Receiver {}

fn check(r: i64) -> io::Result<i64> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Receiver {
    /// A receiver for `fd` (which `EpollRead` makes nonblocking), with
    /// `depth` reads in flight for io_uring and AIO, each of `len` bytes.
    /// `MmapRing`: `fd` must be a simnic endpoint, which gets a ring of
    /// `ring_slots` slots (a power of two) large enough for `len` bytes.
    pub fn new(
        method: Method,
        fd: RawFd,
        depth: usize,
        len: usize,
        ring_slots: u32,
    ) -> io::Result<Self> {
        let depth = depth.max(1);
        let n = if matches!(method, Method::IoUring | Method::Aio) {
            depth
        } else {
            0
        };
        let bufs = (0..n)
            .map(|_| Box::leak(vec![0u8; len].into_boxed_slice()))
            .collect();
        let kind = match method {
            Method::Read => Kind::Read,
            Method::EpollRead => {
                // SAFETY: plain fcntl calls on our descriptor.
                unsafe {
                    let fl = libc::fcntl(fd, libc::F_GETFL);
                    check(libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK).into())?;
                }
                let ep = sys::Epoll::new()?;
                ep.add(fd, libc::EPOLLIN as u32, 0)?;
                Kind::EpollRead(ep)
            }
            Method::IoUring => Kind::IoUring(Box::new(IoUring::new((2 * depth) as u32)?)),
            Method::Aio => Kind::Aio {
                ctx: aio_abi::io_setup((2 * depth) as u32)?,
                iocbs: vec![Iocb::default(); depth],
            },
            Method::MmapRing => {
                // SAFETY: `fd` is the caller's open endpoint, which outlives
                // the receiver; ManuallyDrop never closes it.
                let ep = ManuallyDrop::new(unsafe { Endpoint::from_raw_fd(fd) });
                let slot = (len.max(64) as u32).next_power_of_two();
                let layout = ep.rx_ring_setup(ring_slots, slot)?;
                Kind::Ring(RxRing::map(&ep, &layout)?)
            }
        };
        let mut r = Self {
            fd,
            kind,
            bufs,
            ready: VecDeque::new(),
            scratch: vec![0u8; len.max(1)],
        };
        for slot in 0..n {
            r.submit(slot)?;
        }
        Ok(r)
    }

    /// Submits the read of slot `slot` (io_uring, AIO).
    fn submit(&mut self, slot: usize) -> io::Result<()> {
        let buf = &mut self.bufs[slot];
        match &mut self.kind {
            Kind::IoUring(ring) => {
                let e = opcode::Read::new(types::Fd(self.fd), buf.as_mut_ptr(), buf.len() as u32)
                    .offset(u64::MAX)
                    .build()
                    .user_data(slot as u64);
                // SAFETY: the buffer is leaked: it outlives the request.
                unsafe { ring.submission().push(&e) }
                    .map_err(|_| io::Error::other("io_uring SQ full"))?;
                ring.submit()?;
            }
            Kind::Aio { ctx, iocbs } => {
                let cb = &mut iocbs[slot];
                *cb = Iocb::pread(self.fd, buf.as_mut_ptr(), buf.len(), slot as u64);
                // SAFETY: one valid iocb, in a vector that is never resized and
                // outlives the request (io_destroy on drop waits for it); a
                // leaked buffer.
                unsafe { aio_abi::io_submit(*ctx, &mut [cb as *mut Iocb]) }?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Waits for completions (io_uring, AIO) and queues them in `ready`.
    fn reap(&mut self) -> io::Result<()> {
        match &mut self.kind {
            Kind::IoUring(ring) => {
                while ring.completion().is_empty() {
                    match ring.submit_and_wait(1) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                self.ready.extend(
                    ring.completion()
                        .map(|c| (c.user_data() as usize, c.result() as i64)),
                );
            }
            Kind::Aio { ctx, iocbs } => {
                let mut ev = vec![IoEvent::default(); iocbs.len()];
                loop {
                    match aio_abi::io_getevents(*ctx, 1, &mut ev, None) {
                        Ok(n) => {
                            self.ready
                                .extend(ev[..n].iter().map(|e| (e.data as usize, e.res)));
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Receives one datagram, waiting for it, and hands its bytes to `f`:
    /// in the buffer `read()` filled, in the request's own buffer (io_uring,
    /// AIO: the kernel filled it), or in its ring slot (mmap ring: the slot
    /// goes back to the kernel after `f`). Returns what `f` returns.
    pub fn recv_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> io::Result<R> {
        match &mut self.kind {
            Kind::Read => {
                let n = sys::read_fd(self.fd, &mut self.scratch)?;
                return Ok(f(&self.scratch[..n]));
            }
            Kind::EpollRead(ep) => {
                let mut ev = [libc::epoll_event { events: 0, u64: 0 }];
                loop {
                    match ep.wait(&mut ev) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                    match sys::read_fd(self.fd, &mut self.scratch) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(e) => return Err(e),
                        Ok(n) => return Ok(f(&self.scratch[..n])),
                    }
                }
            }
            Kind::Ring(ring) => return ring_recv(self.fd, ring, f),
            _ => {}
        }
        while self.ready.is_empty() {
            self.reap()?;
        }
        let (slot, res) = self.ready.pop_front().expect("a completion");
        if res < 0 {
            return Err(io::Error::from_raw_os_error(-res as i32));
        }
        let n = (res as usize).min(self.bufs[slot].len());
        let r = f(&self.bufs[slot][..n]);
        self.submit(slot)?;
        Ok(r)
    }

    /// [`Self::recv_with`] copying at most `buf.len()` bytes into `buf`;
    /// returns the datagram's length.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_with(|p| {
            let m = p.len().min(buf.len());
            buf[..m].copy_from_slice(&p[..m]);
            p.len()
        })
    }
}

/// The mmap ring's receive: the oldest published slot if there is one,
/// else `poll(POLLIN)` on the endpoint until there is (`data_ready` wakes
/// it); the slot is read (atomic loads into a stack buffer: the kernel may
/// write shared memory at any time, so no `&[u8]` into it exists), `f`
/// gets the bytes, then the slot is handed back. Only `next_frame`,
/// `advance` and the frame's payload are used.
fn ring_recv<R>(fd: RawFd, ring: &mut RxRing, f: impl FnOnce(&[u8]) -> R) -> io::Result<R> {
    let mut small = [0u8; 2048];
    let mut big = Vec::new();
    loop {
        if let Some(frame) = ring.next_frame() {
            let len = frame.payload.len();
            let buf: &mut [u8] = if len <= small.len() {
                &mut small[..len]
            } else {
                big.resize(len, 0);
                &mut big[..]
            };
            frame.payload.copy_to(buf);
            let r = f(buf);
            ring.advance(1);
            return Ok(r);
        }
        match simnic::poll_one(fd, libc::POLLIN, -1) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Kind::Aio { ctx, .. } = self.kind {
            // Our context: cancels the posted reads and waits for them,
            // before the iocbs go. An error has no one to go to.
            let _ = aio_abi::io_destroy(ctx);
        }
    }
}
