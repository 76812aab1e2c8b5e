//! Wake-up latency of a blocked reader: a ping-pong between two threads.
//!
//! Thread A stamps `CLOCK_MONOTONIC` into a datagram and sends it; thread B,
//! blocked in `read()`, wakes, stamps its arrival (one-way latency: B's
//! clock minus A's stamp, one clock for the whole guest) and sends the
//! datagram back; A, blocked in `read()` meanwhile, takes the round trip
//! time. Before each send, A waits until B is asleep (`S` in
//! `/proc/self/task/<tid>/stat`), so that every sample is a wake-up of a
//! sleeping reader and not a reader that found data already queued.

use crate::progress::Progress;
use crate::stats::Summary;
use crate::sys;
use crate::sys::Pinning;
use simnic::{Endpoint, NicStats};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::{mpsc, Arc, Mutex};

use crate::receiver::{Method, Receiver};

/// Which end of a ping-pong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// A bidirectional link between thread A and thread B.
pub enum Link {
    /// Two eventfds, one per direction; the 8-byte counter carries the stamp.
    Eventfd { ab: OwnedFd, ba: OwnedFd },
    /// Two UDP sockets on 127.0.0.1, connected to each other.
    Udp { a: OwnedFd, b: OwnedFd },
    /// Two simnic endpoints, connected to each other's port.
    Simnic { a: Endpoint, b: Endpoint },
    /// Two connected simnic endpoints (`simnic`) or UDP sockets, B receiving
    /// through `rx` (epoll, io_uring, AIO...) instead of `read()`.
    Via {
        a: OwnedFd,
        b: OwnedFd,
        rx: Box<Mutex<Receiver>>,
        simnic: bool,
    },
}

impl Link {
    /// An eventfd pair.
    pub fn eventfd() -> io::Result<Self> {
        Ok(Link::Eventfd {
            ab: sys::eventfd()?,
            ba: sys::eventfd()?,
        })
    }

    /// A connected pair of UDP sockets on 127.0.0.1.
    pub fn udp() -> io::Result<Self> {
        let (a, pa) = sys::udp_bound()?;
        let (b, pb) = sys::udp_bound()?;
        sys::udp_connect(&a, pb)?;
        sys::udp_connect(&b, pa)?;
        Ok(Link::Udp { a, b })
    }

    /// A connected pair of simnic endpoints.
    pub fn simnic() -> io::Result<Self> {
        let a = Endpoint::open()?;
        let b = Endpoint::open()?;
        a.connect(b.port()?)?;
        b.connect(a.port()?)?;
        Ok(Link::Simnic { a, b })
    }

    /// A connected pair, simnic endpoints or UDP sockets, whose B side
    /// receives with `method` (`depth` requests in flight; a ring of
    /// `ring_slots` slots).
    pub fn via(
        simnic: bool,
        method: Method,
        depth: usize,
        payload: usize,
        ring_slots: u32,
    ) -> io::Result<Self> {
        let (a, b): (OwnedFd, OwnedFd) = if simnic {
            let (a, b) = (Endpoint::open()?, Endpoint::open()?);
            a.connect(b.port()?)?;
            b.connect(a.port()?)?;
            // SAFETY: each endpoint hands over its descriptor, which nothing
            // else owns.
            unsafe {
                (
                    OwnedFd::from_raw_fd(a.into_raw_fd()),
                    OwnedFd::from_raw_fd(b.into_raw_fd()),
                )
            }
        } else {
            let (a, pa) = sys::udp_bound()?;
            let (b, pb) = sys::udp_bound()?;
            sys::udp_connect(&a, pb)?;
            sys::udp_connect(&b, pa)?;
            (a, b)
        };
        let rx = Receiver::new(method, b.as_raw_fd(), depth, payload.max(16), ring_slots)?;
        Ok(Link::Via {
            a,
            b,
            rx: Box::new(Mutex::new(rx)),
            simnic,
        })
    }

    /// Whether the messages cross simnic (whose hardware thread the pinned
    /// placements bind).
    pub fn is_simnic(&self) -> bool {
        matches!(self, Link::Simnic { .. } | Link::Via { simnic: true, .. })
    }

    /// Bytes a message has on this link: an eventfd moves exactly 8.
    pub fn message_len(&self, want: usize) -> usize {
        match self {
            Link::Eventfd { .. } => 8,
            _ => want.max(16),
        }
    }

    /// Sends `buf` from `side` to the other side. A simnic TX ring that is
    /// full (`ENOBUFS`, not expected with one message in flight) is waited
    /// out by yielding; the retries are counted in `busy`.
    pub fn send(&self, from: Side, buf: &[u8], busy: &mut u64) -> io::Result<()> {
        match self {
            Link::Eventfd { ab, ba } => {
                let fd = if from == Side::A { ab } else { ba };
                sys::write_fd(fd.as_raw_fd(), &buf[..8]).map(drop)
            }
            Link::Udp { a, b } => {
                let fd = if from == Side::A { a } else { b };
                sys::write_fd(fd.as_raw_fd(), buf).map(drop)
            }
            Link::Simnic { a, b } => {
                let ep = if from == Side::A { a } else { b };
                loop {
                    match ep.send(buf) {
                        Ok(_) => return Ok(()),
                        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                            *busy += 1;
                            sys::yield_cpu();
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Link::Via { a, b, .. } => {
                let fd = if from == Side::A { a } else { b };
                loop {
                    match sys::write_fd(fd.as_raw_fd(), buf) {
                        Ok(_) => return Ok(()),
                        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                            *busy += 1;
                            sys::yield_cpu();
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// Receives one message at `side`, blocking.
    pub fn recv(&self, at: Side, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Link::Eventfd { ab, ba } => {
                let fd = if at == Side::B { ab } else { ba };
                sys::read_fd(fd.as_raw_fd(), &mut buf[..8])
            }
            Link::Udp { a, b } => sys::read_fd(if at == Side::A { a } else { b }.as_raw_fd(), buf),
            Link::Simnic { a, b } => if at == Side::A { a } else { b }.recv(buf),
            Link::Via { a, rx, .. } => match at {
                Side::A => sys::read_fd(a.as_raw_fd(), buf),
                Side::B => rx
                    .lock()
                    .map_err(|_| io::Error::other("receiver poisoned"))?
                    .recv(buf),
            },
        }
    }

    /// Receives one message at B, blocking, and hands its bytes to `f`
    /// where the receive left them (a `Via` receiver's own buffer or ring
    /// slot: nothing is copied for `f`); returns what `f` returns.
    pub fn recv_b_with<R>(&self, buf: &mut [u8], f: impl FnOnce(&[u8]) -> R) -> io::Result<R> {
        match self {
            Link::Via { rx, .. } => rx
                .lock()
                .map_err(|_| io::Error::other("receiver poisoned"))?
                .recv_with(f),
            _ => {
                let n = self.recv(Side::B, buf)?;
                Ok(f(&buf[..n]))
            }
        }
    }

    fn simnic_reader(&self) -> Option<&Endpoint> {
        match self {
            Link::Simnic { b, .. } => Some(b),
            _ => None,
        }
    }
}

/// What ping-pongs on one kind of link measured: the samples of every
/// block run so far, pooled.
#[derive(Default)]
pub struct LatencyResult {
    /// Bytes per message.
    pub message_len: usize,
    /// A's send to B's read returning, nanoseconds, per measured round.
    pub oneway: Vec<u64>,
    /// Half of A's round trip, nanoseconds, per measured round.
    pub half_rtt: Vec<u64>,
    /// The one-way median of each block, in the order they ran.
    pub block_p50: Vec<u64>,
    /// Polls of B's state that found it not asleep yet (A waits for it).
    pub not_asleep_polls: u64,
    /// simnic only: datagrams that woke B through `data_ready` (the
    /// endpoint's `wakeups` counter), and the NIC counters' change, over the
    /// measured rounds.
    pub simnic: Option<(u64, NicStats)>,
    /// `ENOBUFS` retries.
    pub tx_busy_retries: u64,
    /// The thread ids of A and B (both block in `read()`), of the last run.
    pub reader_tids: Vec<libc::pid_t>,
}

impl LatencyResult {
    pub fn oneway(&self) -> Summary {
        Summary::of(&self.oneway)
    }
    pub fn half_rtt(&self) -> Summary {
        Summary::of(&self.half_rtt)
    }
}

fn put_u64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

fn get_u64(buf: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

/// Runs `warmup + rounds` round trips on `link` and adds the last `rounds`
/// to `acc`. The calling thread is A; with `pin`, it is bound for the
/// ping-pong and unbound again after.
pub fn ping_pong(
    link: Link,
    payload: usize,
    rounds: usize,
    warmup: usize,
    pin: Pinning,
    progress: &Progress,
    acc: &mut LatencyResult,
) -> io::Result<()> {
    let link = Arc::new(link);
    let len = link.message_len(payload);
    let total = warmup + rounds;

    // Thread B: the echoing reader. An error there cannot be handed to A,
    // which would sit in read() forever: it ends the program.
    let (tid_tx, tid_rx) = mpsc::channel();
    let lb = Arc::clone(&link);
    let b = std::thread::Builder::new()
        .name("pong".into())
        .spawn(move || {
            if let Some((_, cpu)) = pin.cpus() {
                if let Err(e) = sys::pin_to_cpu(cpu) {
                    eprintln!("simnic-bench: binding the latency reader to CPU {cpu}: {e}");
                    std::process::exit(1);
                }
            }
            tid_tx.send(sys::gettid()).expect("main thread alive");
            let mut buf = vec![0u8; len];
            let mut oneway = Vec::with_capacity(total);
            let mut busy = 0;
            for _ in 0..total {
                // The echo goes out from where the message was received
                // (the ring's slot is handed back after the send).
                let r = lb
                    .recv_b_with(&mut buf, |m| {
                        let t = sys::now_ns();
                        oneway.push(t.saturating_sub(get_u64(m, 0)));
                        lb.send(Side::B, m, &mut busy)
                    })
                    .and_then(|r| r);
                if let Err(e) = r {
                    eprintln!("simnic-bench: latency reader: {}", simnic::describe(&e));
                    std::process::exit(1);
                }
            }
            (oneway, busy)
        })?;
    let b_tid = tid_rx
        .recv()
        .map_err(|_| io::Error::other("reader thread died"))?;
    let mut engine = None;
    if let Some((cpu, _)) = pin.cpus() {
        sys::pin_to_cpu(cpu)?;
        if link.is_simnic() {
            engine = Some(sys::EnginePin::new(cpu)?);
        }
    }

    let mut buf = vec![0u8; len];
    let mut rtt = Vec::with_capacity(total);
    let mut busy = 0;
    let mut not_asleep_polls = 0;
    let mut simnic_before = None;
    for i in 0..total {
        if i == warmup {
            if let Some(ep) = link.simnic_reader() {
                simnic_before = Some((ep.ep_stats()?.wakeups, ep.nic_stats()?));
            }
        }
        // B must be asleep in read(): only then is this a wake-up.
        while sys::thread_state(b_tid)? != b'S' {
            not_asleep_polls += 1;
            sys::yield_cpu();
        }
        let t0 = sys::now_ns();
        put_u64(&mut buf, 0, t0);
        if len >= 16 {
            put_u64(&mut buf, 8, i as u64);
        }
        link.send(Side::A, &buf, &mut busy)?;
        let n = link.recv(Side::A, &mut buf)?;
        let t1 = sys::now_ns();
        if n != len || get_u64(&buf, 0) != t0 {
            return Err(io::Error::other(format!(
                "round {i}: echo of {n} bytes does not match what was sent"
            )));
        }
        rtt.push(t1 - t0);
        progress.bump();
    }
    let (oneway, b_busy) = b
        .join()
        .map_err(|_| io::Error::other("reader thread panicked"))?;
    drop(engine);
    if pin.cpus().is_some() {
        sys::unpin()?;
    }

    if let (Some(ep), Some((w0, s0))) = (link.simnic_reader(), simnic_before) {
        let (w, d) = (
            ep.ep_stats()?.wakeups - w0,
            crate::stats::nic_delta(&s0, &ep.nic_stats()?),
        );
        acc.simnic = Some(match acc.simnic {
            Some((aw, ad)) => (aw + w, crate::stats::nic_sum(&ad, &d)),
            None => (w, d),
        });
    }
    acc.reader_tids = vec![sys::gettid(), b_tid];
    acc.message_len = len;
    acc.block_p50.push(Summary::of(&oneway[warmup..]).p50);
    acc.oneway.extend_from_slice(&oneway[warmup..]);
    acc.half_rtt.extend(rtt[warmup..].iter().map(|t| t / 2));
    acc.not_asleep_polls += not_asleep_polls;
    acc.tx_busy_retries += busy + b_busy;
    Ok(())
}
