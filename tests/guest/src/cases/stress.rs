//! Many threads on one shared file: every datagram arrives exactly once,
//! intact, and each writer's datagrams in the order it wrote them.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sys::*;

const WRITERS: u32 = 4;
const PER_WRITER: u32 = 500;
const READERS: usize = 2;
const STOP: &[u8] = b"STOP";

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

/// Writes every datagram of writer `t`, retrying after ENOBUFS; returns how
/// many retries it took.
fn writer(fd: RawFd, t: u32) -> Result<u64, String> {
    let mut retries = 0;
    for seq in 0..PER_WRITER {
        let d = datagram(t, seq);
        loop {
            match write(fd, &d) {
                Ok(n) if n == d.len() => break,
                Ok(n) => {
                    return Err(format!(
                        "writer {t}: datagram {seq} of {} bytes: write returned {n}",
                        d.len()
                    ))
                }
                Err(libc::ENOBUFS) => {
                    retries += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => {
                    return Err(format!(
                        "writer {t}: datagram {seq}: write failed with {}",
                        errname(e)
                    ))
                }
            }
        }
    }
    Ok(retries)
}

/// Blocking reads until a STOP datagram; returns (writer, seq) of each
/// datagram in the order this reader dequeued them.
fn reader(fd: RawFd, r: usize, progress: &AtomicUsize) -> Result<Vec<(u32, u32)>, String> {
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
        progress.fetch_add(1, Ordering::Relaxed);
    }
}

/// 4 writer threads x 500 datagrams and 2 blocking reader threads on one
/// shared file; writers retry on ENOBUFS.
pub fn stress_threads() -> TestResult {
    let ep = Arc::new(open_dev()?);
    let progress = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (ep, progress) = (ep.clone(), progress.clone());
            std::thread::spawn(move || reader(ep.as_raw_fd(), r, &progress))
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let ep = ep.clone();
            std::thread::spawn(move || writer(ep.as_raw_fd(), t))
        })
        .collect();
    let mut retries = 0;
    for w in writers {
        retries += w.join().map_err(|_| take_panic_message())??;
    }
    // All data is queued before the STOPs, so each reader stops only after
    // the data it could get is gone.
    for _ in 0..READERS {
        loop {
            match write(ep.as_raw_fd(), STOP) {
                Ok(_) => break,
                Err(libc::ENOBUFS) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => return Err(format!("write STOP: {}", errname(e))),
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while readers.iter().any(|r| !r.is_finished()) {
        ensure!(
            Instant::now() < deadline,
            "readers still blocked 10 s after the {READERS} STOP datagrams were written \
             ({} of {} data datagrams received)",
            progress.load(Ordering::Relaxed),
            WRITERS * PER_WRITER
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
    for (t, counts) in seen.iter().enumerate() {
        let missing: Vec<usize> = (0..counts.len()).filter(|&s| counts[s] == 0).collect();
        let dup: Vec<usize> = (0..counts.len()).filter(|&s| counts[s] > 1).collect();
        ensure!(
            missing.is_empty(),
            "writer {t}: {} datagrams never arrived, first {:?}",
            missing.len(),
            &missing[..missing.len().min(8)]
        );
        ensure!(
            dup.is_empty(),
            "writer {t}: {} datagrams arrived twice or more, first {:?}",
            dup.len(),
            &dup[..dup.len().min(8)]
        );
    }
    expect_poll(
        ep.as_raw_fd(),
        libc::POLLOUT | libc::POLLWRNORM,
        "after the stress (queue must be empty)",
    )?;
    println!(
        "# stress_threads: {} datagrams, {retries} ENOBUFS retries",
        WRITERS * PER_WRITER
    );
    Ok(())
}
