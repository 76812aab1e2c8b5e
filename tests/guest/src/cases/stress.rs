//! Many threads on one shared file: every datagram arrives at most once,
//! intact, each writer's datagrams in the order it wrote them, and every
//! datagram is accounted for exactly: each one sent is read, or counted in
//! one of the NIC's drop counters (`simnic::counters`), and each refused
//! send is counted in `tx_busy`.
//!
//! Two ways to run it. Windowed: the writers keep at most `WINDOW`
//! datagrams in flight (sent, neither read nor counted dropped), below what
//! the TX ring (255 descriptors), the RX ring and a default receive buffer
//! hold, so nothing may be refused or dropped at all. Flood: the writers
//! send as fast as the NIC takes them (waiting for `POLLOUT` after an
//! `ENOBUFS`) into a tiny receive buffer, and the readers start only once
//! something was dropped: drops of any kind are allowed, loss that no
//! counter shows is not.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use simnic::{Endpoint, NicStats};

use crate::net::*;
use crate::sys::*;

const WRITERS: u32 = 4;
const PER_WRITER: u32 = 500;
const READERS: usize = 2;
const WINDOW: u64 = 96;
const STOP: &[u8] = b"STOP";
/// How long the whole exchange may take: it must end, and takes 7 to 20 s
/// on the emulated debug guest depending on the host's load, so the bound
/// is generous (the test's own alarm is longer still, `cases/mod.rs`).
const LIMIT: Duration = Duration::from_secs(100);

/// Datagram `seq` of writer `t`: (t, seq) little-endian, then a filler of
/// varying length whose content depends on both.
fn datagram(t: u32, seq: u32) -> Vec<u8> {
    let filler = ((seq * 37 + t * 11) % 300) as usize;
    let mut d = Vec::with_capacity(8 + filler);
    d.extend_from_slice(&t.to_le_bytes());
    d.extend_from_slice(&seq.to_le_bytes());
    d.extend_from_slice(&pattern(t * 100_000 + seq, filler));
    d
}

/// How the writers pace themselves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// At most `WINDOW` datagrams in flight: nothing may be dropped.
    Windowed,
    /// As fast as the TX ring takes them; readers start after a drop.
    Flood,
}

struct Shared {
    ep: Endpoint,
    mode: Mode,
    /// Datagrams written successfully.
    sent: AtomicU64,
    /// Writes refused with ENOBUFS (each retried until it went out).
    refused: AtomicU64,
    /// Datagrams read by the readers (STOPs excluded).
    received: AtomicU64,
    /// The NIC counters before the test.
    n0: NicStats,
    deadline: Instant,
}

impl Shared {
    /// The NIC counters' change since the start.
    fn nic_delta(&self) -> Result<NicStats, String> {
        Ok(nic_delta(&self.n0, &nic_stats(&self.ep)?))
    }

    /// Frames dropped since the start, every cause together.
    fn dropped(&self) -> Result<u64, String> {
        Ok(simnic::nic_dropped(&self.nic_delta()?))
    }

    /// Datagrams sent but neither received nor counted dropped.
    fn in_flight(&self) -> Result<u64, String> {
        // Received and dropped are read after sent: they only grow, so the
        // difference can only be overestimated, never negative.
        let sent = self.sent.load(Ordering::SeqCst);
        let done = self.received.load(Ordering::SeqCst) + self.dropped()?;
        Ok(sent.saturating_sub(done))
    }
}

/// Writes every datagram of writer `t`. Windowed, it waits while the window
/// is full; either way a write refused with ENOBUFS (TX ring full) is
/// counted, and the same datagram written again once `poll` reports
/// `POLLOUT`, so each datagram goes out exactly once, in order.
fn writer(sh: &Shared, t: u32) -> TestResult {
    let fd = sh.ep.as_raw_fd();
    for seq in 0..PER_WRITER {
        while sh.mode == Mode::Windowed && sh.in_flight()? >= WINDOW {
            ensure!(
                Instant::now() < sh.deadline,
                "writer {t}: the window stayed full until the deadline (sent {}, received {}, dropped {})",
                sh.sent.load(Ordering::SeqCst),
                sh.received.load(Ordering::SeqCst),
                sh.dropped()?
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        let d = datagram(t, seq);
        loop {
            match write(fd, &d) {
                Ok(n) if n == d.len() => break,
                Err(libc::ENOBUFS) => {
                    sh.refused.fetch_add(1, Ordering::SeqCst);
                    // The ring drains by itself (the NIC transmits, the
                    // poll reclaims): a must-happen wait, hence ARRIVAL.
                    let (r, rev) = poll_one(fd, libc::POLLOUT, ARRIVAL.as_millis() as i32)?;
                    ensure!(
                        r == 1 && rev & libc::POLLOUT != 0,
                        "writer {t}: after ENOBUFS, poll(POLLOUT) returned {r} with {} within {} s",
                        poll_names(rev),
                        ARRIVAL.as_secs()
                    );
                }
                other => {
                    return Err(format!(
                        "writer {t}: datagram {seq} of {} bytes: write {}",
                        d.len(),
                        outcome(other)
                    ))
                }
            }
        }
        sh.sent.fetch_add(1, Ordering::SeqCst);
    }
    Ok(())
}

/// Blocking reads until a STOP datagram; returns (writer, seq) of each
/// datagram in the order this reader dequeued them.
fn reader(sh: &Shared, r: usize) -> Result<Vec<(u32, u32)>, String> {
    let fd = sh.ep.as_raw_fd();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = match read(fd, &mut buf) {
            Ok(n) => n,
            Err(libc::EINTR) => continue,
            Err(e) => {
                return Err(format!(
                    "reader {r}: read failed with {} after {} datagrams",
                    errname(e),
                    got.len()
                ))
            }
        };
        let d = &buf[..n];
        if d == STOP {
            return Ok(got);
        }
        ensure!(
            n >= 8,
            "reader {r}: a {n}-byte datagram, shorter than any written"
        );
        let t = u32::from_le_bytes(d[0..4].try_into().unwrap());
        let seq = u32::from_le_bytes(d[4..8].try_into().unwrap());
        ensure!(
            t < WRITERS && seq < PER_WRITER,
            "reader {r}: datagram with bad header (writer {t}, seq {seq})"
        );
        check_data(
            d,
            &datagram(t, seq),
            &format!("reader {r}: datagram (writer {t}, seq {seq})"),
        )?;
        got.push((t, seq));
        sh.received.fetch_add(1, Ordering::SeqCst);
    }
}

/// What a stress run counted.
struct Outcome {
    dropped: u64,
    refused: u64,
    nic: NicStats,
}

/// 4 writer threads x 500 datagrams and 2 blocking reader threads on one
/// shared file whose receive buffer is `rcvbuf`. Checks order, integrity,
/// no duplicates, and the accounting: every datagram sent was read or
/// counted in one NIC drop counter, the missing ones are exactly the
/// counted drops, every refused write is in `tx_busy`, and the endpoint's
/// `rx_drops` are the NIC's drops at its queue.
fn run_stress(rcvbuf: u32, mode: Mode) -> Result<Outcome, String> {
    let ep = open_dev()?;
    okay(ep.set_rcvbuf(rcvbuf), "SET_RCVBUF")?;
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    let e0 = ep_stats(&ep)?;
    let sh = Arc::new(Shared {
        ep,
        mode,
        sent: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        received: AtomicU64::new(0),
        n0,
        deadline: Instant::now() + LIMIT,
    });
    let spawn_readers = || -> Vec<_> {
        (0..READERS)
            .map(|r| {
                let sh = sh.clone();
                std::thread::spawn(move || reader(&sh, r))
            })
            .collect()
    };
    let mut readers = if mode == Mode::Windowed {
        spawn_readers()
    } else {
        Vec::new()
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let sh = sh.clone();
            std::thread::spawn(move || writer(&sh, t))
        })
        .collect();
    if mode == Mode::Flood {
        // Nobody reads until something was dropped: with nobody reading,
        // the receive buffer holds a few dozen of the 2000 datagrams, so
        // drops must come, and this run is sure to have some to account.
        // A drop is counted before the write it made room for returns, so
        // writers that are done before the counters are read leave a drop
        // to see; if they are done with none, the end says so.
        loop {
            let writers_done = writers.iter().all(|w| w.is_finished());
            if writers_done || sh.dropped()? > 0 {
                break;
            }
            ensure!(
                Instant::now() < sh.deadline,
                "nothing dropped with nobody reading (sent {}, {})",
                sh.sent.load(Ordering::SeqCst),
                nic_summary(&sh.nic_delta()?)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        readers = spawn_readers();
    }
    for w in writers {
        w.join().map_err(|_| take_panic_message())??;
    }
    let total = u64::from(WRITERS * PER_WRITER);
    ensure!(
        sh.sent.load(Ordering::SeqCst) == total,
        "the writers sent {} datagrams, expected {total}",
        sh.sent.load(Ordering::SeqCst)
    );

    // Everything written has crossed the NIC once it is idle; then the
    // readers empty the queue, and every datagram delivered is read (or in
    // a reader's hands, counted a moment later). Then the readers are
    // blocked and the STOPs cannot be dropped. Whether the rest was counted
    // dropped is checked at the end, where it can be said which ones.
    settle(&sh.ep)?;
    loop {
        let queued = ep_stats(&sh.ep)?.queued;
        let delivered = sh.nic_delta()?.rx_packets;
        let received = sh.received.load(Ordering::SeqCst);
        if queued == 0 && received == delivered {
            break;
        }
        ensure!(
            Instant::now() < sh.deadline && readers.iter().all(|r| !r.is_finished()),
            "the readers read {received} of the {delivered} datagrams delivered ({queued} still queued){}",
            if readers.iter().any(|r| r.is_finished()) { "; a reader ended early" } else { "" }
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    for _ in 0..READERS {
        send(sh.ep.as_raw_fd(), STOP, "write STOP")?;
    }
    let deadline = Instant::now() + ARRIVAL;
    while readers.iter().any(|r| !r.is_finished()) {
        ensure!(
            Instant::now() < deadline,
            "readers still blocked {} s after the {READERS} STOP datagrams were written",
            ARRIVAL.as_secs()
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let mut seen = vec![vec![0u32; PER_WRITER as usize]; WRITERS as usize];
    for (r, h) in readers.into_iter().enumerate() {
        let got = h.join().map_err(|_| take_panic_message())??;
        let mut last: Vec<Option<u32>> = vec![None; WRITERS as usize];
        for (t, seq) in got {
            if let Some(prev) = last[t as usize] {
                ensure!(seq > prev, "reader {r} got writer {t}'s datagram {seq} after its datagram {prev}: order lost");
            }
            last[t as usize] = Some(seq);
            seen[t as usize][seq as usize] += 1;
        }
    }
    let mut missing_total = 0;
    for (t, counts) in seen.iter().enumerate() {
        let dup: Vec<usize> = (0..counts.len()).filter(|&s| counts[s] > 1).collect();
        ensure!(
            dup.is_empty(),
            "writer {t}: {} datagrams arrived twice or more, first {:?}",
            dup.len(),
            &dup[..dup.len().min(8)]
        );
        missing_total += counts.iter().filter(|&&c| c == 0).count() as u64;
    }
    settle(&sh.ep)?;
    let d = sh.nic_delta()?;
    let e = ep_stats(&sh.ep)?.wrapping_sub(&e0);
    let dropped = simnic::nic_dropped(&d);
    let refused = sh.refused.load(Ordering::SeqCst);
    let received = sh.received.load(Ordering::SeqCst);
    let stops = READERS as u64;
    ensure!(
        missing_total == dropped,
        "{missing_total} datagrams never arrived, but the NIC counted {dropped} dropped ({})",
        nic_summary(&d)
    );
    ensure!(
        simnic::frames_unaccounted(&d) == 0 && received + stops == d.rx_packets,
        "{} frames sent, {} delivered ({received} read and {stops} STOPs), {dropped} dropped: {} unaccounted ({})",
        d.tx_packets,
        d.rx_packets,
        simnic::frames_unaccounted(&d),
        nic_summary(&d)
    );
    // Drops at the queue are the endpoint's; drops elsewhere (no port, a
    // malformed frame, loopback off, another sender) would be a bug here.
    expect_nic(
        &d,
        &[
            ("tx_packets", total + stops),
            ("tx_busy", refused),
            ("gen_packets", 0),
            ("rx_no_port", 0),
            ("rx_errors", 0),
            ("tx_lost", 0),
        ],
        "after the stress",
    )?;
    ensure!(
        e.rx_drops == d.rx_queue_full + d.rx_mem_drops + d.rx_closed,
        "the endpoint counted {} drops, the NIC {} at its queue (queue full {}, memory {}, closed {})",
        e.rx_drops,
        d.rx_queue_full + d.rx_mem_drops + d.rx_closed,
        d.rx_queue_full,
        d.rx_mem_drops,
        d.rx_closed
    );
    expect_ep(
        &e,
        &[("rx_packets", d.rx_packets), ("tx_packets", total + stops)],
        "after the stress",
    )?;
    expect_poll(
        sh.ep.as_raw_fd(),
        libc::POLLOUT | libc::POLLWRNORM,
        "after the stress (queue must be empty)",
    )?;
    Ok(Outcome {
        dropped,
        refused,
        nic: d,
    })
}

/// Windowed, with a receive buffer big enough for the whole window:
/// nothing may be refused or dropped, every datagram arrives exactly once.
pub fn stress_threads() -> TestResult {
    let o = run_stress(simnic::RCVBUF_DEFAULT, Mode::Windowed)?;
    ensure!(
        o.dropped == 0 && o.refused == 0,
        "{} datagrams dropped and {} writes refused although the rings and the receive queue hold the whole window ({})",
        o.dropped,
        o.refused,
        nic_summary(&o.nic)
    );
    println!(
        "# stress_threads: {} datagrams, none dropped",
        WRITERS * PER_WRITER
    );
    Ok(())
}

/// A flood into the smallest receive buffer (2048 bytes, a few dozen of
/// these datagrams), with nobody reading until something was dropped:
/// datagrams are dropped (at the queue, and at the RX ring if the poll
/// falls behind) and writes refused when the TX ring fills; still every
/// datagram read is intact and in order, each missing one is counted in a
/// drop counter, and each refusal in `tx_busy`.
pub fn stress_threads_drops() -> TestResult {
    let o = run_stress(simnic::RCVBUF_MIN, Mode::Flood)?;
    ensure!(
        o.dropped > 0,
        "2000 datagrams into a receive buffer of {} bytes with nobody reading at first, and none dropped ({})",
        simnic::RCVBUF_MIN,
        nic_summary(&o.nic)
    );
    let drops: Vec<String> = simnic::nic_counters_of(&o.nic, simnic::NicCounterKind::Dropped)
        .into_iter()
        .filter(|c| c.1 != 0)
        .map(|(n, v)| format!("{n} {v}"))
        .collect();
    println!(
        "# stress_threads_drops: {} datagrams, {} dropped and counted ({}), {} writes refused (tx_busy)",
        WRITERS * PER_WRITER,
        o.dropped,
        drops.join(", "),
        o.refused
    );
    Ok(())
}
