//! Blocking reads across processes that share one open file: wakeup by a
//! writer (through the NIC: the poll's data_ready wakes the reader),
//! exclusive wakeup of one reader per datagram, the wake-up counters, and
//! signals with and without SA_RESTART.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::net::*;
use crate::sys::*;

/// A child that says Ready, makes one blocking read of `fd` and reports
/// what it returned.
fn spawn_reader(id: u32, fd: RawFd, report: RawFd) -> Result<Child, String> {
    Child::spawn(move || {
        let mut buf = [0u8; 1024];
        let start = Instant::now();
        if !Report::ready(id).send(report) {
            return 2;
        }
        let r = read(fd, &mut buf);
        i32::from(!Report::done(id, r, start, &buf).send(report))
    })
}

/// A blocked reader in a child sleeps until the parent writes, at least
/// `QUIET` later, and then gets exactly that datagram.
pub fn blocking_read_wakeup() -> TestResult {
    const DELAY: Duration = QUIET;
    let ep = open_dev()?;
    let pipe = Pipe::new()?;
    let mut child = spawn_reader(0, ep.as_raw_fd(), pipe.w.as_raw_fd())?;
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    reports.expect(Kind::Ready, WAIT, "reader start")?;
    child.wait_sleeping(WAIT, "blocking read on an empty endpoint")?;
    // Must not return: a read that did anyway (even after the window)
    // left its report, which the expect below reads instead of the woken
    // read's, and its data and elapsed time give it away.
    reports.expect_none(DELAY, "read on an empty endpoint returned before any write")?;
    send(ep.as_raw_fd(), b"wake up", "parent's write")?;
    let done = reports.expect(Kind::Done, WAIT, "blocked read after the parent's write")?;
    ensure!(done.ret == 7, "blocked read {}, expected 7", done.outcome());
    check_data(&done.data, b"wake up", "datagram read by the woken child")?;
    ensure!(
        done.elapsed >= DELAY,
        "the child's read returned after {} ms, before the write {} ms after it started",
        ms(done.elapsed),
        ms(DELAY)
    );
    child.expect_exit0(WAIT, "woken reader")?;
    expect_poll(
        ep.as_raw_fd(),
        libc::POLLOUT | libc::POLLWRNORM,
        "after the child read the only datagram",
    )
}

/// Four readers block on one shared file. One datagram wakes exactly one of
/// them: the others neither return nor are woken at all (their count of
/// voluntary context switches stays put). Three more datagrams then finish
/// the other three, each datagram delivered once.
pub fn exclusive_wakeup() -> TestResult {
    const N: u32 = 4;
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let pipe = Pipe::new()?;
    let mut children = Vec::new();
    for id in 0..N {
        children.push(spawn_reader(id, fd, pipe.w.as_raw_fd())?);
    }
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    for _ in 0..N {
        reports.expect(Kind::Ready, WAIT, "reader start")?;
    }
    for c in &mut children {
        c.wait_sleeping(WAIT, "reader blocking on the empty endpoint")?;
    }
    // Must not have returned: a reader that did (even later) leaves a
    // report that is read instead of the first woken one, with no data.
    reports.expect_none(QUIET, "a reader returned before any write")?;
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    let before: Vec<u64> = children
        .iter()
        .map(|c| c.voluntary_switches())
        .collect::<Result<_, _>>()?;

    send(fd, b"datagram 0", "first write")?;
    let first = reports.expect(Kind::Done, WAIT, "a reader returning after the first write")?;
    ensure!(
        first.ret == 10,
        "the woken reader's read {}, expected 10",
        first.outcome()
    );
    check_data(
        &first.data,
        b"datagram 0",
        "datagram of the first woken reader",
    )?;
    // Must not happen. A stall can keep a wrongly woken reader from
    // reporting within the window, but not from leaving its mark: below,
    // each other reader must still be asleep ('S', not runnable) with the
    // same count of voluntary context switches as before the write.
    reports.expect_none(
        QUIET,
        "a second reader returned for the same single datagram",
    )?;
    for (i, c) in children.iter_mut().enumerate() {
        if i as u32 == first.id {
            continue;
        }
        ensure!(
            !c.exited()?,
            "reader {i} exited although only one datagram was written"
        );
        let state = c.state()?;
        ensure!(
            state == 'S',
            "reader {i} is in state {state:?}, expected still asleep in read (S)"
        );
        let now = c.voluntary_switches()?;
        ensure!(
            now == before[i],
            "reader {i} was woken although reader {} took the only datagram \
             (voluntary_ctxt_switches {} -> {now}): the wakeup is not exclusive",
            first.id,
            before[i]
        );
    }

    // One datagram, one data_ready call that found sleepers: one wake-up.
    settle(&ep)?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[("wakeups", 1), ("rx_packets", 1)],
        "after one datagram woke one of four blocked readers",
    )?;

    let mut got: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    got.insert(first.data.clone(), first.id);
    for k in 1..N {
        send(fd, format!("datagram {k}").as_bytes(), "further write")?;
    }
    for _ in 1..N {
        let r = reports.expect(
            Kind::Done,
            WAIT,
            "the remaining readers after three more writes",
        )?;
        ensure!(
            r.ret == 10,
            "reader {}'s read {}, expected 10",
            r.id,
            r.outcome()
        );
        if let Some(other) = got.insert(r.data.clone(), r.id) {
            return Err(format!(
                "readers {other} and {} both got {:?}",
                r.id,
                String::from_utf8_lossy(&r.data)
            ));
        }
    }
    let want: Vec<Vec<u8>> = (0..N)
        .map(|k| format!("datagram {k}").into_bytes())
        .collect();
    let have: Vec<Vec<u8>> = got.keys().cloned().collect();
    ensure!(
        have == want,
        "readers got {have:?}, expected each of {want:?} once"
    );
    for c in &mut children {
        c.expect_exit0(WAIT, "reader")?;
    }
    Ok(())
}

/// Runs a reader child with a SIGUSR1 handler installed (with or without
/// SA_RESTART), waits until it is blocked, signals it and waits for the
/// handler to run (it writes a byte to a pipe). Returns the child and its
/// reports.
fn blocked_reader_signalled(fd: RawFd, restart: bool) -> Result<(Child, Reports), String> {
    let pipe = Pipe::new()?;
    let notes = Pipe::new()?;
    let (report, note) = (pipe.w.as_raw_fd(), notes.w.as_raw_fd());
    let mut child = Child::spawn(move || {
        SIGNAL_NOTE_FD.store(note, Ordering::Relaxed);
        if install_note_handler(libc::SIGUSR1, restart).is_err() {
            return 3;
        }
        let mut buf = [0u8; 1024];
        let start = Instant::now();
        if !Report::ready(0).send(report) {
            return 2;
        }
        let r = read(fd, &mut buf);
        i32::from(!Report::done(0, r, start, &buf).send(report))
    })?;
    drop(pipe.w);
    drop(notes.w);
    let mut reports = Reports::new(pipe.r);
    reports.expect(Kind::Ready, WAIT, "reader start")?;
    child.wait_sleeping(WAIT, "blocking read on an empty endpoint")?;
    // Must not have returned: a read that did (even later) leaves its
    // report ahead of the one the callers expect, with another result.
    reports.expect_none(
        QUIET,
        "read on an empty endpoint returned before the signal",
    )?;
    child.signal(libc::SIGUSR1)?;
    ensure!(
        wait_readable(notes.r.as_raw_fd(), WAIT)?,
        "the child's SIGUSR1 handler did not run within {} s of kill()",
        WAIT.as_secs()
    );
    Ok((child, reports))
}

/// A SIGUSR1 whose handler has no SA_RESTART makes the blocked read fail
/// with EINTR; the endpoint keeps working.
pub fn eintr_without_sa_restart() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let (mut child, mut reports) = blocked_reader_signalled(fd, false)?;
    let done = reports.expect(
        Kind::Done,
        WAIT,
        "blocked read after SIGUSR1 without SA_RESTART",
    )?;
    ensure!(
        done.ret == -1 && done.errno == libc::EINTR,
        "read interrupted by a handler without SA_RESTART {}, expected -1 with EINTR",
        done.outcome()
    );
    child.expect_exit0(WAIT, "interrupted reader")?;
    expect_poll(
        fd,
        libc::POLLOUT | libc::POLLWRNORM,
        "after the interrupted read",
    )?;
    send(fd, b"after EINTR", "write after the interrupted read")?;
    expect_datagram(fd, b"after EINTR", "datagram after the interrupted read")
}

/// With SA_RESTART the handler runs but the read does not fail: it is
/// restarted, sleeps again and returns the datagram written after the
/// signal.
pub fn sa_restart_restarts_read() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let (mut child, mut reports) = blocked_reader_signalled(fd, true)?;
    // Must not return. One that did, even after the window, left a report
    // (EINTR, no data) that the expect below reads instead of the datagram.
    reports.expect_none(
        QUIET,
        "read returned after SIGUSR1 although the handler has SA_RESTART",
    )?;
    child.wait_sleeping(WAIT, "restarted read")?;
    send(fd, b"after the signal", "write after the signal")?;
    let done = reports.expect(Kind::Done, WAIT, "restarted read after the write")?;
    ensure!(
        done.ret == 16,
        "restarted read {}, expected 16",
        done.outcome()
    );
    check_data(
        &done.data,
        b"after the signal",
        "datagram of the restarted read",
    )?;
    child.expect_exit0(WAIT, "restarted reader")
}

/// The wake-up counters (NicStats.wakeups, EpStats.wakeups) count the
/// datagrams whose data_ready found someone asleep on the endpoint: none
/// for a datagram nobody waits for, exactly one for a datagram that ends a
/// blocked read() and one for a datagram that ends a blocked poll().
pub fn wakeups_counted() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    settle(&ep)?;
    let (n0, e0) = (nic_stats(&ep)?, ep_stats(&ep)?);
    let check = |nic: u64, what: &str| -> TestResult {
        settle(&ep)?;
        let d = nic_delta(&n0, &nic_stats(&ep)?);
        expect_nic(&d, &[("wakeups", nic)], what)?;
        let e = ep_stats(&ep)?;
        ensure!(
            e.wakeups - e0.wakeups == nic,
            "{what}: the endpoint counted {} wake-ups, expected {nic}",
            e.wakeups - e0.wakeups
        );
        Ok(())
    };

    // Nobody waiting: wait for the datagram by polling the counters, which
    // does not sleep on the endpoint's wait queue.
    send(fd, b"nobody waits", "write with nobody waiting")?;
    wait_queued(&ep, 1, "the datagram nobody waits for")?;
    expect_count(
        read(fd, &mut [0u8; 64]),
        12,
        "read of the datagram nobody waited for",
    )?;
    check(0, "a datagram that arrived with nobody asleep")?;

    // A reader blocked in read().
    let pipe = Pipe::new()?;
    let mut child = spawn_reader(0, fd, pipe.w.as_raw_fd())?;
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    reports.expect(Kind::Ready, WAIT, "reader start")?;
    child.wait_sleeping(WAIT, "blocking read on an empty endpoint")?;
    send(fd, b"for the reader", "write for the blocked reader")?;
    let done = reports.expect(Kind::Done, ARRIVAL, "the blocked read after the write")?;
    ensure!(
        done.ret == 14,
        "the blocked read {}, expected 14",
        done.outcome()
    );
    child.expect_exit0(WAIT, "woken reader")?;
    check(1, "a datagram that ended a blocked read")?;

    // A poller blocked in poll(POLLIN).
    let pipe = Pipe::new()?;
    let report = pipe.w.as_raw_fd();
    let mut child = Child::spawn(move || {
        let start = Instant::now();
        if !Report::ready(1).send(report) {
            return 2;
        }
        let r = match poll_one(fd, libc::POLLIN, CHILD_BLOCK_MS) {
            Ok((n, _)) => Ok(n as usize),
            Err(_) => Err(errno()),
        };
        i32::from(!Report::done(1, r, start, &[]).send(report))
    })?;
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    reports.expect(Kind::Ready, WAIT, "poller start")?;
    child.wait_sleeping(WAIT, "poll(POLLIN) on an empty endpoint")?;
    send(fd, b"for the poller", "write for the blocked poller")?;
    let done = reports.expect(Kind::Done, ARRIVAL, "the blocked poll after the write")?;
    ensure!(
        done.ret == 1,
        "the blocked poll {}, expected 1",
        done.outcome()
    );
    child.expect_exit0(WAIT, "woken poller")?;
    check(2, "a datagram that ended a blocked poll")?;
    expect_count(
        read(fd, &mut [0u8; 64]),
        14,
        "read of the poller's datagram",
    )?;
    check(2, "after reading the poller's datagram")
}
