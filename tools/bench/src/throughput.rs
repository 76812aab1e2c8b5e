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

use crate::progress::Progress;
use crate::stats::nic_delta;
use crate::sys::{self, Pinning};
use simnic::{Endpoint, GenFlow, NicStats, RxRing, GEN_STOP_ALL};
use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
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
    /// simnic: the NIC counters' change over the window.
    pub nic: Option<NicStats>,
    /// UDP: the `Udp:` counters' change over the window.
    pub udp: Option<BTreeMap<String, u64>>,
    /// Received per second in each block, in the order they ran.
    pub block_rates: Vec<f64>,
    /// CPU time the reader thread used in the window, seconds.
    pub reader_cpu: f64,
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
    /// The reader thread's share of one CPU over the window, percent.
    pub fn reader_cpu_pct(&self) -> f64 {
        100.0 * self.reader_cpu / self.secs
    }

    /// Adds one block's window to the totals.
    pub fn absorb(&mut self, b: ThroughputResult) {
        self.block_rates.push(b.received_per_sec());
        self.secs += b.secs;
        self.offered += b.offered;
        self.received += b.received;
        self.dropped += b.dropped;
        self.busy += b.busy;
        self.reader_cpu += b.reader_cpu;
        if let Some(n) = b.nic {
            self.nic = Some(match self.nic {
                Some(a) => crate::stats::nic_sum(&a, &n),
                None => n,
            });
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

/// Counters the reader and writer threads publish.
#[derive(Default)]
struct Shared {
    received: AtomicU64,
    sent: AtomicU64,
    busy: AtomicU64,
    stop_writer: AtomicBool,
    stop_reader: AtomicBool,
    reader_done: AtomicBool,
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
    reader_cpu: u64,
    received: u64,
    sent: u64,
    busy: u64,
    nic: Option<NicStats>,
    udp: Option<BTreeMap<String, u64>>,
}

fn snap(
    sh: &Shared,
    nic: Option<&Endpoint>,
    udp: bool,
    reader: libc::clockid_t,
) -> io::Result<Snap> {
    Ok(Snap {
        t: sys::now_ns(),
        reader_cpu: clock_ns(reader)?,
        received: sh.received.load(Relaxed),
        sent: sh.sent.load(Relaxed),
        busy: sh.busy.load(Relaxed),
        nic: nic.map(|e| e.nic_stats()).transpose()?,
        udp: if udp { Some(sys::udp_snmp()?) } else { None },
    })
}

/// The CPU-time clock of the thread `h` runs (`pthread_getcpuclockid`),
/// which another thread may read.
fn cpu_clock<T>(h: &JoinHandle<T>) -> io::Result<libc::clockid_t> {
    use std::os::unix::thread::JoinHandleExt;
    let mut clk: libc::clockid_t = 0;
    // SAFETY: a live thread (joined only later) and a valid out-pointer.
    match unsafe { libc::pthread_getcpuclockid(h.as_pthread_t(), &mut clk) } {
        0 => Ok(clk),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

fn clock_ns(clk: libc::clockid_t) -> io::Result<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    if unsafe { libc::clock_gettime(clk, &mut ts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Warm-up, then the window between two snapshots.
fn window<T>(
    sh: &Shared,
    nic: Option<&Endpoint>,
    udp: bool,
    warmup: f64,
    secs: f64,
    reader: &JoinHandle<T>,
) -> io::Result<(Snap, Snap)> {
    let clk = cpu_clock(reader)?;
    sys::sleep_secs(warmup);
    let a = snap(sh, nic, udp, clk)?;
    sys::sleep_secs(secs);
    let b = snap(sh, nic, udp, clk)?;
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
        reader_cpu: (b.reader_cpu - a.reader_cpu) as f64 / 1e9,
        ..ThroughputResult::default()
    }
}

/// The NIC counters' change over the window of a simnic test.
fn nic_change(a: &Snap, b: &Snap) -> NicStats {
    nic_delta(a.nic.as_ref().expect("nic"), b.nic.as_ref().expect("nic"))
}

fn simnic_result(a: &Snap, b: &Snap, offered: u64) -> ThroughputResult {
    let nic = nic_change(a, b);
    let dropped = nic.rx_missed + nic.rx_queue_full + nic.rx_no_port + nic.rx_errors;
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
    let flow = GenFlow {
        flow: 0,
        dst_port: port,
        payload_len: g.payload,
        rate_pps: g.rate_pps,
        burst: g.burst,
        reserved: 0,
        count: 0,
    };
    rx.gen_start(&flow)?;
    let w = window(&sh, Some(&rx), false, warmup, secs, &reader);
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
    let w = window(&sh, Some(&rx), false, warmup, secs, &reader);
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
    let w = window(&sh, None, true, warmup, secs, &reader);
    stop_writer(&sh, writer)?;
    let (a, b) = w?;
    let (waker, _) = sys::udp_bound()?;
    sys::udp_connect(&waker, port)?;
    stop_reader(&sh, reader, || {
        sys::write_fd(waker.as_raw_fd(), b"stop").map(drop)
    })?;

    let (ua, ub) = (a.udp.as_ref().expect("udp"), b.udp.as_ref().expect("udp"));
    let udp: BTreeMap<String, u64> = ub
        .iter()
        .map(|(k, v)| (k.clone(), v.wrapping_sub(ua.get(k).copied().unwrap_or(0))))
        .collect();
    // InErrors counts every datagram UDP dropped on receive, RcvbufErrors
    // (receive queue full) included.
    let dropped = udp.get("InErrors").copied().unwrap_or(0);
    Ok(ThroughputResult {
        udp: Some(udp),
        ..window_result(&a, &b, b.sent - a.sent, dropped)
    })
}

/// Slots of the mmap ring the ring paths receive into (`--ring-slots`).
pub static RING_SLOTS: AtomicU32 = AtomicU32::new(1024);

/// How long the ring reader keeps looking at an empty ring before it
/// sleeps in `poll` (`--ring-spin-us`; 0: sleeps at once).
pub static RING_SPIN_NS: AtomicU64 = AtomicU64::new(0);

/// An endpoint with a mapped receive ring of [`RING_SLOTS`] slots, each
/// large enough for a `size`-byte datagram.
fn ring_endpoint(size: usize) -> io::Result<(Arc<Endpoint>, RxRing)> {
    let rx = Arc::new(Endpoint::open()?);
    let slot = (size.max(64) as u32).next_power_of_two();
    let layout = rx.rx_ring_setup(RING_SLOTS.load(Relaxed), slot)?;
    let ring = RxRing::map(&rx, &layout)?;
    Ok((rx, ring))
}

/// The ring reader, the second thread of `pin`: takes every published slot
/// (touching its first and last payload byte, as a consumer would look at
/// it), returns it, and sleeps in `poll(POLLIN)` only when the ring is
/// empty (with a timeout, to see the stop flag).
fn spawn_ring_reader(
    pin: Pinning,
    sh: &Arc<Shared>,
    progress: &Arc<Progress>,
    rx: &Arc<Endpoint>,
    mut ring: RxRing,
) -> io::Result<JoinHandle<()>> {
    let cpu = pin.cpus().map(|c| c.1);
    let (sh, progress, rx) = (Arc::clone(sh), Arc::clone(progress), Arc::clone(rx));
    std::thread::Builder::new()
        .name("ring-reader".into())
        .spawn(move || {
            if let Some(cpu) = cpu {
                sys::pin_to_cpu(cpu).unwrap_or_else(|e| die("binding the ring reader", &e));
            }
            let (mut n, mut touched) = (0u64, 0u64);
            while !sh.stop_reader.load(Relaxed) {
                let mut got = 0;
                while let Some(f) = ring.next_frame() {
                    touched += u64::from(f.payload.first().copied().unwrap_or(0))
                        + u64::from(f.payload.last().copied().unwrap_or(0));
                    ring.advance(1);
                    got += 1;
                }
                if got == 0 {
                    let spin = RING_SPIN_NS.load(Relaxed);
                    if spin > 0 {
                        let until = sys::now_ns() + spin;
                        while ring.pending() == 0 && sys::now_ns() < until {
                            std::hint::spin_loop();
                        }
                        if ring.pending() != 0 {
                            continue;
                        }
                    }
                    match simnic::poll_one(rx.as_raw_fd(), libc::POLLIN, 50) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => die("ring reader poll", &e),
                    }
                    continue;
                }
                let before = n;
                n += got;
                sh.received.store(n, Relaxed);
                if n / 1024 != before / 1024 {
                    progress.bump();
                }
            }
            std::hint::black_box(touched);
            sh.reader_done.store(true, Relaxed);
            drop(ring);
        })
}

/// Stops the ring reader (it sees the flag within one poll timeout).
fn stop_ring_reader(sh: &Shared, reader: JoinHandle<()>) -> io::Result<()> {
    sh.stop_reader.store(true, Relaxed);
    reader
        .join()
        .map_err(|_| io::Error::other("ring reader panicked"))
}

/// (d) The generator into an endpoint with an mmap ring.
pub fn generator_ring(
    g: &GenParams,
    warmup: f64,
    secs: f64,
    pin: Pinning,
    progress: &Arc<Progress>,
) -> io::Result<ThroughputResult> {
    let _engine = pin.cpus().map(|c| sys::EnginePin::new(c.0)).transpose()?;
    let (rx, ring) = ring_endpoint(g.payload as usize)?;
    let port = rx.port()?;
    let sh = Arc::new(Shared::default());
    let reader = spawn_ring_reader(pin, &sh, progress, &rx, ring)?;
    let flow = GenFlow {
        flow: 0,
        dst_port: port,
        payload_len: g.payload,
        rate_pps: g.rate_pps,
        burst: g.burst,
        reserved: 0,
        count: 0,
    };
    rx.gen_start(&flow)?;
    let w = window(&sh, Some(&rx), false, warmup, secs, &reader);
    rx.gen_stop(GEN_STOP_ALL)?;
    let (a, b) = w?;
    stop_ring_reader(&sh, reader)?;
    let offered = nic_change(&a, &b).gen_packets;
    Ok(simnic_result(&a, &b, offered))
}

/// (e) A writer thread through the NIC into an endpoint with an mmap ring.
pub fn simnic_loopback_ring(
    size: usize,
    warmup: f64,
    secs: f64,
    pin: Pinning,
    progress: &Arc<Progress>,
) -> io::Result<ThroughputResult> {
    let _engine = pin.cpus().map(|c| sys::EnginePin::new(c.0)).transpose()?;
    let (rx, ring) = ring_endpoint(size)?;
    let port = rx.port()?;
    let tx = Endpoint::open()?;
    tx.connect(port)?;
    let sh = Arc::new(Shared::default());
    let reader = spawn_ring_reader(pin, &sh, progress, &rx, ring)?;
    let payload = vec![0x5au8; size];
    let writer = spawn_writer(pin, &sh, move || tx.send(&payload))?;
    let w = window(&sh, Some(&rx), false, warmup, secs, &reader);
    stop_writer(&sh, writer)?;
    let (a, b) = w?;
    stop_ring_reader(&sh, reader)?;
    Ok(simnic_result(&a, &b, b.sent - a.sent))
}
