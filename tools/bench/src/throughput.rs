//! Datagram throughput through the whole receive path, for a fixed time.
//!
//! Each test has a reader thread draining one receiver with blocking
//! `read()`s in a loop, and a source: the NIC's built-in generator, a writer
//! thread sending to the reader through the NIC (TX ring, hardware thread,
//! RX ring, interrupt, poll), or a writer thread on a UDP socket. After a
//! warm-up, the counters are snapshotted, the test runs for the window, and
//! they are snapshotted again: the rates are the differences over the
//! window's measured length. Drops come from the kernel's own counters (the
//! NIC's, or `/proc/net/snmp` for UDP) over the same window.
//!
//! The many-endpoint tests spread the same traffic over N receivers: a
//! writer sends round-robin to N endpoints (or N UDP sockets), each on its
//! own port, and one reader drains all N through one level-triggered epoll
//! set, one datagram per reported descriptor per `epoll_wait`. With N = 1
//! the same code gives the like-for-like single-endpoint rate.

use crate::progress::Progress;
use crate::receiver::{Method, Receiver};
use crate::stats::nic_delta;
use crate::sys::{self, Pinning};
use simnic::{Endpoint, GenFlow, NicStats, GEN_STOP_ALL};
use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What a throughput test measured over its window, or over the windows of
/// all its blocks together.
#[derive(Default)]
pub struct ThroughputResult {
    /// The window, seconds.
    pub secs: f64,
    /// Datagrams offered: sent by the writer, or made by the generator.
    pub offered: u64,
    /// Datagrams the reader's `read()` returned.
    pub received: u64,
    /// Datagrams the kernel counted as dropped.
    pub dropped: u64,
    /// Sends refused with `ENOBUFS`/`EAGAIN` (and retried).
    pub busy: u64,
    /// CPU time the writer thread used over the window, nanoseconds (its
    /// `CLOCK_THREAD_CPUTIME_ID`, published every [`CPU_EVERY`] sends).
    pub writer_cpu_ns: u64,
    /// CPU time the reader thread used over the window (likewise).
    pub reader_cpu_ns: u64,
    /// simnic: the NIC counters' change over the window.
    pub nic: Option<NicStats>,
    /// UDP: the `Udp:` counters' change over the window.
    pub udp: Option<BTreeMap<String, u64>>,
    /// Received per second in each block, in the order they ran.
    pub block_rates: Vec<f64>,
    /// The epoll reader's calls, when the reader used epoll.
    pub epoll: Option<EpollCounts>,
    /// simnic, one receiving endpoint: the times `data_ready` woke its
    /// reader (the endpoint's `wakeups` counter) over the window.
    pub wakeups: Option<u64>,
}

/// What an epoll reader did over a window.
#[derive(Clone, Copy, Debug, Default)]
pub struct EpollCounts {
    /// `epoll_wait` calls that returned at least one event.
    pub waits: u64,
    /// Events they returned.
    pub events: u64,
    /// Reads of a reported descriptor that found nothing (`EAGAIN`).
    pub empty_reads: u64,
}

impl ThroughputResult {
    pub fn offered_per_sec(&self) -> f64 {
        self.offered as f64 / self.secs
    }
    pub fn received_per_sec(&self) -> f64 {
        self.received as f64 / self.secs
    }
    pub fn drop_pct(&self) -> f64 {
        if self.offered == 0 {
            0.0
        } else {
            100.0 * self.dropped as f64 / self.offered as f64
        }
    }
    pub fn busy_per_sec(&self) -> f64 {
        self.busy as f64 / self.secs
    }
    /// The writer's CPU time per datagram sent, nanoseconds.
    pub fn writer_cpu_per_dgram(&self) -> f64 {
        self.writer_cpu_ns as f64 / self.offered.max(1) as f64
    }
    /// The reader's CPU time per datagram received, nanoseconds.
    pub fn reader_cpu_per_dgram(&self) -> f64 {
        self.reader_cpu_ns as f64 / self.received.max(1) as f64
    }
    /// The share of the window the reader spent on a CPU: near 1, the
    /// reader is what limits the rate.
    pub fn reader_busy(&self) -> f64 {
        self.reader_cpu_ns as f64 / (self.secs * 1e9)
    }
    /// Wake-ups of the reader per datagram received, when counted.
    pub fn wakeups_per_dgram(&self) -> Option<f64> {
        self.wakeups.map(|w| w as f64 / self.received.max(1) as f64)
    }

    /// Adds one block's window to the totals.
    pub fn absorb(&mut self, b: ThroughputResult) {
        self.block_rates.push(b.received_per_sec());
        self.secs += b.secs;
        self.offered += b.offered;
        self.received += b.received;
        self.dropped += b.dropped;
        self.busy += b.busy;
        self.writer_cpu_ns += b.writer_cpu_ns;
        self.reader_cpu_ns += b.reader_cpu_ns;
        if let Some(n) = b.nic {
            self.nic = Some(match self.nic {
                Some(a) => crate::stats::nic_sum(&a, &n),
                None => n,
            });
        }
        if let Some(w) = b.wakeups {
            *self.wakeups.get_or_insert(0) += w;
        }
        if let Some(e) = b.epoll {
            let acc = self.epoll.get_or_insert_with(EpollCounts::default);
            acc.waits += e.waits;
            acc.events += e.events;
            acc.empty_reads += e.empty_reads;
        }
        if let Some(u) = b.udp {
            let mut acc = self.udp.take().unwrap_or_default();
            for (k, v) in u {
                *acc.entry(k).or_insert(0) += v;
            }
            self.udp = Some(acc);
        }
    }
}

/// The reader and the writer publish their CPU time once every this many
/// datagrams (the epoll reader: after the batch that crossed a multiple):
/// often enough for windows of thousands, rarely enough to cost next to
/// nothing, and as often for every reader so that the cost is the same.
pub const CPU_EVERY: u64 = 32;

/// Counters the reader and writer threads publish.
#[derive(Default)]
struct Shared {
    received: AtomicU64,
    sent: AtomicU64,
    busy: AtomicU64,
    stop_writer: AtomicBool,
    stop_reader: AtomicBool,
    /// The writer's and the reader's thread CPU time, nanoseconds, as last
    /// published.
    writer_cpu: AtomicU64,
    reader_cpu: AtomicU64,
    reader_done: AtomicBool,
    /// The epoll reader's [`EpollCounts`], as they grow.
    waits: AtomicU64,
    events: AtomicU64,
    empty_reads: AtomicU64,
}

fn die(what: &str, e: &io::Error) -> ! {
    eprintln!("simnic-bench: {what}: {}", simnic::describe(e));
    std::process::exit(1);
}

/// The reader, the second thread of `pin`: blocking receives until told to
/// stop. The datagram that finds the stop flag set is not counted.
fn spawn_reader(
    pin: Pinning,
    sh: &Arc<Shared>,
    progress: &Arc<Progress>,
    size: usize,
    mut recv: impl FnMut(&mut [u8]) -> io::Result<usize> + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    let cpu = pin.cpus().map(|c| c.1);
    let (sh, progress) = (Arc::clone(sh), Arc::clone(progress));
    std::thread::Builder::new()
        .name("reader".into())
        .spawn(move || {
            if let Some(cpu) = cpu {
                sys::pin_to_cpu(cpu).unwrap_or_else(|e| die("binding the reader", &e));
            }
            let mut buf = vec![0u8; size.max(64)];
            let mut n = 0u64;
            loop {
                match recv(&mut buf) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => die("reader", &e),
                }
                if sh.stop_reader.load(Relaxed) {
                    break;
                }
                n += 1;
                sh.received.store(n, Relaxed);
                if n.is_multiple_of(CPU_EVERY) {
                    sh.reader_cpu.store(sys::thread_cpu_ns(), Relaxed);
                }
                if n.is_multiple_of(1024) {
                    progress.bump();
                }
            }
            sh.reader_done.store(true, Relaxed);
        })
}

/// The writer, the first thread of `pin`: sends until told to stop; a
/// refused send (`ENOBUFS`, or `EAGAIN`) yields the CPU and tries again.
fn spawn_writer(
    pin: Pinning,
    sh: &Arc<Shared>,
    mut send: impl FnMut() -> io::Result<usize> + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    let cpu = pin.cpus().map(|c| c.0);
    let sh = Arc::clone(sh);
    std::thread::Builder::new()
        .name("writer".into())
        .spawn(move || {
            if let Some(cpu) = cpu {
                sys::pin_to_cpu(cpu).unwrap_or_else(|e| die("binding the writer", &e));
            }
            let (mut sent, mut busy) = (0u64, 0u64);
            while !sh.stop_writer.load(Relaxed) {
                match send() {
                    Ok(_) => {
                        sent += 1;
                        sh.sent.store(sent, Relaxed);
                        if sent.is_multiple_of(CPU_EVERY) {
                            sh.writer_cpu.store(sys::thread_cpu_ns(), Relaxed);
                        }
                    }
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::ENOBUFS) | Some(libc::EAGAIN)) =>
                    {
                        busy += 1;
                        sh.busy.store(busy, Relaxed);
                        sys::yield_cpu();
                    }
                    Err(e) => die("writer", &e),
                }
            }
        })
}

/// A counter snapshot at one instant.
struct Snap {
    t: u64,
    received: u64,
    sent: u64,
    busy: u64,
    writer_cpu: u64,
    reader_cpu: u64,
    nic: Option<NicStats>,
    udp: Option<BTreeMap<String, u64>>,
    epoll: EpollCounts,
    /// The receiving endpoint's `wakeups`, when one was given.
    wakeups: Option<u64>,
}

fn snap_ep(
    sh: &Shared,
    nic: Option<&Endpoint>,
    ep: Option<&Endpoint>,
    udp: bool,
) -> io::Result<Snap> {
    Ok(Snap {
        wakeups: ep.map(|e| e.ep_stats().map(|s| s.wakeups)).transpose()?,
        t: sys::now_ns(),
        received: sh.received.load(Relaxed),
        sent: sh.sent.load(Relaxed),
        busy: sh.busy.load(Relaxed),
        writer_cpu: sh.writer_cpu.load(Relaxed),
        reader_cpu: sh.reader_cpu.load(Relaxed),
        nic: nic.map(|e| e.nic_stats()).transpose()?,
        udp: if udp { Some(sys::udp_snmp()?) } else { None },
        epoll: EpollCounts {
            waits: sh.waits.load(Relaxed),
            events: sh.events.load(Relaxed),
            empty_reads: sh.empty_reads.load(Relaxed),
        },
    })
}

/// Warm-up, then the window between two snapshots.
fn window(
    sh: &Shared,
    nic: Option<&Endpoint>,
    udp: bool,
    warmup: f64,
    secs: f64,
) -> io::Result<(Snap, Snap)> {
    window_ep(sh, nic, None, udp, warmup, secs)
}

/// [`window`], also reading the `wakeups` of the receiving endpoint `ep`.
fn window_ep(
    sh: &Shared,
    nic: Option<&Endpoint>,
    ep: Option<&Endpoint>,
    udp: bool,
    warmup: f64,
    secs: f64,
) -> io::Result<(Snap, Snap)> {
    sys::sleep_secs(warmup);
    let a = snap_ep(sh, nic, ep, udp)?;
    sys::sleep_secs(secs);
    let b = snap_ep(sh, nic, ep, udp)?;
    Ok((a, b))
}

/// Stops the writer: sets its flag and waits for it to return.
fn stop_writer(sh: &Shared, writer: JoinHandle<()>) -> io::Result<()> {
    sh.stop_writer.store(true, Relaxed);
    writer
        .join()
        .map_err(|_| io::Error::other("writer panicked"))
}

/// Stops the reader: sets its flag, then sends `wake` datagrams (some may be
/// dropped by a full queue) until it has seen one and returned.
fn stop_reader(
    sh: &Shared,
    reader: JoinHandle<()>,
    mut wake: impl FnMut() -> io::Result<()>,
) -> io::Result<()> {
    sh.stop_reader.store(true, Relaxed);
    while !sh.reader_done.load(Relaxed) {
        match wake() {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {}
            Err(e) => return Err(e),
        }
        sys::sleep_secs(0.02);
    }
    reader
        .join()
        .map_err(|_| io::Error::other("reader panicked"))
}

/// [`stop_reader`] for a reader on simnic port `port`, woken by datagrams
/// from an endpoint of its own.
fn stop_simnic_reader(sh: &Shared, reader: JoinHandle<()>, port: u32) -> io::Result<()> {
    let waker = Endpoint::open()?;
    stop_reader(sh, reader, || waker.send_to(port, b"stop").map(drop))
}

/// What the window from `a` to `b` measured, with the datagrams `offered`
/// and `dropped` as the transport counts them.
fn window_result(a: &Snap, b: &Snap, offered: u64, dropped: u64) -> ThroughputResult {
    ThroughputResult {
        secs: (b.t - a.t) as f64 / 1e9,
        offered,
        received: b.received - a.received,
        dropped,
        busy: b.busy - a.busy,
        writer_cpu_ns: b.writer_cpu.saturating_sub(a.writer_cpu),
        reader_cpu_ns: b.reader_cpu.saturating_sub(a.reader_cpu),
        epoll: (b.epoll.waits > a.epoll.waits).then(|| EpollCounts {
            waits: b.epoll.waits - a.epoll.waits,
            events: b.epoll.events - a.epoll.events,
            empty_reads: b.epoll.empty_reads - a.epoll.empty_reads,
        }),
        wakeups: a.wakeups.zip(b.wakeups).map(|(a, b)| b - a),
        ..ThroughputResult::default()
    }
}

/// The NIC counters' change over the window of a simnic test.
fn nic_change(a: &Snap, b: &Snap) -> NicStats {
    nic_delta(a.nic.as_ref().expect("nic"), b.nic.as_ref().expect("nic"))
}

/// The NIC's drop counters: every way a frame that reached the NIC can
/// fail to reach an endpoint's queue.
pub fn nic_drops(nic: &NicStats) -> [(&'static str, u64); 6] {
    [
        ("rx_missed", nic.rx_missed),
        ("rx_queue_full", nic.rx_queue_full),
        ("rx_mem_drops", nic.rx_mem_drops),
        ("rx_no_port", nic.rx_no_port),
        ("rx_closed", nic.rx_closed),
        ("rx_errors", nic.rx_errors),
    ]
}

/// The `Udp:` counters that count a datagram UDP dropped on receive
/// (`InErrors` is their sum, plus checksum errors).
pub const UDP_DROPS: [&str; 3] = ["RcvbufErrors", "MemErrors", "InCsumErrors"];

fn simnic_result(a: &Snap, b: &Snap, offered: u64) -> ThroughputResult {
    let nic = nic_change(a, b);
    // Every cause, as `simnic::counters` classifies the counters.
    let dropped = simnic::nic_dropped(&nic);
    ThroughputResult {
        nic: Some(nic),
        ..window_result(a, b, offered, dropped)
    }
}

/// Generator parameters.
pub struct GenParams {
    pub rate_pps: u32,
    pub burst: u32,
    pub payload: u32,
}

impl GenParams {
    /// Flow 0 of the generator at these parameters into `dst_port`, until
    /// stopped (`count` 0).
    fn flow(&self, dst_port: u32) -> GenFlow {
        GenFlow {
            flow: 0,
            dst_port,
            payload_len: self.payload,
            rate_pps: self.rate_pps,
            burst: self.burst,
            reserved: 0,
            count: 0,
        }
    }
}

/// (a) The NIC's built-in generator into one endpoint, drained by `read()`.
pub fn generator(
    g: &GenParams,
    warmup: f64,
    secs: f64,
    pin: Pinning,
    progress: &Arc<Progress>,
) -> io::Result<ThroughputResult> {
    let _engine = pin.cpus().map(|c| sys::EnginePin::new(c.0)).transpose()?;
    let rx = Arc::new(Endpoint::open()?);
    let port = rx.port()?;
    let sh = Arc::new(Shared::default());
    let r = Arc::clone(&rx);
    let reader = spawn_reader(pin, &sh, progress, g.payload as usize, move |b| r.recv(b))?;
    rx.gen_start(&g.flow(port))?;
    let w = window(&sh, Some(&rx), false, warmup, secs);
    rx.gen_stop(GEN_STOP_ALL)?;
    let (a, b) = w?;
    stop_simnic_reader(&sh, reader, port)?;
    let offered = nic_change(&a, &b).gen_packets;
    Ok(simnic_result(&a, &b, offered))
}

/// (b) A writer thread sending `size`-byte datagrams to a reader endpoint
/// through the NIC.
pub fn simnic_loopback(
    size: usize,
    warmup: f64,
    secs: f64,
    pin: Pinning,
    progress: &Arc<Progress>,
) -> io::Result<ThroughputResult> {
    let _engine = pin.cpus().map(|c| sys::EnginePin::new(c.0)).transpose()?;
    let rx = Arc::new(Endpoint::open()?);
    let port = rx.port()?;
    let tx = Endpoint::open()?;
    tx.connect(port)?;
    let sh = Arc::new(Shared::default());
    let r = Arc::clone(&rx);
    let reader = spawn_reader(pin, &sh, progress, size, move |b| r.recv(b))?;
    let payload = vec![0x5au8; size];
    let writer = spawn_writer(pin, &sh, move || tx.send(&payload))?;
    let w = window(&sh, Some(&rx), false, warmup, secs);
    stop_writer(&sh, writer)?;
    let (a, b) = w?;
    stop_simnic_reader(&sh, reader, port)?;
    Ok(simnic_result(&a, &b, b.sent - a.sent))
}

/// (c) The same over UDP on 127.0.0.1.
pub fn udp_loopback(
    size: usize,
    warmup: f64,
    secs: f64,
    pin: Pinning,
    progress: &Arc<Progress>,
) -> io::Result<ThroughputResult> {
    let (rx, port) = sys::udp_bound()?;
    let (tx, _) = sys::udp_bound()?;
    sys::udp_connect(&tx, port)?;
    let sh = Arc::new(Shared::default());
    let rx: Arc<OwnedFd> = Arc::new(rx);
    let r = Arc::clone(&rx);
    let reader = spawn_reader(pin, &sh, progress, size, move |b| {
        sys::read_fd(r.as_raw_fd(), b)
    })?;
    let payload = vec![0x5au8; size];
    let writer = spawn_writer(pin, &sh, move || sys::write_fd(tx.as_raw_fd(), &payload))?;
    let w = window(&sh, None, true, warmup, secs);
    stop_writer(&sh, writer)?;
    let (a, b) = w?;
    let (waker, _) = sys::udp_bound()?;
    sys::udp_connect(&waker, port)?;
    stop_reader(&sh, reader, || {
        sys::write_fd(waker.as_raw_fd(), b"stop").map(drop)
    })?;

    Ok(udp_result(&a, &b, b.sent - a.sent))
}

fn udp_result(a: &Snap, b: &Snap, offered: u64) -> ThroughputResult {
    let (ua, ub) = (a.udp.as_ref().expect("udp"), b.udp.as_ref().expect("udp"));
    let udp: BTreeMap<String, u64> = ub
        .iter()
        .map(|(k, v)| (k.clone(), v.wrapping_sub(ua.get(k).copied().unwrap_or(0))))
        .collect();
    // InErrors counts every datagram UDP dropped on receive, RcvbufErrors
    // (receive queue full) included.
    let dropped = udp.get("InErrors").copied().unwrap_or(0);
    ThroughputResult {
        udp: Some(udp),
        ..window_result(a, b, offered, dropped)
    }
}

/// How the writer of a many-endpoint test addresses its N destinations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Fanout {
    /// One sending endpoint (socket) per destination, connected to it:
    /// `write()` on each in turn.
    Connected,
    /// One sending endpoint (unconnected socket), the destination given
    /// with each datagram: `SIMNIC_IOC_SENDTO` (`sendto()`).
    Sendto,
}

impl std::fmt::Display for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fanout::Connected => "write() on one connected sender per destination",
            Fanout::Sendto => "one sender, SIMNIC_IOC_SENDTO / sendto() per datagram",
        })
    }
}

/// A many-endpoint test's parameters.
pub struct ManyParams {
    /// Receivers (endpoints or UDP sockets), each on its own port.
    pub n: usize,
    pub size: usize,
    pub fanout: Fanout,
    pub warmup: f64,
    pub secs: f64,
    pub pin: Pinning,
}

/// A sender to N destinations, round-robin: datagram k goes to
/// destination k mod N (a refused send is retried to the same one).
type Sender = Box<dyn FnMut() -> io::Result<usize> + Send>;

/// The reader of a many-endpoint test, the second thread of `pin`: waits
/// on `epoll` (level-triggered, `EPOLLIN`, the event's data the
/// receiver's index) and reads one datagram from each receiver reported,
/// without blocking; then waits again. A receiver with more queued is
/// reported again by the next wait, so no read ends in `EAGAIN` unless the
/// report was stale. Stops within 50 ms of being told to.
fn spawn_epoll_reader(
    pin: Pinning,
    sh: &Arc<Shared>,
    progress: &Arc<Progress>,
    size: usize,
    max_events: usize,
    epoll: sys::Epoll,
    mut recv: impl FnMut(usize, &mut [u8]) -> io::Result<usize> + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    let cpu = pin.cpus().map(|c| c.1);
    let (sh, progress) = (Arc::clone(sh), Arc::clone(progress));
    std::thread::Builder::new()
        .name("epoll-reader".into())
        .spawn(move || {
            if let Some(cpu) = cpu {
                sys::pin_to_cpu(cpu).unwrap_or_else(|e| die("binding the reader", &e));
            }
            let mut buf = vec![0u8; size.max(64)];
            let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; max_events.max(1)];
            let (mut n, mut waits, mut evs, mut empty) = (0u64, 0u64, 0u64, 0u64);
            let mut published = 0u64;
            while !sh.stop_reader.load(Relaxed) {
                let got = match epoll.wait_timeout(&mut events, 50) {
                    Ok(0) => continue,
                    Ok(k) => k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => die("epoll_wait", &e),
                };
                waits += 1;
                evs += got as u64;
                for ev in &events[..got] {
                    // epoll_event is packed on x86_64: copy the field out.
                    let idx = { ev.u64 } as usize;
                    match recv(idx, &mut buf) {
                        Ok(_) => {
                            n += 1;
                            if n.is_multiple_of(1024) {
                                progress.bump();
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => empty += 1,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => die("epoll reader", &e),
                    }
                }
                sh.received.store(n, Relaxed);
                // As often as the blocking reader does: once per CPU_EVERY
                // datagrams, whatever the batches.
                if n / CPU_EVERY != published / CPU_EVERY {
                    published = n;
                    sh.reader_cpu.store(sys::thread_cpu_ns(), Relaxed);
                }
                sh.waits.store(waits, Relaxed);
                sh.events.store(evs, Relaxed);
                sh.empty_reads.store(empty, Relaxed);
            }
            sh.reader_done.store(true, Relaxed);
        })
}

/// Stops the epoll reader: sets its flag and waits for it (its waits time
/// out every 50 ms, so no datagram is needed to wake it).
fn stop_epoll_reader(sh: &Shared, reader: JoinHandle<()>) -> io::Result<()> {
    sh.stop_reader.store(true, Relaxed);
    reader
        .join()
        .map_err(|_| io::Error::other("reader panicked"))
}

/// An epoll set of `fds`, level-triggered for input, each event's data its
/// index in `fds`.
fn epoll_of(fds: impl IntoIterator<Item = std::os::fd::RawFd>) -> io::Result<sys::Epoll> {
    let ep = sys::Epoll::new()?;
    for (i, fd) in fds.into_iter().enumerate() {
        ep.add(fd, libc::EPOLLIN as u32, i as u64)?;
    }
    Ok(ep)
}

/// `n` simnic receivers, nonblocking endpoints each bound to its own
/// (ephemeral) port, and their ports.
fn simnic_receivers(n: usize) -> io::Result<(Vec<Endpoint>, Vec<u32>)> {
    let rx: Vec<Endpoint> = (0..n)
        .map(|_| Endpoint::open_nonblocking())
        .collect::<io::Result<_>>()?;
    let ports = rx.iter().map(Endpoint::port).collect::<io::Result<_>>()?;
    Ok((rx, ports))
}

/// `n` UDP receivers, sockets each bound to its own port on 127.0.0.1,
/// and their ports.
fn udp_receivers(n: usize) -> io::Result<(Vec<OwnedFd>, Vec<u16>)> {
    Ok((0..n)
        .map(|_| sys::udp_bound())
        .collect::<io::Result<Vec<_>>>()?
        .into_iter()
        .unzip())
}

/// One simnic sending endpoint per port of `ports`, connected to it.
fn simnic_connected(ports: &[u32]) -> io::Result<Vec<Endpoint>> {
    ports
        .iter()
        .map(|&port| {
            let e = Endpoint::open()?;
            e.connect(port)?;
            Ok(e)
        })
        .collect()
}

/// One UDP socket per port of `ports`, connected to it.
fn udp_connected(ports: &[u16]) -> io::Result<Vec<OwnedFd>> {
    ports
        .iter()
        .map(|&port| {
            let (s, _) = sys::udp_bound()?;
            sys::udp_connect(&s, port)?;
            Ok(s)
        })
        .collect()
}

/// The [`Sender`] that calls `send(k)` for destination k of `n`, round-robin.
fn round_robin(
    n: usize,
    mut send: impl FnMut(usize) -> io::Result<usize> + Send + 'static,
) -> Sender {
    let mut k = 0;
    Box::new(move || {
        let r = send(k);
        if r.is_ok() {
            k = (k + 1) % n;
        }
        r
    })
}

/// (d) A writer sending round-robin to `p.n` simnic endpoints, each bound
/// to its own (ephemeral) port, through the NIC; one reader draining all
/// of them through epoll.
pub fn simnic_many(p: &ManyParams, progress: &Arc<Progress>) -> io::Result<ThroughputResult> {
    let _engine = p.pin.cpus().map(|c| sys::EnginePin::new(c.0)).transpose()?;
    let (rx, ports) = simnic_receivers(p.n)?;
    let epoll = epoll_of(rx.iter().map(AsRawFd::as_raw_fd))?;
    let stats = Endpoint::open()?;
    let payload = vec![0x5au8; p.size];
    let n = p.n;
    let send = match p.fanout {
        Fanout::Connected => {
            let tx = simnic_connected(&ports)?;
            round_robin(n, move |k| tx[k].send(&payload))
        }
        Fanout::Sendto => {
            let tx = Endpoint::open()?;
            round_robin(n, move |k| tx.send_to(ports[k], &payload))
        }
    };
    let sh = Arc::new(Shared::default());
    let rx = Arc::new(rx);
    let r = Arc::clone(&rx);
    let reader = spawn_epoll_reader(
        p.pin,
        &sh,
        progress,
        p.size,
        n.min(1024),
        epoll,
        move |i, b| r[i].recv(b),
    )?;
    let writer = spawn_writer(p.pin, &sh, send)?;
    let w = window(&sh, Some(&stats), false, p.warmup, p.secs);
    stop_writer(&sh, writer)?;
    let (a, b) = w?;
    stop_epoll_reader(&sh, reader)?;
    Ok(simnic_result(&a, &b, b.sent - a.sent))
}

/// (e) The same over `p.n` UDP sockets bound to 127.0.0.1.
pub fn udp_many(p: &ManyParams, progress: &Arc<Progress>) -> io::Result<ThroughputResult> {
    let (rx, ports) = udp_receivers(p.n)?;
    let epoll = epoll_of(rx.iter().map(AsRawFd::as_raw_fd))?;
    let payload = vec![0x5au8; p.size];
    let n = p.n;
    let send = match p.fanout {
        Fanout::Connected => {
            let tx = udp_connected(&ports)?;
            round_robin(n, move |k| sys::write_fd(tx[k].as_raw_fd(), &payload))
        }
        Fanout::Sendto => {
            let (tx, _) = sys::udp_bound()?;
            round_robin(n, move |k| {
                sys::udp_sendto(tx.as_raw_fd(), ports[k], &payload)
            })
        }
    };
    let sh = Arc::new(Shared::default());
    let rx = Arc::new(rx);
    let r = Arc::clone(&rx);
    let reader = spawn_epoll_reader(
        p.pin,
        &sh,
        progress,
        p.size,
        n.min(1024),
        epoll,
        move |i, b| sys::recv_dontwait(r[i].as_raw_fd(), b),
    )?;
    let writer = spawn_writer(p.pin, &sh, send)?;
    let w = window(&sh, None, true, p.warmup, p.secs);
    stop_writer(&sh, writer)?;
    let (a, b) = w?;
    stop_epoll_reader(&sh, reader)?;
    Ok(udp_result(&a, &b, b.sent - a.sent))
}

/// How the reader of [`loopback_via`] and [`generator_via`] receives.
#[derive(Clone, Copy, Debug)]
pub struct Via {
    pub method: Method,
    /// io_uring and AIO: requests kept in flight.
    pub depth: usize,
    /// The mmap ring's slots.
    pub ring_slots: u32,
}

/// The reader's work on each datagram, wherever it lies (the receiver's
/// buffer or the ring's slot): it looks at its first and last byte, as a
/// consumer would look at it, and nothing is copied.
fn look_at(p: &[u8]) -> usize {
    let first = p.first().copied().unwrap_or(0);
    let last = p.last().copied().unwrap_or(0);
    std::hint::black_box(first ^ last);
    p.len()
}

/// (d) A writer thread sending `size`-byte datagrams to a reader through
/// simnic's TX loopback (`simnic`) or UDP on 127.0.0.1, the reader taking
/// them through `via` ([`look_at`] each datagram where it was received).
#[allow(clippy::too_many_arguments)]
pub fn loopback_via(
    simnic: bool,
    via: Via,
    size: usize,
    warmup: f64,
    secs: f64,
    pin: Pinning,
    progress: &Arc<Progress>,
) -> io::Result<ThroughputResult> {
    let _engine = match (simnic, pin.cpus()) {
        (true, Some(c)) => Some(sys::EnginePin::new(c.0)?),
        _ => None,
    };
    // simnic: an endpoint of its own reads the NIC counters.
    let stats = if simnic {
        Some(Endpoint::open()?)
    } else {
        None
    };
    // The receiving endpoint stays an Endpoint (its `wakeups` are read),
    // the receiver using its descriptor; UDP's socket an OwnedFd.
    let (rx_ep, rx_udp, tx, port): (Option<Arc<Endpoint>>, Option<OwnedFd>, OwnedFd, u32) =
        if simnic {
            let (rx, tx) = (Endpoint::open()?, Endpoint::open()?);
            let port = rx.port()?;
            tx.connect(port)?;
            // SAFETY: the endpoint hands over its descriptor, owned by nobody else.
            let tx = unsafe { OwnedFd::from_raw_fd(tx.into_raw_fd()) };
            (Some(Arc::new(rx)), None, tx, port)
        } else {
            let (rx, port) = sys::udp_bound()?;
            let (tx, _) = sys::udp_bound()?;
            sys::udp_connect(&tx, port)?;
            (None, Some(rx), tx, port as u32)
        };
    let rx_fd = match (&rx_ep, &rx_udp) {
        (Some(e), _) => e.as_raw_fd(),
        (_, Some(u)) => u.as_raw_fd(),
        _ => unreachable!("one receiver"),
    };
    let sh = Arc::new(Shared::default());
    let mut receiver = Receiver::new(via.method, rx_fd, via.depth, size.max(64), via.ring_slots)?;
    let reader = spawn_reader(pin, &sh, progress, size, move |_| {
        receiver.recv_with(look_at)
    })?;
    let payload = vec![0x5au8; size];
    let writer = spawn_writer(pin, &sh, move || sys::write_fd(tx.as_raw_fd(), &payload))?;
    let w = window_ep(&sh, stats.as_ref(), rx_ep.as_deref(), !simnic, warmup, secs);
    stop_writer(&sh, writer)?;
    let (a, b) = w?;
    if simnic {
        stop_simnic_reader(&sh, reader, port)?;
        drop(rx_ep);
        return Ok(simnic_result(&a, &b, b.sent - a.sent));
    }
    let (waker, _) = sys::udp_bound()?;
    sys::udp_connect(&waker, port as u16)?;
    stop_reader(&sh, reader, || {
        sys::write_fd(waker.as_raw_fd(), b"stop").map(drop)
    })?;
    drop(rx_udp);
    Ok(udp_result(&a, &b, b.sent - a.sent))
}

/// (e) The NIC's built-in generator into one endpoint, the reader taking
/// the datagrams through `via` (simnic methods only), as in
/// [`loopback_via`]. No sender thread: the rate has no sender's cost in it.
pub fn generator_via(
    g: &GenParams,
    via: Via,
    warmup: f64,
    secs: f64,
    pin: Pinning,
    progress: &Arc<Progress>,
) -> io::Result<ThroughputResult> {
    let _engine = pin.cpus().map(|c| sys::EnginePin::new(c.0)).transpose()?;
    let rx = Endpoint::open()?;
    let port = rx.port()?;
    let sh = Arc::new(Shared::default());
    let len = (g.payload as usize).max(64);
    let mut receiver = Receiver::new(via.method, rx.as_raw_fd(), via.depth, len, via.ring_slots)?;
    let reader = spawn_reader(pin, &sh, progress, len, move |_| {
        receiver.recv_with(look_at)
    })?;
    rx.gen_start(&g.flow(port))?;
    let w = window_ep(&sh, Some(&rx), Some(&rx), false, warmup, secs);
    rx.gen_stop(GEN_STOP_ALL)?;
    let (a, b) = w?;
    stop_simnic_reader(&sh, reader, port)?;
    drop(rx);
    let offered = nic_change(&a, &b).gen_packets;
    Ok(simnic_result(&a, &b, offered))
}

/// What one send costs the sender, by transport and [`Fanout`].
pub struct SendCost {
    pub transport: &'static str,
    pub fanout: Fanout,
    /// Sender CPU time per call, nanoseconds, one value per batch.
    pub per_call: Vec<f64>,
}

/// Datagrams per timed batch of [`send_costs`].
pub const SEND_BATCH: usize = 32;

/// Sends one datagram to destination `i`.
type SendFn = Box<dyn FnMut(usize) -> io::Result<usize>>;
/// Reads one datagram of destination `i`, without blocking.
type RecvFn = Box<dyn FnMut(usize, &mut [u8]) -> io::Result<usize>>;

/// One variant of [`send_costs`]: sends datagram `k` to destination
/// `k mod n`, and reads destination `i`'s datagram back without blocking.
struct Variant {
    transport: &'static str,
    fanout: Fanout,
    send: SendFn,
    recv: RecvFn,
    next: usize,
    cost: Vec<f64>,
}

/// The cost of one send with each [`Fanout`], simnic and UDP, to `n`
/// destinations round-robin: the sender's CPU time
/// (`CLOCK_THREAD_CPUTIME_ID`, so neither the hardware thread's nor
/// anyone else's) over a batch of [`SEND_BATCH`] sends, divided by the
/// batch; after each batch, untimed, the datagrams are read back so that
/// no queue fills. The four variants take turns batch by batch, so that a
/// change of the host's load hits them alike. Runs on CPU 0 with
/// `simnic-hw` when `pin` pins.
pub fn send_costs(
    n: usize,
    size: usize,
    batches: usize,
    pin: Pinning,
    progress: &Progress,
) -> io::Result<Vec<SendCost>> {
    let _engine = pin.cpus().map(|c| sys::EnginePin::new(c.0)).transpose()?;
    if let Some((cpu, _)) = pin.cpus() {
        sys::pin_to_cpu(cpu)?;
    }
    let payload = vec![0x5au8; size];
    let n = n.max(1);
    let mut variants = Vec::new();

    // simnic: n receivers, and both kinds of sender.
    let (rx, ports) = simnic_receivers(n)?;
    let rx = Arc::new(rx);
    let connected = simnic_connected(&ports)?;
    let one = Endpoint::open()?;
    let mut connected = Some(connected);
    let mut one = Some(one);
    for fanout in [Fanout::Connected, Fanout::Sendto] {
        let p = payload.clone();
        let send: SendFn = match fanout {
            Fanout::Connected => {
                let tx = connected.take().expect("once");
                Box::new(move |i| tx[i].send(&p))
            }
            Fanout::Sendto => {
                let tx = one.take().expect("once");
                let ports = ports.clone();
                Box::new(move |i| tx.send_to(ports[i], &p))
            }
        };
        let r = Arc::clone(&rx);
        variants.push(Variant {
            transport: "simnic",
            fanout,
            send,
            recv: Box::new(move |i, b| r[i].recv(b)),
            next: 0,
            cost: Vec::new(),
        });
    }

    // UDP: the same over sockets on 127.0.0.1.
    let (urx, uports) = udp_receivers(n)?;
    let urx = Arc::new(urx);
    let uconnected = udp_connected(&uports)?;
    let (uone, _) = sys::udp_bound()?;
    let mut uconnected = Some(uconnected);
    let mut uone = Some(uone);
    for fanout in [Fanout::Connected, Fanout::Sendto] {
        let p = payload.clone();
        let send: SendFn = match fanout {
            Fanout::Connected => {
                let tx = uconnected.take().expect("once");
                Box::new(move |i| sys::write_fd(tx[i].as_raw_fd(), &p))
            }
            Fanout::Sendto => {
                let tx = uone.take().expect("once");
                let ports = uports.clone();
                Box::new(move |i| sys::udp_sendto(tx.as_raw_fd(), ports[i], &p))
            }
        };
        let r = Arc::clone(&urx);
        variants.push(Variant {
            transport: "UDP",
            fanout,
            send,
            recv: Box::new(move |i, b| sys::recv_dontwait(r[i].as_raw_fd(), b)),
            next: 0,
            cost: Vec::new(),
        });
    }

    let mut buf = vec![0u8; size.max(64)];
    for _ in 0..batches {
        for v in variants.iter_mut() {
            let first = v.next;
            let t0 = sys::thread_cpu_ns();
            for j in 0..SEND_BATCH {
                let i = (first + j) % n;
                loop {
                    match (v.send)(i) {
                        Ok(_) => break,
                        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => sys::yield_cpu(),
                        Err(e) => return Err(e),
                    }
                }
            }
            let t1 = sys::thread_cpu_ns();
            v.cost.push((t1 - t0) as f64 / SEND_BATCH as f64);
            v.next = (first + SEND_BATCH) % n;
            // Read the batch back (a destination may hold more than one
            // when n < SEND_BATCH: read until each read finds nothing).
            let t_read = sys::now_ns();
            let mut got = 0;
            while got < SEND_BATCH {
                for j in 0..SEND_BATCH.min(n) {
                    let i = (first + j) % n;
                    match (v.recv)(i, &mut buf) {
                        Ok(_) => got += 1,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                if got < SEND_BATCH {
                    if sys::now_ns() - t_read > 5_000_000_000 {
                        return Err(io::Error::other(format!(
                            "send costs: {} {:?}: {got} of {SEND_BATCH} datagrams came back",
                            v.transport, v.fanout
                        )));
                    }
                    sys::yield_cpu();
                }
            }
            progress.bump();
        }
    }
    if pin.cpus().is_some() {
        sys::unpin()?;
    }
    Ok(variants
        .into_iter()
        .map(|v| SendCost {
            transport: v.transport,
            fanout: v.fanout,
            per_call: v.cost,
        })
        .collect())
}

/// What delivering one datagram costs with `receivers` active endpoints
/// (or UDP sockets): wall time per datagram, one value per batch.
pub struct DeliveryCost {
    pub transport: &'static str,
    pub receivers: usize,
    pub per_dgram: Vec<f64>,
}

/// One variant of [`delivery_costs`].
struct Delivery {
    transport: &'static str,
    receivers: usize,
    send: SendFn,
    recv: RecvFn,
    epoll: sys::Epoll,
    next: usize,
    cost: Vec<f64>,
}

/// The whole path's cost per datagram with 1 and with `n` receivers, timed
/// so that the host's moods cancel out: one thread, on CPU 0 with
/// `simnic-hw` when `pin` pins, sends a batch of [`SEND_BATCH`] datagrams
/// round-robin to the receivers (one sender, `SIMNIC_IOC_SENDTO` or
/// `sendto()`) and then takes them all back through its epoll set
/// (level-triggered, one read per reported receiver per `epoll_wait`); the
/// wall time of the batch (`CLOCK_MONOTONIC`: the hardware thread, the
/// interrupt and the poll run on the same CPU, inside it) divided by the
/// batch. The variants take turns batch by batch, and the median batch
/// is what counts, so a stall of the emulation in one batch moves nothing.
pub fn delivery_costs(
    n: usize,
    size: usize,
    batches: usize,
    pin: Pinning,
    progress: &Progress,
) -> io::Result<Vec<DeliveryCost>> {
    let _engine = pin.cpus().map(|c| sys::EnginePin::new(c.0)).transpose()?;
    if let Some((cpu, _)) = pin.cpus() {
        sys::pin_to_cpu(cpu)?;
    }
    let mut sizes = vec![1, n.max(1)];
    sizes.dedup();
    let mut variants = Vec::new();
    for &k in &sizes {
        let (rx, ports) = simnic_receivers(k)?;
        let rx = Arc::new(rx);
        let epoll = epoll_of(rx.iter().map(AsRawFd::as_raw_fd))?;
        let tx = Endpoint::open()?;
        let p = vec![0x5au8; size];
        let r = Arc::clone(&rx);
        variants.push(Delivery {
            transport: "simnic",
            receivers: k,
            send: Box::new(move |i| tx.send_to(ports[i], &p)),
            recv: Box::new(move |i, b| r[i].recv(b)),
            epoll,
            next: 0,
            cost: Vec::new(),
        });
        let (urx, uports) = udp_receivers(k)?;
        let epoll = epoll_of(urx.iter().map(AsRawFd::as_raw_fd))?;
        let (utx, _) = sys::udp_bound()?;
        let p = vec![0x5au8; size];
        variants.push(Delivery {
            transport: "UDP",
            receivers: k,
            send: Box::new(move |i| sys::udp_sendto(utx.as_raw_fd(), uports[i], &p)),
            recv: Box::new(move |i, b| sys::recv_dontwait(urx[i].as_raw_fd(), b)),
            epoll,
            next: 0,
            cost: Vec::new(),
        });
    }
    let mut buf = vec![0u8; size.max(64)];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    for _ in 0..batches {
        for v in variants.iter_mut() {
            let t0 = sys::now_ns();
            for j in 0..SEND_BATCH {
                let i = (v.next + j) % v.receivers;
                loop {
                    match (v.send)(i) {
                        Ok(_) => break,
                        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => sys::yield_cpu(),
                        Err(e) => return Err(e),
                    }
                }
            }
            v.next = (v.next + SEND_BATCH) % v.receivers;
            let mut got = 0;
            while got < SEND_BATCH {
                let k = match v.epoll.wait_timeout(&mut events, 5000) {
                    Ok(0) => {
                        return Err(io::Error::other(format!(
                            "delivery costs: {} with {}: {got} of {SEND_BATCH} datagrams after 5 s",
                            v.transport, v.receivers
                        )))
                    }
                    Ok(k) => k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                for ev in &events[..k] {
                    let idx = { ev.u64 } as usize;
                    match (v.recv)(idx, &mut buf) {
                        Ok(_) => got += 1,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            v.cost.push((sys::now_ns() - t0) as f64 / SEND_BATCH as f64);
            progress.bump();
        }
    }
    if pin.cpus().is_some() {
        sys::unpin()?;
    }
    Ok(variants
        .into_iter()
        .map(|v| DeliveryCost {
            transport: v.transport,
            receivers: v.receivers,
            per_dgram: v.cost,
        })
        .collect())
}
