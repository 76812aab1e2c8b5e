//! Shutdown (`SIMNIC_IOC_SHUTDOWN`, as `shutdown(2)` on a socket) and
//! what it does to readers, writers and pollers: `SHUT_RD` wakes blocked
//! readers, which then read what is queued and then 0 (end of file), and
//! poll reports `POLLIN|POLLRDHUP`; `SHUT_WR` makes writes fail with `EPIPE`
//! and `SIGPIPE` (unless `SIMNIC_MSG_NOSIGNAL`) and takes `POLLOUT` away;
//! both give `POLLHUP`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use simnic::{
    SHUT_RD, SHUT_RDWR, SHUT_WR, SIMNIC_MSG_NOSIGNAL, SIMNIC_SHUT_RD_BIT, SIMNIC_SHUT_WR_BIT,
};

use crate::net::*;
use crate::sys::*;

const READABLE: libc::c_short = libc::POLLIN | libc::POLLRDNORM;
const WRITABLE: libc::c_short = libc::POLLOUT | libc::POLLWRNORM;
const RDHUP: libc::c_short = libc::POLLRDHUP;

/// A reader blocked in a child wakes when the parent shuts the endpoint
/// for reading, and its read returns 0. Datagrams queued before the
/// shutdown are still read first; later ones are dropped (`rx_closed`).
/// Poll reports `POLLIN|POLLRDNORM|POLLRDHUP` (and `POLLOUT`: writing still
/// works), not `POLLHUP`.
pub fn shutdown_rd_wakes_reader() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let pipe = Pipe::new()?;
    let report = pipe.w.as_raw_fd();
    let mut child = Child::spawn(move || {
        let start = Instant::now();
        if !Report::ready(0).send(report) {
            return 2;
        }
        let mut buf = [0u8; 64];
        let r = read(fd, &mut buf);
        i32::from(!Report::done(0, r, start, &[]).send(report))
    })?;
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    reports.expect(Kind::Ready, WAIT, "child start")?;
    child.wait_sleeping(WAIT, "read on an empty endpoint")?;
    let asleep = child.voluntary_switches()?;
    // Must not return before the shutdown: the window shows it early; the
    // unchanged state and switch count prove it even if a stall kept a
    // wrong return (such as an early end of file) out of the window.
    reports.expect_none(QUIET, "the read returned before the shutdown")?;
    child.expect_still_asleep(asleep, "the read before the shutdown")?;
    okay(ep.shutdown(SHUT_RD), "SHUTDOWN(SHUT_RD)")?;
    let done = reports.expect(Kind::Done, WAIT, "the blocked read after SHUT_RD")?;
    ensure!(
        done.ret == 0,
        "the blocked read after SHUT_RD {}, expected 0 (end of file)",
        done.outcome()
    );
    child.expect_exit0(WAIT, "reader")?;

    expect_poll(fd, READABLE | RDHUP | WRITABLE, "shut for reading")?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("shutdown", SIMNIC_SHUT_RD_BIT.into())],
        "after SHUT_RD",
    )?;
    expect_count(read(fd, &mut [0u8; 8]), 0, "a second read after SHUT_RD")?;

    // A datagram arriving after the shutdown is dropped and counted.
    let n0 = nic_stats(&ep)?;
    send(fd, b"late", "write after SHUT_RD (writing still works)")?;
    settle(&ep)?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[("tx_packets", 1), ("rx_closed", 1), ("rx_packets", 0)],
        "a datagram after SHUT_RD",
    )?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 0)],
        "a datagram after SHUT_RD",
    )?;
    expect_count(
        read(fd, &mut [0u8; 8]),
        0,
        "read after the dropped datagram",
    )
}

/// What was queued before `SHUT_RD` is read first, then 0.
pub fn shutdown_rd_keeps_queued() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    send(fd, b"a", "write")?;
    send(fd, b"b", "write")?;
    wait_queued(&ep, 2, "two datagrams")?;
    okay(ep.shutdown(SHUT_RD), "SHUTDOWN(SHUT_RD)")?;
    expect_datagram(fd, b"a", "first queued datagram after SHUT_RD")?;
    expect_datagram(fd, b"b", "second queued datagram after SHUT_RD")?;
    // Non-blocking or not, the end is 0, not EAGAIN.
    expect_count(
        read(fd, &mut [0u8; 8]),
        0,
        "read of the drained endpoint after SHUT_RD",
    )
}

/// `SHUT_WR`: `write()` fails with `EPIPE` and raises `SIGPIPE` (a child
/// with the default action dies of it); `SENDTO` with `SIMNIC_MSG_NOSIGNAL`
/// fails with `EPIPE` and no signal; `POLLOUT` is gone; reading still works.
pub fn shutdown_wr_epipe_sigpipe() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let port = port_of(&ep)?;
    send(fd, b"before", "write before SHUT_WR")?;
    wait_queued(&ep, 1, "the datagram sent before SHUT_WR")?;
    okay(ep.shutdown(SHUT_WR), "SHUTDOWN(SHUT_WR)")?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("shutdown", SIMNIC_SHUT_WR_BIT.into())],
        "after SHUT_WR",
    )?;
    expect_poll(fd, READABLE, "shut for writing, one datagram queued")?;

    // The default action of SIGPIPE kills: the child must die of it.
    let mut child = Child::spawn(move || {
        // SAFETY: restoring the default disposition.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        match write(fd, b"x") {
            Err(libc::EPIPE) => 3, // no signal: reached only if it did not kill
            _ => 4,
        }
    })?;
    match child.wait(WAIT)? {
        Some(st) if libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGPIPE => {}
        Some(st) => {
            return Err(format!(
                "a write after SHUT_WR: the child {}, expected to be killed by SIGPIPE",
                describe_status(st)
            ))
        }
        None => return Err("a write after SHUT_WR: the child is still running".into()),
    }

    // Ignored SIGPIPE: the error alone.
    // SAFETY: ignoring SIGPIPE in this test process.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    expect_errno(
        write(fd, b"x"),
        libc::EPIPE,
        "write after SHUT_WR (SIGPIPE ignored)",
    )?;

    // MSG_NOSIGNAL: EPIPE and no signal even with the default action.
    let mut child = Child::spawn(move || {
        // SAFETY: restoring the default disposition.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let ep = match unsafe_endpoint(fd) {
            Some(ep) => ep,
            None => return 5,
        };
        let r = ep.send_to_flags(port, b"y", SIMNIC_MSG_NOSIGNAL);
        std::mem::forget(ep);
        match r {
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => 0,
            _ => 6,
        }
    })?;
    child.expect_exit0(
        WAIT,
        "SENDTO(SIMNIC_MSG_NOSIGNAL) after SHUT_WR: EPIPE, no SIGPIPE",
    )?;

    expect_datagram(fd, b"before", "reading after SHUT_WR")
}

/// An `Endpoint` over an inherited descriptor, not to be closed (forget it).
fn unsafe_endpoint(fd: i32) -> Option<simnic::Endpoint> {
    use std::os::fd::FromRawFd;
    // SAFETY: `fd` is open in this (child) process; the caller forgets the
    // value so it is never closed twice.
    Some(unsafe { simnic::Endpoint::from_raw_fd(fd) })
}

/// `SHUT_RDWR`: `POLLHUP` with `POLLIN|POLLRDNORM|POLLRDHUP`; an epoll_wait
/// blocked in a child wakes with `EPOLLHUP`; a bad `how` is `EINVAL`.
pub fn shutdown_rdwr_hup_wakes_epoll() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    for bad in [3u32, 4, u32::MAX] {
        expect_io_errno(ep.shutdown(bad), libc::EINVAL, &format!("SHUTDOWN({bad})"))?;
    }
    expect_ep(
        &ep_stats(&ep)?,
        &[("shutdown", 0)],
        "after refused SHUTDOWNs",
    )?;

    // SAFETY: epoll_create1 with a valid flag.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    ensure!(epfd >= 0, "epoll_create1: {}", errname(errno()));
    // SAFETY: fresh descriptor.
    let epfd = unsafe { OwnedFd::from_raw_fd(epfd) };
    let e = epfd.as_raw_fd();
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
        u64: 9,
    };
    // SAFETY: valid event.
    ensure!(
        unsafe { libc::epoll_ctl(e, libc::EPOLL_CTL_ADD, fd, &mut ev) } == 0,
        "epoll_ctl: {}",
        errname(errno())
    );

    let pipe = Pipe::new()?;
    let report = pipe.w.as_raw_fd();
    let mut child = Child::spawn(move || {
        let start = Instant::now();
        if !Report::ready(0).send(report) {
            return 2;
        }
        let mut out = [libc::epoll_event { events: 0, u64: 0 }; 2];
        // SAFETY: room for 2 events.
        let n = unsafe { libc::epoll_wait(e, out.as_mut_ptr(), 2, CHILD_BLOCK_MS) };
        let r = if n < 0 { Err(errno()) } else { Ok(n as usize) };
        let mut done = Report::done(0, r, start, &[]);
        done.data = out[0].events.to_le_bytes().to_vec(); // the events, not a count of bytes
        i32::from(!done.send(report))
    })?;
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    reports.expect(Kind::Ready, WAIT, "child start")?;
    child.wait_sleeping(WAIT, "epoll_wait on an idle endpoint")?;
    let asleep = child.voluntary_switches()?;
    // As above: the window, then the proof that nothing woke it.
    reports.expect_none(QUIET, "epoll_wait returned before the shutdown")?;
    child.expect_still_asleep(asleep, "epoll_wait before the shutdown")?;
    okay(ep.shutdown(SHUT_RDWR), "SHUTDOWN(SHUT_RDWR)")?;
    let done = reports.expect(Kind::Done, WAIT, "epoll_wait after SHUT_RDWR")?;
    ensure!(
        done.ret == 1,
        "epoll_wait after SHUT_RDWR {}, expected 1 event",
        done.outcome()
    );
    ensure!(
        done.data.len() == 4,
        "the epoll child reported {} bytes of events",
        done.data.len()
    );
    let got = u32::from_le_bytes(done.data[..4].try_into().unwrap());
    let want = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP) as u32;
    ensure!(got & want == want, "epoll_wait after SHUT_RDWR reported {got:#x}, expected EPOLLIN|EPOLLRDHUP|EPOLLHUP ({want:#x})");
    child.expect_exit0(WAIT, "epoll child")?;

    expect_poll(fd, READABLE | RDHUP | libc::POLLHUP, "shut both ways")?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("shutdown", (SIMNIC_SHUT_RD_BIT | SIMNIC_SHUT_WR_BIT).into())],
        "after SHUT_RDWR",
    )
}
