//! The simulated NIC itself: the TX ring filling up (ENOBUFS, tx_busy,
//! POLLOUT), the wire delay, the ring indices, the NIC counters of one
//! frame and of bursts (interrupt mitigation, the NAPI budget), the RX
//! ring overflowing (rx_missed), and the debugfs files.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use simnic::{Endpoint, MAX_DATAGRAM, RCVBUF_MAX, TX_DELAY_MAX_NS};

use crate::net::*;
use crate::sys::*;

const READABLE: libc::c_short = libc::POLLIN | libc::POLLRDNORM;
const WRITABLE: libc::c_short = libc::POLLOUT | libc::POLLWRNORM;

/// Writes `data` until the TX ring refuses it (or `limit` + 1 writes were
/// accepted, which is more than fits); returns how many were accepted.
/// Anything but success or ENOBUFS fails.
pub fn fill_tx(ep: &Endpoint, data: &[u8], limit: u32, what: &str) -> Result<u32, String> {
    let mut n = 0;
    while n <= limit {
        match write(ep.as_raw_fd(), data) {
            Ok(len) if len == data.len() => n += 1,
            Err(libc::ENOBUFS) => break,
            other => return Err(format!("{what}: write #{n} {}", outcome(other))),
        }
    }
    Ok(n)
}

/// How often [`held_fill`] tries a fill before it gives up.
pub const FILL_TRIES: u32 = 3;

/// What [`held_fill`] returns: the fill's own result, and the state before
/// the try that counted.
pub struct HeldFill<T> {
    pub out: T,
    /// The NIC and endpoint counters before the fill.
    pub n0: simnic::NicStats,
    pub e0: simnic::EpStats,
    /// When the fill started (after the delay was set).
    pub t0: Instant,
}

/// Runs `fill` (writes meant to fill the TX ring) with a wire delay of
/// `delay`, which holds every frame on the TX ring for that long, and
/// checks that the hardware sent nothing meanwhile: the counts of a fill
/// are exact only if its first frame was still waiting for its launch time
/// when the last write was made (the TX head has not moved).
///
/// The delay is at most 1 s (`TX_DELAY_MAX_NS`): a stall of the emulated
/// guest can outlast it, and then the try proves nothing either way. It is
/// not a failure: the frames are let go, delivered and read away, and the
/// fill tried again, up to `FILL_TRIES` times; only a guest that stalls
/// through every try fails the test. The wire delay is left at `delay`.
pub fn held_fill<T>(
    ep: &Endpoint,
    delay: Duration,
    what: &str,
    mut fill: impl FnMut(&simnic::RingState) -> T,
) -> Result<HeldFill<T>, String> {
    let mut slow = Vec::new();
    for _ in 0..FILL_TRIES {
        let before = settle(ep)?;
        let (n0, e0) = (nic_stats(ep)?, ep_stats(ep)?);
        okay(ep.set_tx_delay_ns(delay.as_nanos() as u64), "SET_TX_DELAY")?;
        let t0 = Instant::now();
        let out = fill(&before);
        let s = ring_state(ep)?;
        if s.tx_head == before.tx_head {
            return Ok(HeldFill { out, n0, e0, t0 });
        }
        slow.push(t0.elapsed().as_millis());
        println!(
            "# {what}: the hardware sent frames during the fill ({} ms, longer than the {} ms wire delay: the guest stalled); trying again",
            t0.elapsed().as_millis(),
            delay.as_millis()
        );
        okay(ep.set_tx_delay_ns(0), "SET_TX_DELAY(0)")?;
        settle(ep)?;
        let mut buf = vec![0u8; simnic::MAX_DATAGRAM + 1];
        while ep.recv_from(&mut buf, true).is_ok() {}
    }
    Err(format!(
        "{what}: in each of {FILL_TRIES} tries the hardware sent frames while the TX ring was being \
         filled (the fills took {slow:?} ms, longer than the {} ms wire delay): the guest is too \
         slow for this test",
        delay.as_millis()
    ))
}

/// Fills an empty TX ring of `cap` free descriptors exactly with frames of
/// 65535 bytes (33 descriptors) and then of 2041 bytes (2); returns how
/// many of each it took.
pub fn fill_tx_exactly(ep: &Endpoint, cap: u32) -> Result<(u32, u32), String> {
    let nbig = fill_tx(ep, &pattern(1, MAX_DATAGRAM), cap, "65535-byte frames")?;
    let nmid = fill_tx(ep, &pattern(2, 2041), cap, "2041-byte frames")?;
    let want_big = cap / 33;
    let want_mid = (cap - want_big * 33) / 2;
    ensure!(
        nbig == want_big && nmid == want_mid,
        "a TX ring with {cap} free descriptors took {nbig} frames of 65535 bytes (33 descriptors) \
         and then {nmid} of 2041 bytes (2), expected {want_big} and {want_mid}"
    );
    Ok((nbig, nmid))
}

/// With a 1 s wire delay nothing leaves the TX ring, so it fills: a frame
/// takes ceil((8 + len) / 2048) descriptors and the ring's size minus one
/// are usable, so exactly 7 frames of 65535 bytes fit (33 each), then 12 of
/// 2041 bytes (2 each) in the 24 left, then not even an empty datagram or
/// a SENDTO. Each refusal is ENOBUFS, counted in tx_busy, and POLLOUT is
/// gone once no descriptor is free. The frames leave after the delay,
/// intact and in order, and POLLOUT is back. A second fill of 7 large
/// frames takes exactly 24 one-byte frames (one descriptor each) after them.
pub fn tx_ring_full_enobufs() -> TestResult {
    const DELAY: Duration = Duration::from_secs(1);
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    let fd = ep.as_raw_fd();
    let port = port_of(&ep)?;
    okay(ep.set_rcvbuf(RCVBUF_MAX), "SET_RCVBUF")?;
    let cap = settle(&ep)?.tx_size - 1;

    let big = pattern(1, MAX_DATAGRAM);
    let mid = pattern(2, 2041);
    let (dbig, dmid) = (descs(MAX_DATAGRAM), descs(2041));
    ensure!(
        (dbig, dmid) == (33, 2),
        "descriptor arithmetic: {dbig} and {dmid}, expected 33 and 2"
    );
    let f = held_fill(&ep, DELAY, "first fill", |_| {
        let filled = fill_tx_exactly(&ep, cap);
        let empty = write(fd, &[]);
        let sendto = as_sys(ep.send_to(port, b"x"));
        (filled, empty, sendto)
    })?;
    let (filled, empty, sendto) = f.out;
    let (t0, n0, e0) = (f.t0, f.n0, f.e0);
    let (nbig, nmid) = filled?;
    expect_errno(
        empty,
        libc::ENOBUFS,
        "write of 0 bytes with the TX ring full",
    )?;
    expect_errno(sendto, libc::ENOBUFS, "SENDTO with the TX ring full")?;
    let used = nbig * dbig + nmid * dmid;
    let r = ring_state(&ep)?;
    ensure!(
        (r.tx_tail + r.tx_size - r.tx_head) % r.tx_size == used && used == cap,
        "TX ring after the fill: head {} tail {}, expected {cap} descriptors between them",
        r.tx_head,
        r.tx_tail
    );
    expect_poll(fd, 0, "TX ring full, nothing received yet")?;
    let sent = u64::from(nbig + nmid);
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[("tx_packets", sent), ("tx_busy", 4), ("rx_packets", 0)],
        "with the TX ring full",
    )?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("tx_packets", e0.tx_packets + sent), ("queued", 0)],
        "with the TX ring full",
    )?;

    // Launch times are set at send time: the frames leave 1 s after.
    okay(ep.set_tx_delay_ns(0), "SET_TX_DELAY(0)")?;
    wait_queued(&ep, nbig + nmid, "the frames of the first fill")?;
    let waited = t0.elapsed();
    ensure!(
        waited >= DELAY,
        "the first frames arrived {} ms after they were sent, before the 1 s wire delay",
        waited.as_millis()
    );
    settle(&ep)?;
    expect_poll(fd, READABLE | WRITABLE, "after the TX ring drained")?;
    for i in 0..nbig {
        expect_datagram(fd, &big, &format!("65535-byte frame #{i}"))?;
    }
    for i in 0..nmid {
        expect_datagram(fd, &mid, &format!("2041-byte frame #{i}"))?;
    }
    settle(&ep)?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[
            ("tx_packets", sent),
            ("tx_busy", 4),
            ("rx_packets", sent),
            ("rx_missed", 0),
        ],
        "after the first fill",
    )?;

    // Large frames, then one descriptor per 1-byte frame to the last.
    let f = held_fill(&ep, DELAY, "second fill", |_| {
        let nbig2 = fill_tx(&ep, &big, cap, "65535-byte frames");
        let nsmall = fill_tx(&ep, b"s", cap, "1-byte frames");
        let sendto = as_sys(ep.send_to(port, b"x"));
        (nbig2, nsmall, sendto)
    })?;
    let (nbig2, nsmall, sendto) = f.out;
    let n1 = f.n0;
    let (nbig2, nsmall) = (nbig2?, nsmall?);
    let want_small = cap - nbig * dbig;
    ensure!(
        nbig2 == nbig && nsmall == want_small,
        "after {nbig2} frames of 65535 bytes the TX ring took {nsmall} frames of 1 byte, expected \
         {nbig} and then {want_small}"
    );
    expect_errno(
        sendto,
        libc::ENOBUFS,
        "SENDTO with the TX ring full to its last descriptor",
    )?;
    expect_poll(fd, 0, "TX ring full to its last descriptor")?;
    okay(ep.set_tx_delay_ns(0), "SET_TX_DELAY(0)")?;
    let sent2 = u64::from(nbig2 + nsmall);
    wait_queued(&ep, sent2 as u32, "the frames of the second fill")?;
    settle(&ep)?;
    expect_nic(
        &nic_delta(&n1, &nic_stats(&ep)?),
        &[
            ("tx_packets", sent2),
            ("tx_busy", 3),
            ("rx_packets", sent2),
            ("rx_missed", 0),
        ],
        "after the second fill",
    )?;
    expect_poll(fd, READABLE | WRITABLE, "after the second fill drained")
}

/// A poll() for POLLOUT that blocks while the TX ring is full must wake
/// when the ring drains, as a socket's write-space callback wakes it. The
/// frames go to a port nobody has, so no data_ready wakes the endpoint.
pub fn tx_ring_full_pollout_wakeup() -> TestResult {
    const DELAY: Duration = Duration::from_secs(1);
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    let fd = ep.as_raw_fd();
    let s0 = settle(&ep)?;
    {
        let probe = open_dev_nonblocking()?;
        okay(probe.bind(4322), "BIND(4322) on a probe endpoint")?;
    }
    okay(ep.connect(4322), "CONNECT(4322), a port nobody has")?;
    let f = held_fill(&ep, DELAY, "fill", |_| fill_tx_exactly(&ep, s0.tx_size - 1))?;
    let t0 = f.t0;
    f.out?;
    expect_poll(fd, 0, "TX ring full")?;
    okay(ep.set_tx_delay_ns(0), "SET_TX_DELAY(0)")?;

    // poll() evaluates the file once more when its timeout expires, so a
    // sleeper nobody woke still returns POLLOUT, but only after the
    // timeout: what shows the wake-up is returning before it. The frames
    // leave after DELAY; the wake-up must come within WAIT after that.
    const TIMEOUT: Duration = Duration::from_secs(DELAY.as_secs() + WAIT.as_secs());
    let (r, rev) = poll_one(fd, libc::POLLOUT, TIMEOUT.as_millis() as i32)?;
    let took = t0.elapsed();
    let drained = settle(&ep)?;
    if took >= TIMEOUT {
        return Err(format!(
            "poll(POLLOUT, {} ms) on the full TX ring was not woken when the ring drained \
             (the frames left after {} ms): it returned {r} with {} only when its timeout \
             expired, {} ms after the fill. Nothing wakes the endpoint's wait queue when the \
             driver reclaims TX descriptors (ring state now {drained:?})",
            TIMEOUT.as_millis(),
            DELAY.as_millis(),
            poll_names(rev),
            took.as_millis()
        ));
    }
    ensure!(
        r == 1 && rev & libc::POLLOUT != 0,
        "poll(POLLOUT) returned {r} with {}",
        poll_names(rev)
    );
    ensure!(
        took >= DELAY,
        "poll(POLLOUT) reported the full TX ring writable after {} ms, before the {} ms delay ended",
        took.as_millis(),
        DELAY.as_millis()
    );
    Ok(())
}

/// SET_TX_DELAY takes at most 1 s (EINVAL above, the delay unchanged) and
/// RING_STATE shows it. With 100 ms, a datagram cannot be read before 100
/// ms have passed (a blocking reader waits that long); the wire is FIFO, so
/// a frame sent after the delay went back to 0 still waits behind one sent
/// with 300 ms.
pub fn wire_delay() -> TestResult {
    let ep = open_dev()?;
    let _restore = NicRestore(&ep);
    let fd = ep.as_raw_fd();
    let delay_ns = |ep: &Endpoint| -> Result<u64, String> { Ok(ring_state(ep)?.tx_delay_ns) };
    ensure!(
        delay_ns(&ep)? == 0,
        "the wire delay is {} ns at the start, expected 0",
        delay_ns(&ep)?
    );
    for bad in [TX_DELAY_MAX_NS + 1, u64::MAX] {
        expect_io_errno(
            ep.set_tx_delay_ns(bad),
            libc::EINVAL,
            &format!("SET_TX_DELAY({bad})"),
        )?;
        ensure!(
            delay_ns(&ep)? == 0,
            "a refused SET_TX_DELAY changed the delay to {}",
            delay_ns(&ep)?
        );
    }
    okay(ep.set_tx_delay_ns(TX_DELAY_MAX_NS), "SET_TX_DELAY(1 s)")?;
    ensure!(
        delay_ns(&ep)? == TX_DELAY_MAX_NS,
        "RING_STATE shows {} ns after SET_TX_DELAY(1 s)",
        delay_ns(&ep)?
    );

    const D: Duration = Duration::from_millis(100);
    okay(
        ep.set_tx_delay_ns(D.as_nanos() as u64),
        "SET_TX_DELAY(100 ms)",
    )?;
    ensure!(
        delay_ns(&ep)? == 100_000_000,
        "RING_STATE shows {} ns after SET_TX_DELAY(100 ms)",
        delay_ns(&ep)?
    );
    let t0 = Instant::now();
    send(fd, b"delayed", "write with a 100 ms delay")?;
    let mut buf = [0u8; 64];
    // Right after the write it cannot be there (unless this process slept
    // through the delay), and a blocking read waits for it.
    let (n, took) = match ep.recv_from(&mut buf, true) {
        Err(e) if raw(&e) == libc::EAGAIN => {
            let n = read(fd, &mut buf).map_err(|e| format!("blocking read: {}", errname(e)))?;
            (n, t0.elapsed())
        }
        Err(e) => return Err(format!("RECVFROM right after the write: {}", io_name(&e))),
        Ok(info) => (info.len, t0.elapsed()),
    };
    check_data(&buf[..n], b"delayed", "the delayed datagram")?;
    ensure!(
        took >= D,
        "a blocking read got the datagram {} ms after the write, before the 100 ms delay",
        took.as_millis()
    );
    ensure!(
        took < ARRIVAL,
        "the delayed datagram took {} ms",
        took.as_millis()
    );

    const LONG: Duration = Duration::from_millis(300);
    okay(
        ep.set_tx_delay_ns(LONG.as_nanos() as u64),
        "SET_TX_DELAY(300 ms)",
    )?;
    let t1 = Instant::now();
    send(fd, b"first", "write with a 300 ms delay")?;
    okay(ep.set_tx_delay_ns(0), "SET_TX_DELAY(0)")?;
    send(fd, b"second", "write with no delay, behind the delayed one")?;
    for want in [&b"first"[..], b"second"] {
        let n = read(fd, &mut buf).map_err(|e| format!("blocking read: {}", errname(e)))?;
        check_data(&buf[..n], want, "FIFO order on the wire")?;
        ensure!(
            t1.elapsed() >= LONG,
            "{:?} arrived {} ms after the 300 ms-delayed frame was sent: it overtook it",
            String::from_utf8_lossy(want),
            t1.elapsed().as_millis()
        );
    }
    Ok(())
}

fn check_ring_invariants(s: &simnic::RingState, what: &str) -> TestResult {
    ensure!(
        s.rx_next_to_clean == s.rx_head
            && s.rx_tail == (s.rx_head + s.rx_size - 1) % s.rx_size
            && s.tx_head == s.tx_tail
            && s.tx_next_to_clean == s.tx_head
            && s.irq_masked == 0,
        "{what}: ring state {s:?}: expected rx next_to_clean == head, tail one before head \
         (every other descriptor given back), tx head == tail == next_to_clean, irq unmasked"
    );
    Ok(())
}

/// From `s0` to `s`, both at rest, the TX tail and the RX head advanced by
/// exactly `used` descriptors (modulo the ring sizes: they wrap).
fn check_indices_advanced(
    s0: &simnic::RingState,
    s: &simnic::RingState,
    used: u32,
    what: &str,
) -> TestResult {
    ensure!(
        s.tx_tail == (s0.tx_tail + used) % s0.tx_size
            && s.rx_head == (s0.rx_head + used) % s0.rx_size,
        "{what}: tx tail {} -> {}, rx head {} -> {}",
        s0.tx_tail,
        s.tx_tail,
        s0.rx_head,
        s.rx_head
    );
    Ok(())
}

/// Once the NIC is quiet the rings are in their rest state: everything the
/// hardware wrote was cleaned, every RX descriptor but one handed back,
/// everything the driver queued for TX sent and reclaimed, the interrupt
/// unmasked. The indices advance by exactly the descriptors used, and wrap.
pub fn ring_state_quiescent() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    // One echo, so that a poll runs and reclaims what earlier tests sent.
    send(fd, b"warm up", "write")?;
    expect_datagram(fd, b"warm up", "the echo")?;
    let s0 = settle(&ep)?;
    ensure!(
        (s0.rx_size, s0.tx_size, s0.budget, s0.tx_delay_ns) == (256, 256, 64, 0),
        "the default load has ring sizes rx {} tx {}, budget {}, delay {} ns; expected 256, 256, 64, 0",
        s0.rx_size,
        s0.tx_size,
        s0.budget,
        s0.tx_delay_ns
    );
    check_ring_invariants(&s0, "at rest")?;

    let n0 = nic_stats(&ep)?;
    let sizes = [100usize, 0, 5000, 2040, 2041, 1];
    let used: u32 = sizes.iter().map(|&l| descs(l)).sum();
    for (i, &len) in sizes.iter().enumerate() {
        send(
            fd,
            &pattern(i as u32, len),
            &format!("write of {len} bytes"),
        )?;
    }
    let s1 = settle(&ep)?;
    check_ring_invariants(&s1, "after six frames")?;
    check_indices_advanced(
        &s0,
        &s1,
        used,
        &format!("after {used} descriptors' worth of frames"),
    )?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[
            ("tx_packets", 6),
            ("rx_packets", 6),
            ("rx_descs", used.into()),
        ],
        "after six frames",
    )?;
    for (i, &len) in sizes.iter().enumerate() {
        expect_datagram(
            fd,
            &pattern(i as u32, len),
            &format!("the {len}-byte datagram"),
        )?;
    }

    // Around the rings: 2 x 200 frames, read in between.
    let mut tx = Paced::new(&ep)?;
    let mut total = used;
    for round in 0..2 {
        for i in 0..200 {
            tx.send(&pattern(i, 8), &format!("round {round}: write #{i}"))?;
        }
        total += 200;
        wait_queued(&ep, 200, "the 200 frames")?;
        for i in 0..200 {
            expect_datagram(fd, &pattern(i, 8), &format!("round {round}: datagram #{i}"))?;
        }
    }
    let s2 = settle(&ep)?;
    check_ring_invariants(&s2, "after 400 more frames")?;
    check_indices_advanced(
        &s0,
        &s2,
        total,
        &format!("after {total} descriptors in all"),
    )
}

/// RESET_STATS zeroes the NIC counters. One frame sent to oneself on an
/// idle NIC is then exactly: one TX packet, one RX descriptor, one RX
/// packet, one interrupt, one poll that completes, no wake-up (nobody
/// sleeps), with the payload bytes counted both ways.
pub fn nic_counters_single_frame() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    settle(&ep)?;
    okay(ep.reset_stats(), "RESET_STATS")?;
    let z = nic_stats(&ep)?;
    // The engine may run once more for a doorbell rung before the reset.
    expect_nic_all(&z, &[], &["hw_runs"], "right after RESET_STATS")?;
    ensure!(
        z.hw_runs <= 1,
        "hw_runs is {} right after RESET_STATS on an idle NIC",
        z.hw_runs
    );

    send(fd, &pattern(1, 100), "write of 100 bytes")?;
    // Wait without sleeping on the endpoint (that would count a wake-up).
    wait_queued(&ep, 1, "the datagram")?;
    settle(&ep)?;
    let s = nic_stats(&ep)?;
    // Every counter: these values, all others 0 (no drop, no wake-up, no
    // suppressed interrupt, ...), hw_runs checked below.
    expect_nic_all(
        &s,
        &[
            ("tx_packets", 1),
            ("tx_bytes", 100),
            ("rx_descs", 1),
            ("rx_packets", 1),
            ("rx_bytes", 100),
            ("irqs", 1),
            ("polls", 1),
            ("napi_complete", 1),
        ],
        &["hw_runs"],
        "one frame after RESET_STATS",
    )?;
    ensure!(
        (1..=3).contains(&(s.hw_runs - z.hw_runs)),
        "the hardware engine ran {} times for one frame",
        s.hw_runs - z.hw_runs
    );
    expect_datagram(fd, &pattern(1, 100), "the datagram")?;
    okay(ep.reset_stats(), "RESET_STATS")?;
    let z = nic_stats(&ep)?;
    ensure!(
        z.tx_packets == 0 && z.rx_packets == 0 && z.irqs == 0,
        "after the second RESET_STATS: {}",
        nic_summary(&z)
    );
    Ok(())
}

/// A generator burst of 200 frames written at once raises one interrupt;
/// the poll then takes `budget` descriptors per run: 200 / 64 runs use up
/// their budget and reschedule, one more completes. A sustained flow shows
/// mitigation too: fewer interrupts than packets, and frames arriving while
/// the interrupt is masked (irqs_suppressed) or several per poll.
pub fn interrupt_mitigation() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    let fd = ep.as_raw_fd();
    let port = port_of(&ep)?;
    okay(ep.set_rcvbuf(RCVBUF_MAX), "SET_RCVBUF")?;
    let s = settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    const N: u64 = 200;
    okay(
        ep.gen_start(&flow(0, port, 64, 1, N as u32, N)),
        "GEN_START of a 200-frame burst",
    )?;
    wait_queued(&ep, N as u32, "the burst")?;
    settle(&ep)?;
    let b = u64::from(s.budget);
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[
            ("gen_packets", N),
            ("rx_packets", N),
            ("rx_descs", N),
            ("rx_missed", 0),
            ("irqs", 1),
            ("polls", N / b + 1),
            ("budget_exhausted", N / b),
            ("napi_complete", 1),
        ],
        &format!("a burst of {N} frames with budget {b}"),
    )?;
    for seq in 0..N {
        let mut buf = [0u8; 128];
        let info = okay(ep.recv_from(&mut buf, true), "RECVFROM of the burst")?;
        check_data(
            &buf[..info.len],
            &gen_payload(0, seq, 64),
            &format!("generated datagram #{seq}"),
        )?;
        ensure!(
            info.src_port == 0,
            "generated datagram #{seq} has source port {}, expected 0",
            info.src_port
        );
    }

    // Sustained: 2000 frames at 20000/s in bursts of 4, read as they come.
    const M: u64 = 2000;
    settle(&ep)?;
    let n1 = nic_stats(&ep)?;
    let drops0 = ep_stats(&ep)?.rx_drops;
    okay(
        ep.gen_start(&flow(1, port, 32, 20_000, 4, M)),
        "GEN_START of 2000 frames",
    )?;
    let deadline = Instant::now() + ARRIVAL;
    let mut got = 0u64;
    let mut buf = [0u8; 64];
    loop {
        match read(fd, &mut buf) {
            Ok(_) => {
                got += 1;
                continue;
            }
            Err(libc::EAGAIN) => {}
            Err(e) => return Err(format!("read: {}", errname(e))),
        }
        let s = nic_delta(&n1, &nic_stats(&ep)?);
        let dropped = ep_stats(&ep)?.rx_drops - drops0;
        if s.gen_packets == M && got + dropped + s.rx_missed == M {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "sustained flow: {got} read, {dropped} dropped, after {} s: {}",
            ARRIVAL.as_secs(),
            nic_summary(&s)
        );
        wait_readable(fd, Duration::from_millis(20))?;
    }
    settle(&ep)?;
    let d = nic_delta(&n1, &nic_stats(&ep)?);
    println!(
        "# interrupt_mitigation: {M} frames at 20000/s: {}",
        nic_summary(&d)
    );
    ensure!(
        d.irqs < d.rx_packets,
        "{} interrupts for {} packets: no mitigation ({})",
        d.irqs,
        d.rx_packets,
        nic_summary(&d)
    );
    ensure!(
        d.irqs_suppressed > 0 || d.polls < d.rx_packets,
        "no frame arrived while the interrupt was masked and every poll took one packet: {}",
        nic_summary(&d)
    );
    // Every run of polls starts with an interrupt and ends with one
    // completion; an interrupt raised twice before its handler ran is one.
    ensure!(
        (1..=d.irqs).contains(&d.napi_complete),
        "{} completed polls for {} interrupts: {}",
        d.napi_complete,
        d.irqs,
        nic_summary(&d)
    );
    Ok(())
}

/// Sends a generator burst of `n` frames of `len` payload bytes to `ep`,
/// all written by the hardware at once, and checks that exactly what the
/// RX ring holds (its size minus one descriptor, in frames of
/// ceil((8 + len) / 2048) descriptors) is delivered, in order, and the rest
/// is counted as missed.
pub fn burst_into_rx_ring(ep: &Endpoint, flow_id: u32, n: u64, len: usize) -> TestResult {
    let fd = ep.as_raw_fd();
    let port = port_of(ep)?;
    let s = settle(ep)?;
    let fit = u64::from((s.rx_size - 1) / descs(len)).min(n);
    let n0 = nic_stats(ep)?;
    okay(
        ep.gen_start(&flow(flow_id, port, len as u32, 1, n as u32, n)),
        "GEN_START",
    )?;
    wait_nic(ep, ARRIVAL, "the burst", |s| {
        s.gen_packets - n0.gen_packets >= n
    })?;
    settle(ep)?;
    let what = format!(
        "a burst of {n} frames of {len} bytes into an RX ring of {}",
        s.rx_size
    );
    expect_nic(
        &nic_delta(&n0, &nic_stats(ep)?),
        &[
            ("gen_packets", n),
            ("rx_packets", fit),
            ("rx_missed", n - fit),
            ("rx_descs", fit * u64::from(descs(len))),
            ("rx_queue_full", 0),
        ],
        &what,
    )?;
    expect_ep(&ep_stats(ep)?, &[("queued", fit)], &what)?;
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    for seq in 0..fit {
        let n = read(fd, &mut buf).map_err(|e| format!("{what}: read #{seq}: {}", errname(e)))?;
        check_data(
            &buf[..n],
            &gen_payload(flow_id, seq, len),
            &format!("{what}: datagram #{seq}"),
        )?;
    }
    settle(ep)?;
    expect_io_errno(
        ep.recv_from(&mut buf, true),
        libc::EAGAIN,
        &format!("{what}: RECVFROM after the {fit} that fit"),
    )
}

/// The RX ring overflowing: a burst the hardware writes at once is
/// delivered up to what the ring holds (255 small frames, or 7 of 65535
/// bytes at 33 descriptors each) and the rest is dropped by the hardware
/// and counted as rx_missed.
pub fn rx_ring_full_missed() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    okay(ep.set_rcvbuf(RCVBUF_MAX), "SET_RCVBUF")?;
    burst_into_rx_ring(&ep, 2, 300, 16)?;
    burst_into_rx_ring(&ep, 3, 10, MAX_DATAGRAM)
}

fn read_text(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

/// Parses the numbers after the given words of a line like
/// "rx size 256 head 3 tail 2 next_to_clean 3".
fn fields_of(line: &str) -> BTreeMap<String, u64> {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .filter_map(|w| w[1].parse().ok().map(|v| (w[0].to_string(), v)))
        .collect()
}

/// /sys/kernel/debug/simnic/ has stats (every NIC counter, as NIC_STATS
/// reports them), rings (the ring state, as RING_STATE) and endpoints (a
/// line per bound endpoint with its queue, its `bytes` the memory charged
/// as EP_STATS queued_bytes, and counters, gone once closed).
pub fn debugfs_files() -> TestResult {
    const DIR: &str = "/sys/kernel/debug/simnic";
    let a = open_dev_nonblocking()?;
    let b = open_dev_nonblocking()?;
    okay(a.bind(5555), "a: BIND(5555)")?;
    okay(b.bind(5556), "b: BIND(5556)")?;
    okay(a.set_rcvbuf(4096), "a: SET_RCVBUF(4096)")?;
    for i in 0..3 {
        send(a.as_raw_fd(), &pattern(i, 10), "a: write of 10 bytes")?;
    }
    settle(&a)?;

    // stats
    let before = nic_stats(&a)?;
    let text = read_text(&format!("{DIR}/stats"))?;
    let after = nic_stats(&a)?;
    ensure!(
        before == after,
        "the NIC counters moved while idle: {before:?} -> {after:?}"
    );
    let lines: Vec<(String, u64)> = text
        .lines()
        .map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next().unwrap_or("").to_string();
            let v = it.next().and_then(|v| v.parse().ok());
            v.map(|v| (name, v))
                .ok_or_else(|| format!("{DIR}/stats: bad line {l:?}"))
        })
        .collect::<Result<_, _>>()?;
    let want: Vec<(String, u64)> = nic_fields(&before)
        .iter()
        .map(|(n, v)| (n.to_string(), *v))
        .collect();
    ensure!(
        lines == want,
        "{DIR}/stats says {lines:?}, NIC_STATS says {want:?}"
    );

    // rings
    let r = ring_state(&a)?;
    let text = read_text(&format!("{DIR}/rings"))?;
    let lines: Vec<&str> = text.lines().collect();
    ensure!(
        lines.len() == 3,
        "{DIR}/rings has {} lines: {text:?}",
        lines.len()
    );
    let (rx, tx, misc) = (
        fields_of(lines[0]),
        fields_of(lines[1]),
        fields_of(lines[2]),
    );
    let expect = |m: &BTreeMap<String, u64>, key: &str, v: u64, line: &str| -> TestResult {
        ensure!(
            m.get(key) == Some(&v),
            "{DIR}/rings: {key} is {:?} on line {line:?}, RING_STATE says {v}",
            m.get(key)
        );
        Ok(())
    };
    ensure!(
        lines[0].starts_with("rx ") && lines[1].starts_with("tx "),
        "{DIR}/rings: {text:?}"
    );
    for (key, v) in [
        ("size", r.rx_size),
        ("head", r.rx_head),
        ("tail", r.rx_tail),
        ("next_to_clean", r.rx_next_to_clean),
    ] {
        expect(&rx, key, v.into(), lines[0])?;
    }
    for (key, v) in [
        ("size", r.tx_size),
        ("head", r.tx_head),
        ("tail", r.tx_tail),
        ("next_to_clean", r.tx_next_to_clean),
    ] {
        expect(&tx, key, v.into(), lines[1])?;
    }
    expect(&misc, "irq_masked", r.irq_masked.into(), lines[2])?;
    expect(&misc, "budget", r.budget.into(), lines[2])?;
    expect(&misc, "tx_delay_ns", r.tx_delay_ns, lines[2])?;

    // endpoints
    let endpoints = || -> Result<BTreeMap<u64, Vec<u64>>, String> {
        let text = read_text(&format!("{DIR}/endpoints"))?;
        let mut lines = text.lines();
        let header = lines.next().unwrap_or("");
        ensure!(
            header.split_whitespace().collect::<Vec<_>>()
                == [
                    "port",
                    "queued",
                    "bytes",
                    "rcvbuf",
                    "rx_packets",
                    "rx_drops",
                    "tx_packets",
                    "wakeups"
                ],
            "{DIR}/endpoints: unexpected header {header:?}"
        );
        lines
            .map(|l| {
                let v: Vec<u64> = l
                    .split_whitespace()
                    .map(|w| {
                        w.parse()
                            .map_err(|_| format!("{DIR}/endpoints: bad line {l:?}"))
                    })
                    .collect::<Result<_, _>>()?;
                ensure!(v.len() == 8, "{DIR}/endpoints: bad line {l:?}");
                Ok((v[0], v[1..].to_vec()))
            })
            .collect()
    };
    let eps = endpoints()?;
    // `bytes` is the memory charged: three datagrams of 10 bytes, each
    // charged the allocation of its header and payload.
    let bytes = 3 * simnic::rx_truesize(10) as u64;
    let queued_bytes = u64::from(ep_stats(&a)?.queued_bytes);
    ensure!(
        queued_bytes == bytes,
        "a: EP_STATS queued_bytes {queued_bytes}, expected {bytes}"
    );
    ensure!(
        eps.get(&5555) == Some(&vec![3, bytes, 4096, 3, 0, 3, 0]),
        "{DIR}/endpoints: port 5555 has {:?}, expected queued 3, bytes {bytes}, rcvbuf 4096, rx_packets 3, \
         rx_drops 0, tx_packets 3, wakeups 0",
        eps.get(&5555)
    );
    ensure!(
        eps.get(&5556) == Some(&vec![0, 0, u64::from(simnic::RCVBUF_DEFAULT), 0, 0, 0, 0]),
        "{DIR}/endpoints: port 5556 has {:?}, expected an idle endpoint",
        eps.get(&5556)
    );
    ensure!(
        eps.len() == 2,
        "{DIR}/endpoints lists ports {:?}, expected 5555 and 5556 only",
        eps.keys()
    );
    drop(b);
    let eps = endpoints()?;
    ensure!(
        eps.keys().copied().collect::<Vec<_>>() == [5555],
        "{DIR}/endpoints lists ports {:?} after 5556 was closed",
        eps.keys()
    );
    Ok(())
}
