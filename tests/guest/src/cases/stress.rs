//! Many threads on one shared file: every datagram arrives at most once,
//! intact, each writer's datagrams in the order it wrote them, and every
//! datagram sent is either received or counted as dropped.
//!
//! Delivery is asynchronous and a full receive queue drops (it does not
//! push back on the writer), so the writers pace themselves: at most
//! `WINDOW` datagrams are in flight (sent, neither received nor counted
//! dropped). The window is below what the TX ring (255 descriptors) and
//! the RX ring hold, so no write may fail and the hardware may miss
//! nothing; how many are dropped depends on the receive buffer.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use simnic::Endpoint;

use crate::net::*;
use crate::sys::*;

const WRITERS: u32 = 4;
const PER_WRITER: u32 = 500;
const READERS: usize = 2;
const WINDOW: u64 = 96;
const STOP: &[u8] = b"STOP";
/// How long the whole exchange may take.
const LIMIT: Duration = Duration::from_secs(15);

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

struct Shared {
    ep: Endpoint,
    /// Datagrams written successfully.
    sent: AtomicU64,
    /// Datagrams read by the readers (STOPs excluded).
    received: AtomicU64,
    /// The endpoint's rx_drops before the test.
    drops0: u64,
    deadline: Instant,
}

impl Shared {
    fn dropped(&self) -> Result<u64, String> {
        Ok(ep_stats(&self.ep)?.rx_drops - self.drops0)
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

/// Writes every datagram of writer `t`, waiting while the window is full.
fn writer(sh: &Shared, t: u32) -> TestResult {
    let fd = sh.ep.as_raw_fd();
    for seq in 0..PER_WRITER {
        while sh.in_flight()? >= WINDOW {
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
        match write(fd, &d) {
            Ok(n) if n == d.len() => {}
            other => {
                return Err(format!(
                    "writer {t}: datagram {seq} of {} bytes with at most {} in flight: write {}",
                    d.len(),
                    WINDOW + u64::from(WRITERS),
                    outcome(other)
                ))
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

/// 4 writer threads x 500 datagrams and 2 blocking reader threads on one
/// shared file whose receive buffer is `rcvbuf`. Checks order, integrity,
/// no duplicates, and received + dropped == sent, on the threads' counts
/// and on the NIC's counters. Returns the number dropped.
fn run_stress(rcvbuf: u32) -> Result<u64, String> {
    let ep = open_dev()?;
    okay(ep.set_rcvbuf(rcvbuf), "SET_RCVBUF")?;
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    let drops0 = ep_stats(&ep)?.rx_drops;
    let sh = Arc::new(Shared {
        ep,
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        drops0,
        deadline: Instant::now() + LIMIT,
    });
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let sh = sh.clone();
            std::thread::spawn(move || reader(&sh, r))
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let sh = sh.clone();
            std::thread::spawn(move || writer(&sh, t))
        })
        .collect();
    for w in writers {
        w.join().map_err(|_| take_panic_message())??;
    }
    let total = u64::from(WRITERS * PER_WRITER);
    ensure!(
        sh.sent.load(Ordering::SeqCst) == total,
        "the writers sent {} datagrams, expected {total}",
        sh.sent.load(Ordering::SeqCst)
    );

    // Every datagram is received or counted dropped: then the queue is
    // empty, the readers are blocked, and the STOPs cannot be dropped.
    loop {
        let in_flight = sh.in_flight()?;
        if in_flight == 0 {
            break;
        }
        ensure!(
            Instant::now() < sh.deadline && readers.iter().all(|r| !r.is_finished()),
            "{in_flight} datagrams neither received nor counted dropped (sent {total}, received {}, dropped {}){}",
            sh.received.load(Ordering::SeqCst),
            sh.dropped()?,
            if readers.iter().any(|r| r.is_finished()) { "; a reader ended early" } else { "" }
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    settle(&sh.ep)?;
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
    let dropped = sh.dropped()?;
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
    ensure!(
        missing_total == dropped,
        "{missing_total} datagrams never arrived, but the endpoint counted {dropped} dropped"
    );
    settle(&sh.ep)?;
    let stops = READERS as u64;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&sh.ep)?),
        &[
            ("tx_packets", total + stops),
            ("tx_busy", 0),
            ("rx_packets", total - dropped + stops),
            ("rx_queue_full", dropped),
            ("rx_missed", 0),
            ("rx_no_port", 0),
        ],
        "after the stress",
    )?;
    expect_poll(
        sh.ep.as_raw_fd(),
        libc::POLLOUT | libc::POLLWRNORM,
        "after the stress (queue must be empty)",
    )?;
    Ok(dropped)
}

/// With a receive buffer big enough for the whole window nothing may be
/// dropped: every datagram arrives exactly once.
pub fn stress_threads() -> TestResult {
    let dropped = run_stress(simnic::RCVBUF_DEFAULT)?;
    ensure!(
        dropped == 0,
        "{dropped} datagrams dropped although the receive queue holds the whole window"
    );
    println!(
        "# stress_threads: {} datagrams, none dropped",
        WRITERS * PER_WRITER
    );
    Ok(())
}

/// With the smallest receive buffer (2048 bytes, about a dozen of these
/// datagrams) the readers fall behind and datagrams are dropped: still in
/// order, intact, and each one missing is counted.
pub fn stress_threads_drops() -> TestResult {
    let dropped = run_stress(simnic::RCVBUF_MIN)?;
    println!(
        "# stress_threads_drops: {} datagrams, {dropped} dropped and counted",
        WRITERS * PER_WRITER
    );
    Ok(())
}
