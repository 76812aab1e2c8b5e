//! Write space, the socket way: `POLLOUT` means a datagram of the largest
//! size fits on the TX ring; an endpoint that found it too full waits on
//! its own queue and is woken by `write_space` when TX reclaim frees room,
//! even when nothing comes back to raise an RX interrupt (the TX-done
//! cause); and no other endpoint's pollers are woken by that.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use simnic::MAX_DATAGRAM;

use crate::cases::nic::{fill_tx, held_fill, FILL_TRIES};
use crate::net::*;
use crate::sys::*;

const WRITABLE: libc::c_short = libc::POLLOUT | libc::POLLWRNORM;
/// TX descriptors a 65535-byte datagram takes (2 KiB buffers).
const MAX_DESCS: u32 = 33;

/// With fewer than 33 free TX descriptors, small datagrams still fit but
/// `POLLOUT` is not reported: an event loop that writes on `POLLOUT` never
/// meets `ENOBUFS` for a datagram of any size. Back once the ring drains.
pub fn pollout_means_max_datagram_fits() -> TestResult {
    const DELAY: Duration = Duration::from_secs(1);
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    let fd = ep.as_raw_fd();
    okay(ep.set_loopback(false), "SET_LOOPBACK(0)")?;
    // One-descriptor frames until exactly MAX_DESCS are left, then one more.
    let f = held_fill(&ep, DELAY, "fill", |s0| -> Result<_, String> {
        let free0 = s0.tx_size - 1;
        let mut sent = 0;
        let mut steps = Vec::new();
        for left in [MAX_DESCS, MAX_DESCS - 1] {
            while free0 - sent > left {
                send(fd, b"1", "one-descriptor write")?;
                sent += 1;
            }
            let (_, rev) = poll_one(fd, libc::POLLOUT, 0)?;
            steps.push((left, rev & libc::POLLOUT != 0));
        }
        Ok(steps)
    })?;
    let steps = f.out?;
    ensure!(
        steps == [(MAX_DESCS, true), (MAX_DESCS - 1, false)],
        "POLLOUT with (free descriptors, reported): {steps:?}, expected POLLOUT with 33 free and none with 32"
    );
    // Still room for small ones: POLLOUT is conservative, not wrong.
    send(fd, b"1", "a one-descriptor write with 32 free")?;
    okay(ep.set_tx_delay_ns(0), "SET_TX_DELAY(0)")?;
    let (r, rev) = poll_one(fd, libc::POLLOUT, (DELAY + WAIT).as_millis() as i32)?;
    ensure!(
        r == 1 && rev & libc::POLLOUT != 0,
        "POLLOUT never came back: {r}, {}",
        poll_names(rev)
    );
    settle(&ep)?;
    expect_poll(fd, WRITABLE, "drained")
}

/// Loopback off: frames leave and nothing comes back, so no RX interrupt.
/// A poller waiting for `POLLOUT` on a full TX ring is still woken, by the
/// TX-done interrupt cause and `write_space`, before its timeout (which
/// allows `WAIT` after the frames leave: poll reports `POLLOUT` at its
/// timeout too, so only returning before it shows the wake-up).
pub fn write_space_tx_done_without_rx() -> TestResult {
    const DELAY: Duration = Duration::from_millis(500);
    const TIMEOUT: Duration =
        Duration::from_millis(DELAY.as_millis() as u64 + WAIT.as_millis() as u64);
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    let fd = ep.as_raw_fd();
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    okay(ep.set_loopback(false), "SET_LOOPBACK(0)")?;
    okay(
        ep.set_tx_delay_ns(DELAY.as_nanos() as u64),
        "SET_TX_DELAY(500 ms)",
    )?;
    let t0 = Instant::now();
    let n = fill_tx(&ep, &[7u8; MAX_DATAGRAM], 64, "65535-byte frames")?;
    expect_errno(write(fd, &[7u8; MAX_DATAGRAM]), libc::ENOBUFS, "one more")?;
    let (r, rev) = poll_one(fd, libc::POLLOUT, TIMEOUT.as_millis() as i32)?;
    let took = t0.elapsed();
    ensure!(
        took < TIMEOUT,
        "poll(POLLOUT) on the full ring was not woken when the frames left: it returned \
         {r} with {} only at its timeout",
        poll_names(rev)
    );
    ensure!(
        r == 1 && rev & libc::POLLOUT != 0,
        "poll(POLLOUT): {r} with {}",
        poll_names(rev)
    );
    okay(ep.set_tx_delay_ns(0), "SET_TX_DELAY(0)")?;
    settle(&ep)?;
    let d = nic_delta(&n0, &nic_stats(&ep)?);
    expect_nic(
        &d,
        &[
            ("tx_packets", n.into()),
            ("tx_lost", n.into()),
            ("rx_packets", 0),
            ("rx_descs", 0),
            ("tx_busy", 2),
        ],
        "loopback off",
    )?;
    ensure!(
        d.irqs >= 1 && d.write_space >= 1,
        "no TX-done interrupt or write_space: {}",
        nic_summary(&d)
    );
    Ok(())
}

/// Twenty idle endpoints in an edge-triggered epoll set for `EPOLLIN |
/// EPOLLOUT`: after their first (writable) edge, a hundred datagrams
/// through another endpoint, whose TX descriptors are reclaimed each time,
/// bring them no event at all: TX reclaim wakes only endpoints that waited
/// for room, and no endpoint's wait queue is shared.
pub fn write_space_spares_idle_endpoints() -> TestResult {
    const IDLE: usize = 20;
    let busy = open_dev_nonblocking()?;
    let idle: Vec<_> = (0..IDLE)
        .map(|_| open_dev_nonblocking())
        .collect::<Result<_, _>>()?;
    // SAFETY: epoll_create1 with a valid flag.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    ensure!(epfd >= 0, "epoll_create1: {}", errname(errno()));
    // SAFETY: a fresh descriptor.
    let epfd = unsafe { OwnedFd::from_raw_fd(epfd) };
    for (i, ep) in idle.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLET) as u32,
            u64: i as u64,
        };
        // SAFETY: a valid event.
        let r = unsafe {
            libc::epoll_ctl(
                epfd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                ep.as_raw_fd(),
                &mut ev,
            )
        };
        ensure!(r == 0, "epoll_ctl: {}", errname(errno()));
    }
    let wait = |timeout: i32| -> Result<Vec<(u64, u32)>, String> {
        let mut out = [libc::epoll_event { events: 0, u64: 0 }; 64];
        // SAFETY: room for 64 events.
        let n = unsafe { libc::epoll_wait(epfd.as_raw_fd(), out.as_mut_ptr(), 64, timeout) };
        ensure!(n >= 0, "epoll_wait: {}", errname(errno()));
        Ok(out[..n as usize]
            .iter()
            .map(|e| (e.u64, e.events))
            .collect())
    };
    let first = wait(0)?;
    ensure!(
        first.len() == IDLE && first.iter().all(|&(_, ev)| ev == libc::EPOLLOUT as u32),
        "the first edge: {} events {first:?}, expected {IDLE} with EPOLLOUT only",
        first.len()
    );
    let fd = busy.as_raw_fd();
    settle(&busy)?;
    let n0 = nic_stats(&busy)?;
    for i in 0..100u32 {
        send(fd, &i.to_le_bytes(), "busy endpoint's write")?;
        expect_datagram(fd, &i.to_le_bytes(), "busy endpoint's read")?;
    }
    settle(&busy)?;
    let d = nic_delta(&n0, &nic_stats(&busy)?);
    ensure!(
        d.tx_packets == 100 && d.polls >= 1,
        "the busy endpoint's traffic: {}",
        nic_summary(&d)
    );
    // Must be empty. A wrong wake-up would have put an item on the ready
    // list during the poll that reclaimed the busy endpoint's descriptors,
    // which settle() waited for, and an edge-triggered item stays there
    // until harvested: the window only adds slack, the list is the proof.
    let later = wait(QUIET.as_millis() as i32)?;
    ensure!(
        later.is_empty(),
        "idle endpoints got events from another endpoint's traffic: {later:?}"
    );
    Ok(())
}

/// The TX ring full for a 65535-byte write: `ENOBUFS`, and a writer that
/// polls for `POLLOUT` in a child is woken when the ring drains, and its
/// next large write succeeds (no spin between POLLOUT and ENOBUFS).
///
/// The child must be asleep in poll() before the frames leave (a 1 s wire
/// delay, the most there is). A try in which the guest stalled so long
/// that the ring drained before the child was seen asleep proves nothing
/// and is made again (up to `FILL_TRIES` times).
pub fn write_space_wakes_blocked_poller() -> TestResult {
    const DELAY: Duration = Duration::from_secs(1);
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    let fd = ep.as_raw_fd();
    okay(ep.set_loopback(false), "SET_LOOPBACK(0)")?;
    for _ in 0..FILL_TRIES {
        let before = settle(&ep)?;
        okay(
            ep.set_tx_delay_ns(DELAY.as_nanos() as u64),
            "SET_TX_DELAY(1 s)",
        )?;
        let t0 = Instant::now();
        fill_tx(&ep, &[1u8; MAX_DATAGRAM], 64, "fill")?;
        let pipe = Pipe::new()?;
        let report = pipe.w.as_raw_fd();
        let mut child = Child::spawn(move || {
            let start = Instant::now();
            if !Report::ready(0).send(report) {
                return 2;
            }
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, CHILD_BLOCK_MS) };
            let big = [2u8; MAX_DATAGRAM];
            let w = write(fd, &big);
            let r = if n == 1 && pfd.revents & libc::POLLOUT != 0 {
                w
            } else {
                Err(-1)
            };
            i32::from(!Report::done(0, r, start, &[]).send(report))
        })?;
        drop(pipe.w);
        let mut reports = Reports::new(pipe.r);
        reports.expect(Kind::Ready, WAIT, "child start")?;
        // Asleep in poll() while the ring is still full (its head has not
        // moved since: checked after the child was seen asleep): only a
        // wake-up gets it out.
        let asleep = child.wait_sleeping(WAIT, "poll(POLLOUT) on the full TX ring");
        if ring_state(&ep)?.tx_head != before.tx_head {
            println!(
                "# write_space_wakes_blocked_poller: the frames left ({} ms after the fill began) before the child was seen asleep: the guest stalled; trying again",
                t0.elapsed().as_millis()
            );
            drop(child);
            okay(ep.set_tx_delay_ns(0), "SET_TX_DELAY(0)")?;
            continue;
        }
        asleep?;
        okay(ep.set_tx_delay_ns(0), "SET_TX_DELAY(0)")?;
        let done = reports.expect(
            Kind::Done,
            DELAY + WAIT,
            "the poll for POLLOUT and the write after it",
        )?;
        ensure!(
            done.ret == MAX_DATAGRAM as i64,
            "after POLLOUT the 65535-byte write {}",
            done.outcome()
        );
        return child.expect_exit0(WAIT, "writer");
    }
    Err(format!(
        "in each of {FILL_TRIES} tries the TX ring drained before the child was asleep in poll(): the guest is too slow for this test"
    ))
}
