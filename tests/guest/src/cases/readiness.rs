//! Readiness: poll, select and epoll (level- and edge-triggered), polled
//! without waiting and blocked in a child woken by the parent's write.
//! A write's datagram reaches the endpoint asynchronously, through the NIC:
//! readiness is checked once it has arrived (or the NIC is idle).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use crate::aio::{AioContext, Iocb};
use crate::net::*;
use crate::sys::*;

/// How long a blocked waiter is left alone before the write: it must not
/// return in that time (see `QUIET`).
const DELAY: Duration = QUIET;
const READABLE: libc::c_short = libc::POLLIN | libc::POLLRDNORM;
const WRITABLE: libc::c_short = libc::POLLOUT | libc::POLLWRNORM;

/// Empty: writable only; with a datagram: readable and writable; drained:
/// writable only again. Polling for POLLIN alone on an empty endpoint times
/// out.
pub fn poll_readiness() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    expect_poll(fd, WRITABLE, "empty endpoint")?;
    let (r, rev) = poll_one(fd, libc::POLLIN, 0)?;
    ensure!(
        r == 0 && rev == 0,
        "poll(POLLIN, 0) on an empty endpoint returned {r} with {}",
        poll_names(rev)
    );
    send(fd, b"x", "write")?;
    wait_arrival(fd, "x")?;
    expect_poll(fd, READABLE | WRITABLE, "one datagram queued")?;
    let (r, rev) = poll_one(fd, libc::POLLIN, 0)?;
    ensure!(
        r == 1 && rev == libc::POLLIN,
        "poll(POLLIN, 0) with a datagram returned {r} with {}",
        poll_names(rev)
    );
    send(fd, b"y", "second write")?;
    wait_queued(&ep, 2, "x and y")?;
    expect_datagram(fd, b"x", "first datagram")?;
    expect_poll(fd, READABLE | WRITABLE, "one of two datagrams read")?;
    expect_datagram(fd, b"y", "second datagram")?;
    settle(&ep)?;
    expect_poll(fd, WRITABLE, "drained endpoint")
}

/// select(2) agrees with poll: writable when empty, readable too with a
/// datagram queued.
pub fn select_readiness() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let select = || -> Result<(i32, bool, bool), String> {
        // SAFETY: fd_sets are plain data; fd is below FD_SETSIZE in a fresh
        // test process.
        unsafe {
            let mut rd: libc::fd_set = std::mem::zeroed();
            let mut wr: libc::fd_set = std::mem::zeroed();
            libc::FD_ZERO(&mut rd);
            libc::FD_ZERO(&mut wr);
            libc::FD_SET(fd, &mut rd);
            libc::FD_SET(fd, &mut wr);
            let mut tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            };
            let r = libc::select(fd + 1, &mut rd, &mut wr, std::ptr::null_mut(), &mut tv);
            if r < 0 {
                return Err(format!("select: {}", errname(errno())));
            }
            Ok((r, libc::FD_ISSET(fd, &rd), libc::FD_ISSET(fd, &wr)))
        }
    };
    let got = select()?;
    ensure!(got == (1, false, true), "select on an empty endpoint: (ret, readable, writable) = {got:?}, expected (1, false, true)");
    send(fd, b"sel", "write")?;
    wait_arrival(fd, "the datagram")?;
    let got = select()?;
    ensure!(got == (2, true, true), "select with a datagram queued: (ret, readable, writable) = {got:?}, expected (2, true, true)");
    expect_datagram(fd, b"sel", "the datagram")?;
    let got = select()?;
    ensure!(
        got == (1, false, true),
        "select after the read: (ret, readable, writable) = {got:?}, expected (1, false, true)"
    );
    Ok(())
}

/// Runs `wait` in a child (it blocks on the empty endpoint), waits until it
/// sleeps, writes `msg` from the parent 300 ms later and checks the child's
/// wait returned `want_ret` no earlier than that. The child reports the
/// events it saw as its data.
fn blocked_waiter_woken(
    what: &str,
    fd: RawFd,
    msg: &[u8],
    want_ret: i64,
    wait: impl FnOnce() -> (SysResult, Vec<u8>),
) -> Result<Report, String> {
    let pipe = Pipe::new()?;
    let report = pipe.w.as_raw_fd();
    let mut child = Child::spawn(move || {
        let start = Instant::now();
        if !Report::ready(0).send(report) {
            return 2;
        }
        let (r, events) = wait();
        let mut done = Report::done(0, r, start, &[]);
        done.data = events; // not the call's bytes: the events it reported
        i32::from(!done.send(report))
    })?;
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    reports.expect(Kind::Ready, WAIT, &format!("{what}: child start"))?;
    child.wait_sleeping(WAIT, &format!("{what} on an empty endpoint"))?;
    let asleep = child.voluntary_switches()?;
    // Must not return before the write. The window shows it early; the
    // child's state and switch count, unchanged, prove nothing woke it
    // even if a stall kept a wrong return out of the window.
    reports.expect_none(
        DELAY,
        &format!("{what} on an empty endpoint returned before any write"),
    )?;
    child.expect_still_asleep(
        asleep,
        &format!("{what} on an empty endpoint, before any write"),
    )?;
    send(fd, msg, &format!("{what}: parent's write"))?;
    let done = reports.expect(
        Kind::Done,
        WAIT,
        &format!("{what} after the parent's write"),
    )?;
    ensure!(
        done.ret == want_ret,
        "{what} in the child {}, expected {want_ret}",
        done.outcome()
    );
    ensure!(
        done.elapsed >= DELAY,
        "{what} returned after {} ms, before the write",
        ms(done.elapsed)
    );
    child.expect_exit0(WAIT, what)?;
    Ok(done)
}

/// A poll() blocked in a child wakes when the parent writes to the shared
/// file, reports POLLIN, and consumes nothing.
pub fn poll_blocked_wakeup() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let done = blocked_waiter_woken("poll(POLLIN)", fd, b"poke", 1, move || {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut pfd, 1, CHILD_BLOCK_MS) } {
            n if n < 0 => (Err(errno()), Vec::new()),
            n => (Ok(n as usize), pfd.revents.to_le_bytes().to_vec()),
        }
    })?;
    ensure!(
        done.data.len() == 2,
        "the poll child reported {} bytes of revents",
        done.data.len()
    );
    let rev = libc::c_short::from_le_bytes([done.data[0], done.data[1]]);
    ensure!(
        rev & libc::POLLIN != 0,
        "the woken poll reported {}, without POLLIN",
        poll_names(rev)
    );
    expect_datagram(fd, b"poke", "the datagram after the poll")
}

fn epoll_create() -> Result<OwnedFd, String> {
    // SAFETY: epoll_create1 with a valid flag.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(format!("epoll_create1: {}", errname(errno())));
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(ep) })
}

fn epoll_ctl(epfd: RawFd, op: i32, fd: RawFd, events: u32, token: u64) -> TestResult {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: a valid epoll_event for the call.
    if unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) } != 0 {
        return Err(format!("epoll_ctl: {}", errname(errno())));
    }
    Ok(())
}

/// epoll_wait for one event: Ok(None) on timeout, Ok(Some((events, token))).
fn epoll_wait(epfd: RawFd, timeout_ms: i32) -> Result<Option<(u32, u64)>, i32> {
    let mut ev = [libc::epoll_event { events: 0, u64: 0 }; 4];
    // SAFETY: `ev` has room for the 4 events asked for.
    let n = unsafe { libc::epoll_wait(epfd, ev.as_mut_ptr(), 4, timeout_ms) };
    match n {
        n if n < 0 => Err(errno()),
        0 => Ok(None),
        1 => Ok(Some((ev[0].events, ev[0].u64))),
        // Only one fd is registered: more than one event is a kernel bug.
        _ => Err(-n),
    }
}

fn epoll_names(ev: u32) -> String {
    let bits = [
        (libc::EPOLLIN, "EPOLLIN"),
        (libc::EPOLLOUT, "EPOLLOUT"),
        (libc::EPOLLRDNORM, "EPOLLRDNORM"),
        (libc::EPOLLWRNORM, "EPOLLWRNORM"),
        (libc::EPOLLERR, "EPOLLERR"),
        (libc::EPOLLHUP, "EPOLLHUP"),
        (libc::EPOLLPRI, "EPOLLPRI"),
    ];
    let names: Vec<&str> = bits
        .iter()
        .filter(|(b, _)| ev & *b as u32 != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        format!("{ev:#x}")
    } else {
        names.join("|")
    }
}

const TOKEN: u64 = 0x5151_0000_0000_0007;

/// epoll_wait must report exactly an EPOLLIN event, waiting up to
/// [`ARRIVAL`] for it (the datagram crosses the NIC), or, when `want_in`
/// is false, nothing at once.
fn expect_epoll_in(epfd: RawFd, want_in: bool, what: &str) -> TestResult {
    let timeout = if want_in {
        ARRIVAL.as_millis() as i32
    } else {
        0
    };
    match epoll_wait(epfd, timeout) {
        Ok(None) if !want_in => Ok(()),
        Ok(Some((ev, tok))) if want_in && tok == TOKEN && ev & libc::EPOLLIN as u32 != 0 => Ok(()),
        Ok(None) => Err(format!(
            "{what}: epoll_wait reported nothing, expected EPOLLIN"
        )),
        Ok(Some((ev, tok))) => Err(format!(
            "{what}: epoll_wait reported {} (token {tok:#x}), expected {}",
            epoll_names(ev),
            if want_in { "EPOLLIN" } else { "nothing" }
        )),
        Err(e) => Err(format!("{what}: epoll_wait {}", outcome(Err(e)))),
    }
}

/// The child's part of the blocked-epoll tests: epoll_wait (up to
/// `CHILD_BLOCK_MS`), reporting the events as data.
fn blocked_epoll_wait(epfd: RawFd) -> (SysResult, Vec<u8>) {
    match epoll_wait(epfd, CHILD_BLOCK_MS) {
        Ok(None) => (Ok(0), Vec::new()),
        Ok(Some((ev, _))) => (Ok(1), ev.to_le_bytes().to_vec()),
        Err(e) => (Err(e), Vec::new()),
    }
}

fn check_woken_epoll(done: &Report) -> TestResult {
    ensure!(
        done.data.len() == 4,
        "the epoll child reported {} bytes of events",
        done.data.len()
    );
    let ev = u32::from_le_bytes(done.data[..4].try_into().unwrap());
    ensure!(
        ev & libc::EPOLLIN as u32 != 0,
        "the woken epoll_wait reported {}, without EPOLLIN",
        epoll_names(ev)
    );
    Ok(())
}

/// Level-triggered epoll: EPOLLIN for as long as a datagram is queued,
/// EPOLLOUT when asked for, and an epoll_wait blocked in a child wakes on
/// the parent's write.
pub fn epoll_level_triggered() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let epfd = epoll_create()?;
    let epfd = epfd.as_raw_fd();
    epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, TOKEN)?;
    expect_epoll_in(epfd, false, "empty endpoint")?;
    send(fd, b"lt", "write")?;
    expect_epoll_in(epfd, true, "one datagram queued")?;
    expect_epoll_in(
        epfd,
        true,
        "one datagram still queued (level-triggered: reported again)",
    )?;
    expect_datagram(fd, b"lt", "the datagram")?;
    expect_epoll_in(epfd, false, "drained endpoint")?;

    epoll_ctl(
        epfd,
        libc::EPOLL_CTL_MOD,
        fd,
        (libc::EPOLLIN | libc::EPOLLOUT) as u32,
        TOKEN,
    )?;
    match epoll_wait(epfd, 0) {
        Ok(Some((ev, _))) if ev & libc::EPOLLOUT as u32 != 0 && ev & libc::EPOLLIN as u32 == 0 => {}
        other => return Err(format!("epoll_wait for EPOLLIN|EPOLLOUT on an empty endpoint: {other:?}, expected EPOLLOUT only")),
    }
    epoll_ctl(epfd, libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN as u32, TOKEN)?;

    let done = blocked_waiter_woken(
        "epoll_wait (level-triggered)",
        fd,
        b"lt woken",
        1,
        move || blocked_epoll_wait(epfd),
    )?;
    check_woken_epoll(&done)?;
    expect_epoll_in(
        epfd,
        true,
        "after the blocked child was woken (the datagram is still queued)",
    )?;
    expect_datagram(fd, b"lt woken", "the datagram after the epoll wakeup")?;
    expect_epoll_in(epfd, false, "drained endpoint")
}

/// Edge-triggered epoll: one event per arriving datagram, none while
/// nothing new arrives even though data is queued; a blocked epoll_wait in a
/// child wakes on the parent's write.
pub fn epoll_edge_triggered() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let epfd = epoll_create()?;
    let epfd = epfd.as_raw_fd();
    epoll_ctl(
        epfd,
        libc::EPOLL_CTL_ADD,
        fd,
        (libc::EPOLLIN | libc::EPOLLET) as u32,
        TOKEN,
    )?;
    expect_epoll_in(epfd, false, "empty endpoint")?;
    send(fd, b"e1", "first write")?;
    expect_epoll_in(epfd, true, "first datagram arrived")?;
    expect_epoll_in(
        epfd,
        false,
        "no new datagram since the last event (edge-triggered)",
    )?;
    expect_poll(
        fd,
        READABLE | WRITABLE,
        "the first datagram is still queued",
    )?;
    send(fd, b"e2", "second write")?;
    expect_epoll_in(
        epfd,
        true,
        "a second datagram arrived while the first was still queued",
    )?;
    expect_epoll_in(epfd, false, "no new datagram since the second event")?;
    expect_datagram(fd, b"e1", "first datagram")?;
    expect_datagram(fd, b"e2", "second datagram")?;
    expect_epoll_in(epfd, false, "drained endpoint")?;

    let done = blocked_waiter_woken("epoll_wait (EPOLLET)", fd, b"et woken", 1, move || {
        blocked_epoll_wait(epfd)
    })?;
    check_woken_epoll(&done)?;
    expect_epoll_in(epfd, false, "after the child consumed the edge")?;
    expect_datagram(fd, b"et woken", "the datagram after the EPOLLET wakeup")
}

/// `EPOLLONESHOT`: one event, then none however much arrives, until
/// `EPOLL_CTL_MOD` re-arms the item; then the queued data is reported at
/// once (the re-arm polls the endpoint).
pub fn epoll_oneshot_rearm() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let epfd = epoll_create()?;
    let epfd = epfd.as_raw_fd();
    let oneshot = (libc::EPOLLIN | libc::EPOLLONESHOT) as u32;
    epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, oneshot, TOKEN)?;
    send(fd, b"o1", "first write")?;
    expect_epoll_in(epfd, true, "first datagram")?;
    expect_epoll_in(epfd, false, "disarmed after one event (still queued)")?;
    send(fd, b"o2", "second write")?;
    wait_queued(&ep, 2, "two datagrams")?;
    expect_epoll_in(epfd, false, "disarmed: a new datagram brings no event")?;
    epoll_ctl(epfd, libc::EPOLL_CTL_MOD, fd, oneshot, TOKEN)?;
    expect_epoll_in(epfd, true, "re-armed with data queued")?;
    expect_epoll_in(epfd, false, "disarmed again")?;
    expect_datagram(fd, b"o1", "first datagram")?;
    expect_datagram(fd, b"o2", "second datagram")
}

/// `EPOLLEXCLUSIVE`: four processes, each blocked in `epoll_wait` on its
/// own epoll instance holding the endpoint with `EPOLLEXCLUSIVE`; one
/// datagram wakes exactly one of them (the endpoint's wake-up is
/// `nr_exclusive = 1`), the others stay asleep until a later datagram.
pub fn epoll_exclusive_wakes_one() -> TestResult {
    const N: u32 = 4;
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let pipe = Pipe::new()?;
    let report = pipe.w.as_raw_fd();
    let mut children = Vec::new();
    for id in 0..N {
        let epfd = epoll_create()?;
        epoll_ctl(
            epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd,
            (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32,
            TOKEN,
        )?;
        children.push(Child::spawn(move || {
            let e = epfd.as_raw_fd();
            let start = Instant::now();
            if !Report::ready(id).send(report) {
                return 2;
            }
            let r = match epoll_wait(e, CHILD_BLOCK_MS) {
                Ok(Some(_)) => Ok(1),
                Ok(None) => Ok(0),
                Err(e) => Err(e),
            };
            i32::from(!Report::done(id, r, start, &[]).send(report))
        })?);
    }
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    for _ in 0..N {
        reports.expect(Kind::Ready, WAIT, "child start")?;
    }
    for c in children.iter_mut() {
        c.wait_sleeping(WAIT, "epoll_wait(EPOLLEXCLUSIVE)")?;
    }
    let mut woken = Vec::new();
    for round in 0..N {
        // The children still waiting, and their switch counts before the
        // datagram: those it did not wake must show no wake-up at all.
        let before: Vec<(usize, u64)> = children
            .iter()
            .enumerate()
            .filter(|(i, _)| !woken.contains(&(*i as u32)))
            .map(|(i, c)| Ok((i, c.voluntary_switches()?)))
            .collect::<Result<_, String>>()?;
        send(fd, &[round as u8], "write")?;
        let done = reports.expect(
            Kind::Done,
            WAIT,
            &format!("datagram #{round}: one epoll_wait"),
        )?;
        ensure!(
            done.ret == 1,
            "datagram #{round}: epoll_wait {}",
            done.outcome()
        );
        ensure!(!woken.contains(&done.id), "child {} woke twice", done.id);
        woken.push(done.id);
        if round + 1 < N {
            // (After the last one every child has exited: nothing to wait for.)
            // Must not happen; a stall can keep a second return out of the
            // window but not undo the second child's wake-up, checked next.
            reports.expect_none(
                DELAY,
                &format!("datagram #{round} woke more than one exclusive waiter"),
            )?;
            for (i, sw) in before.into_iter().filter(|(i, _)| *i as u32 != done.id) {
                children[i].expect_still_asleep(
                    sw,
                    &format!("datagram #{round}: child {i}, not the one woken"),
                )?;
            }
        }
    }
    for c in children.iter_mut() {
        c.expect_exit0(WAIT, "exclusive waiter")?;
    }
    Ok(())
}

/// Nested epoll: an epoll instance holding the endpoint, inside another
/// one. The outer instance reports the inner one readable when a datagram
/// arrives, and a wait blocked on the outer one wakes.
pub fn epoll_nested() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let inner = epoll_create()?;
    let outer = epoll_create()?;
    epoll_ctl(
        inner.as_raw_fd(),
        libc::EPOLL_CTL_ADD,
        fd,
        libc::EPOLLIN as u32,
        TOKEN,
    )?;
    epoll_ctl(
        outer.as_raw_fd(),
        libc::EPOLL_CTL_ADD,
        inner.as_raw_fd(),
        libc::EPOLLIN as u32,
        TOKEN,
    )?;
    expect_epoll_in(outer.as_raw_fd(), false, "outer, idle endpoint")?;
    let o = outer.as_raw_fd();
    let done = blocked_waiter_woken(
        "epoll_wait on the outer instance",
        fd,
        b"nest",
        1,
        move || blocked_epoll_wait(o),
    )?;
    check_woken_epoll(&done)?;
    expect_epoll_in(inner.as_raw_fd(), true, "inner, datagram queued")?;
    expect_datagram(fd, b"nest", "the datagram")?;
    expect_epoll_in(outer.as_raw_fd(), false, "outer, drained endpoint")
}

/// Linux AIO's `IOCB_CMD_POLL` (`aio_poll`): it allows one wait queue per
/// file, which the endpoint now has. Nothing completes while the endpoint
/// is empty; a datagram completes it with the ready events.
pub fn aio_iocb_cmd_poll() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let ctx = AioContext::new(4)?;
    let mut cb = Iocb::poll(fd, libc::POLLIN, 0xA10);
    ctx.submit_one(&mut cb, "IOCB_CMD_POLL")?;
    ensure!(
        ctx.events(0, 0)?.is_empty(),
        "IOCB_CMD_POLL completed on an empty endpoint"
    );
    send(fd, b"aio", "write")?;
    let ev = ctx.events(1, WAIT.as_millis() as u64)?;
    ensure!(
        ev.len() == 1,
        "no IOCB_CMD_POLL completion within {} s after a datagram",
        WAIT.as_secs()
    );
    let (data, res) = (ev[0].data, ev[0].res);
    ensure!(data == 0xA10, "completion for aio_data {data:#x}");
    ensure!(
        res & libc::POLLIN as i64 != 0,
        "IOCB_CMD_POLL completed with {res:#x}, without POLLIN"
    );
    expect_datagram(fd, b"aio", "the datagram")
}

/// A select(2) blocked in a child (readfds only, no timeout) wakes when the
/// parent writes: `__pollwait` hooked a `pollwake` entry on the endpoint's
/// queue, and `data_ready`'s wake-up reached it.
pub fn select_blocked_wakeup() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let done = blocked_waiter_woken("select(readfds, no timeout)", fd, b"sel", 1, move || {
        // SAFETY: fd_sets are plain data; fd is below FD_SETSIZE in a test.
        unsafe {
            let mut rd: libc::fd_set = std::mem::zeroed();
            libc::FD_ZERO(&mut rd);
            libc::FD_SET(fd, &mut rd);
            let r = libc::select(
                fd + 1,
                &mut rd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            if r < 0 {
                (Err(errno()), Vec::new())
            } else {
                (Ok(r as usize), vec![u8::from(libc::FD_ISSET(fd, &rd))])
            }
        }
    })?;
    ensure!(
        done.data == [1],
        "the woken select did not mark the endpoint readable"
    );
    expect_datagram(fd, b"sel", "the datagram after the select")
}
