//! The wait-queue view (debugfs `wq`): for each I/O model, the entry the
//! kernel hooks on the endpoint's wait queue while a waiter waits (its wake
//! function, exclusive flag and task), and none once it has left; the
//! queue's counters (wake-ups, entries woken, spurious wake-ups); the view's
//! bound; and reading it while endpoints close and waiters come and go.

use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use simnic::wq::{WaitEntry, WaitQueue, WqView, WQ_PATH};
use simnic::{Endpoint, MiniEpoll, MiniPollFd, MINI_EPOLL_CTL_ADD, SHUT_WR};

use crate::aio::{AioContext, Iocb};
use crate::net::*;
use crate::sys::*;
use crate::uring::{completions, read_entry, ring, submit};

const SEC: Duration = Duration::from_secs(1);

/// A fresh (blocking) endpoint, its descriptor and its port: the queue a
/// test watches.
fn watched() -> Result<(Endpoint, RawFd, u32), String> {
    let ep = open_dev()?;
    let (fd, port) = (ep.as_raw_fd(), port_of(&ep)?);
    Ok((ep, fd, port))
}

/// The view now.
fn view() -> Result<WqView, String> {
    WqView::read().map_err(|e| format!("{WQ_PATH}: {e}"))
}

/// Waits (up to 5 s) until `f` finds what it looks for in the view.
fn wait_view<T>(what: &str, mut f: impl FnMut(&WqView) -> Option<T>) -> Result<T, String> {
    let deadline = Instant::now() + 5 * SEC;
    loop {
        let v = view()?;
        if let Some(t) = f(&v) {
            return Ok(t);
        }
        if Instant::now() >= deadline {
            let text: String = v.queues.iter().map(|q| q.text.as_str()).collect();
            return Err(format!(
                "{what}: not in the view within 5 s; it shows:\n{text}"
            ));
        }
        sleep_ms(5);
    }
}

/// The queue of the endpoint bound to `port`.
fn queue(v: &WqView, port: u32) -> Result<WaitQueue, String> {
    v.endpoint(port)
        .cloned()
        .ok_or_else(|| format!("no queue for port {port} in the view"))
}

/// The single entry on `port`'s queue, once there is one.
fn sole_entry(port: u32, what: &str) -> Result<WaitEntry, String> {
    let q = wait_view(what, |v| v.endpoint(port).filter(|q| q.count > 0).cloned())?;
    ensure!(
        q.count == 1 && q.entries.len() == 1,
        "{what}: {} entries on port {port}'s queue, expected 1:\n{}",
        q.count,
        q.text
    );
    Ok(q.entries[0].clone())
}

/// `port`'s queue must have no entry now.
fn expect_no_entry(port: u32, what: &str) -> TestResult {
    let q = queue(&view()?, port)?;
    ensure!(
        q.count == 0,
        "{what}: port {port}'s queue still has {} entries:\n{}",
        q.count,
        q.text
    );
    Ok(())
}

/// Checks an entry's wake function, module, flag and private.
fn expect_entry(
    e: &WaitEntry,
    func: &str,
    module: Option<&str>,
    exclusive: bool,
    private: &str,
    what: &str,
) -> TestResult {
    ensure!(
        e.func == func && e.module.as_deref() == module,
        "{what}: wake function {}, expected {func}{}",
        e.func_ps(),
        module.map(|m| format!(" [{m}]")).unwrap_or_default()
    );
    ensure!(
        e.exclusive() == exclusive,
        "{what}: flags {:?}, expected {}exclusive",
        e.flags,
        if exclusive { "" } else { "not " }
    );
    ensure!(
        e.private == private,
        "{what}: private is {}, expected {private}",
        e.private
    );
    Ok(())
}

/// The entry shows no task: its waiter is no sleeping task (an epoll item,
/// an AIO or io_uring request).
fn expect_no_task(e: &WaitEntry, what: &str) -> TestResult {
    ensure!(e.task.is_none(), "{what} shows a task: {}", e.describe());
    Ok(())
}

/// The entry belongs to the task `pid` (a single-threaded child, so its
/// thread id is its process id) named `comm`.
fn expect_task(e: &WaitEntry, pid: i32, comm: &str, what: &str) -> TestResult {
    let Some(t) = &e.task else {
        return Err(format!(
            "{what}: the entry ({}) shows no task",
            e.describe()
        ));
    };
    ensure!(
        t.pid == pid && t.tgid == pid && t.comm == comm,
        "{what}: task {}/{} {:?}, expected {pid}/{pid} {comm:?}",
        t.pid,
        t.tgid,
        t.comm
    );
    Ok(())
}

/// Names the calling process (prctl(PR_SET_NAME)): the comm the view shows.
fn set_comm(name: &std::ffi::CStr) {
    // SAFETY: a NUL-terminated name of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

/// `poll(2)` for `POLLIN` on `fd` alone: what a waiter child blocks in.
fn poll_in(fd: RawFd, timeout_ms: i32) -> SysResult {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    match unsafe { libc::poll(&mut p, 1, timeout_ms) } {
        r if r < 0 => Err(errno()),
        r => Ok(r as usize),
    }
}

/// A child named `comm` that says Ready, makes the blocking call `wait`,
/// and reports what it returned.
struct Waiter {
    child: Child,
    reports: Reports,
}

impl Waiter {
    fn spawn(
        comm: &'static std::ffi::CStr,
        wait: impl FnOnce() -> SysResult,
    ) -> Result<Self, String> {
        let pipe = Pipe::new()?;
        let report = pipe.w.as_raw_fd();
        let child = Child::spawn(move || {
            set_comm(comm);
            let start = Instant::now();
            if !Report::ready(0).send(report) {
                return 2;
            }
            let r = wait();
            i32::from(!Report::done(0, r, start, &[]).send(report))
        })?;
        drop(pipe.w);
        let mut reports = Reports::new(pipe.r);
        reports.expect(Kind::Ready, 5 * SEC, "waiter start")?;
        Ok(Self { child, reports })
    }

    /// The call returned (with `ret`) and the child exited.
    fn finish(mut self, ret: i64, what: &str) -> TestResult {
        let done = self.reports.expect(Kind::Done, 5 * SEC, what)?;
        ensure!(
            done.ret == ret,
            "{what}: the call {}, expected {ret}",
            done.outcome()
        );
        self.child.expect_exit0(5 * SEC, what)
    }
}

/// A blocking read() sleeps on the endpoint's queue with an exclusive
/// `autoremove_wake_function` entry whose private is the reader's
/// task_struct; one datagram is one wake-up that woke one entry, nothing
/// spurious; and the entry is gone when read() returns.
pub fn wq_blocking_read_entry() -> TestResult {
    let (ep, fd, port) = watched()?;
    let before = queue(&view()?, port)?;
    let reader = Waiter::spawn(c"wq-reader", move || read(fd, &mut [0u8; 64]))?;
    let e = sole_entry(port, "a blocked read()")?;
    expect_entry(
        &e,
        "autoremove_wake_function",
        None,
        true,
        "task_struct",
        "blocked read()",
    )?;
    expect_task(&e, reader.child.pid, "wq-reader", "blocked read()")?;
    let waiting = queue(&view()?, port)?;
    ensure!(
        (waiting.wakeups, waiting.woken, waiting.spurious)
            == (before.wakeups, before.woken, before.spurious),
        "counters moved before any datagram: {before:?} -> {waiting:?}"
    );

    send(fd, b"one", "the datagram")?;
    reader.finish(3, "the blocked read() after one datagram")?;
    // Left before read() returned: `autoremove_wake_function` unlinked it.
    expect_no_entry(port, "after read() returned")?;
    settle(&ep)?;
    let after = queue(&view()?, port)?;
    ensure!(
        (after.wakeups - before.wakeups, after.woken - before.woken, after.spurious - before.spurious) == (1, 1, 0),
        "one datagram to one blocked reader: {} wake-ups, {} entries woken, {} spurious; expected 1, 1, 0",
        after.wakeups - before.wakeups,
        after.woken - before.woken,
        after.spurious - before.spurious
    );
    Ok(())
}

/// Two blocked readers: two exclusive entries in arrival order; one
/// datagram wakes one entry (the first) and leaves the other queued.
pub fn wq_exclusive_readers() -> TestResult {
    let (ep, fd, port) = watched()?;
    let first = Waiter::spawn(c"wq-first", move || read(fd, &mut [0u8; 64]))?;
    sole_entry(port, "the first blocked reader")?;
    let second = Waiter::spawn(c"wq-second", move || read(fd, &mut [0u8; 64]))?;
    let q = wait_view("two blocked readers", |v| {
        v.endpoint(port).filter(|q| q.count == 2).cloned()
    })?;
    let pids: Vec<i32> = q
        .entries
        .iter()
        .filter_map(|e| e.task.as_ref().map(|t| t.pid))
        .collect();
    ensure!(
        pids == [first.child.pid, second.child.pid],
        "queue order {pids:?}, expected the first reader then the second ({}, {})",
        first.child.pid,
        second.child.pid
    );
    for e in &q.entries {
        expect_entry(
            e,
            "autoremove_wake_function",
            None,
            true,
            "task_struct",
            "a blocked reader",
        )?;
    }
    send(fd, b"one", "one datagram")?;
    first.finish(3, "the first reader")?;
    settle(&ep)?;
    let after = queue(&view()?, port)?;
    ensure!(
        after.wakeups - q.wakeups == 1 && after.woken - q.woken == 1,
        "one datagram: {} wake-ups waking {} entries, expected 1 and 1 (exclusive)",
        after.wakeups - q.wakeups,
        after.woken - q.woken
    );
    ensure!(
        after.entries.len() == 1,
        "{} entries left, expected the second reader's",
        after.entries.len()
    );
    expect_task(
        &after.entries[0],
        second.child.pid,
        "wq-second",
        "the reader left waiting",
    )?;
    send(fd, b"two", "a second datagram")?;
    second.finish(3, "the second reader")?;
    expect_no_entry(port, "after both readers returned")
}

/// A poller and a blocked reader on one endpoint: the poller's `pollwake`
/// entry is at the head, the reader's exclusive one at the tail, and one
/// datagram is one wake-up that woke both entries (the kernel's
/// `__wake_up()` would have counted only the exclusive one).
pub fn wq_woken_counts_every_entry() -> TestResult {
    let (ep, fd, port) = watched()?;
    let reader = Waiter::spawn(c"wq-reader", move || read(fd, &mut [0u8; 64]))?;
    sole_entry(port, "the blocked reader")?;
    // Woken, the poller scans again, and the reader woken by the same
    // wake-up may have taken the datagram already: then it sleeps again,
    // until its timeout. Either way it returns 1; the counts are what this
    // test checks.
    let poller = Waiter::spawn(c"wq-poller", move || poll_in(fd, 3000).map(|_| 1))?;
    // `pollwake`'s entry is hooked while the poller still runs (its first
    // scan); a wake-up then finds it running and wakes nothing. Asleep, it
    // is woken.
    let mut poller = poller;
    poller
        .child
        .wait_sleeping(5 * SEC, "poll() on the empty endpoint")?;
    let q = wait_view("the poller and the reader", |v| {
        v.endpoint(port).filter(|q| q.count == 2).cloned()
    })?;
    let order: Vec<&str> = q.entries.iter().map(|e| e.func.as_str()).collect();
    ensure!(
        order == ["pollwake", "autoremove_wake_function"],
        "queue order {order:?}: the poller (added at the head) should come before the exclusive reader"
    );
    expect_task(&q.entries[0], poller.child.pid, "wq-poller", "the poller")?;
    expect_task(&q.entries[1], reader.child.pid, "wq-reader", "the reader")?;
    send(fd, b"both", "one datagram")?;
    poller.finish(1, "poll() after the datagram")?;
    reader.finish(4, "read() after the datagram")?;
    settle(&ep)?;
    let after = queue(&view()?, port)?;
    ensure!(
        (after.wakeups - q.wakeups, after.woken - q.woken) == (1, 2),
        "one datagram, a poller and a reader: {} wake-ups waking {} entries, expected 1 and 2",
        after.wakeups - q.wakeups,
        after.woken - q.woken
    );
    expect_no_entry(port, "after both returned")
}

/// A spurious wake-up: shutdown(SHUT_WR) wakes every waiter
/// (`sk_state_change`), and a blocked reader, finding neither a datagram nor
/// the read side shut, sleeps again: 1 wake-up, 1 entry woken, 1 spurious,
/// and the reader back on the queue.
pub fn wq_spurious_wakeup_counted() -> TestResult {
    let (ep, fd, port) = watched()?;
    let mut reader = Waiter::spawn(c"wq-spurious", move || read(fd, &mut [0u8; 64]))?;
    sole_entry(port, "a blocked read()")?;
    let before = queue(&view()?, port)?;
    okay(ep.shutdown(SHUT_WR), "shutdown(SHUT_WR)")?;
    let q = wait_view("the spurious wake-up counted", |v| {
        v.endpoint(port)
            .filter(|q| q.spurious > before.spurious && q.count == 1)
            .cloned()
    })?;
    ensure!(
        (q.wakeups - before.wakeups, q.woken - before.woken, q.spurious - before.spurious) == (1, 1, 1),
        "shutdown(SHUT_WR) with one blocked reader: {} wake-ups, {} woken, {} spurious; expected 1, 1, 1",
        q.wakeups - before.wakeups,
        q.woken - before.woken,
        q.spurious - before.spurious
    );
    expect_task(
        &q.entries[0],
        reader.child.pid,
        "wq-spurious",
        "the reader, asleep again",
    )?;
    reader
        .reports
        .expect_none(
            Duration::from_millis(200),
            "the reader woken by shutdown(SHUT_WR)",
        )
        .map_err(|e| format!("{e}: it should have slept again"))?;
    let other = open_dev()?;
    okay(
        other.send_to(port, b"data"),
        "a datagram from another endpoint",
    )?;
    reader.finish(4, "the reader after the datagram")?;
    settle(&other)?;
    let after = queue(&view()?, port)?;
    ensure!(
        after.spurious == q.spurious && after.woken == q.woken + 1,
        "the datagram: spurious {} -> {}, woken {} -> {}; expected unchanged and +1",
        q.spurious,
        after.spurious,
        q.woken,
        after.woken
    );
    expect_no_entry(port, "after the read")
}

/// select() and poll() each hook a `pollwake` entry whose private is the
/// caller's `poll_wqueues` and whose task is the caller; gone when the call
/// returns.
pub fn wq_select_poll_pollwake() -> TestResult {
    let (_ep, fd, port) = watched()?;
    let select = Waiter::spawn(c"wq-select", move || {
        // SAFETY: fd_sets are plain data; fd is below FD_SETSIZE.
        unsafe {
            let mut rd: libc::fd_set = std::mem::zeroed();
            libc::FD_SET(fd, &mut rd);
            let null = std::ptr::null_mut();
            match libc::select(fd + 1, &mut rd, null, null, std::ptr::null_mut()) {
                r if r < 0 => Err(errno()),
                r => Ok(r as usize),
            }
        }
    })?;
    let e = sole_entry(port, "select() on the endpoint")?;
    expect_entry(&e, "pollwake", None, false, "poll_wqueues", "select()")?;
    expect_task(&e, select.child.pid, "wq-select", "select()")?;
    send(fd, b"s", "a datagram")?;
    select.finish(1, "select() after a datagram")?;
    expect_no_entry(port, "after select() returned")?;
    expect_datagram(fd, b"s", "the datagram")?;

    let poll = Waiter::spawn(c"wq-poll", move || poll_in(fd, -1))?;
    let e = sole_entry(port, "poll() on the endpoint")?;
    expect_entry(&e, "pollwake", None, false, "poll_wqueues", "poll()")?;
    expect_task(&e, poll.child.pid, "wq-poll", "poll()")?;
    send(fd, b"p", "a datagram")?;
    poll.finish(1, "poll() after a datagram")?;
    expect_no_entry(port, "after poll() returned")
}

/// epoll hooks an `ep_poll_callback` entry at EPOLL_CTL_ADD, with no task
/// (private NULL: epoll finds its item by container_of), exclusive with
/// EPOLLEXCLUSIVE; it stays while the item exists, whoever waits, and
/// leaves with EPOLL_CTL_DEL or the epoll instance's close.
pub fn wq_epoll_ep_poll_callback() -> TestResult {
    let (_ep, fd, port) = watched()?;
    for (flags, exclusive) in [(0, false), (libc::EPOLLEXCLUSIVE, true)] {
        let epfd = epoll_with(fd, (libc::EPOLLIN | flags) as u32, 1)?;
        let e = sole_entry(port, "after EPOLL_CTL_ADD")?;
        expect_entry(
            &e,
            "ep_poll_callback",
            None,
            exclusive,
            "-",
            "epoll's entry",
        )?;
        expect_no_task(&e, "epoll's entry")?;
        if exclusive {
            // SAFETY: as above; a NULL event is allowed for DEL.
            let r = unsafe {
                libc::epoll_ctl(
                    epfd.as_raw_fd(),
                    libc::EPOLL_CTL_DEL,
                    fd,
                    std::ptr::null_mut(),
                )
            };
            ensure!(r == 0, "EPOLL_CTL_DEL: {}", errname(errno()));
            expect_no_entry(port, "after EPOLL_CTL_DEL")?;
        } else {
            let wait_fd = epfd.as_raw_fd();
            let waiter = Waiter::spawn(c"wq-epoll", move || {
                let mut out = [libc::epoll_event { events: 0, u64: 0 }];
                // SAFETY: room for one event.
                match unsafe { libc::epoll_wait(wait_fd, out.as_mut_ptr(), 1, -1) } {
                    r if r < 0 => Err(errno()),
                    r => Ok(r as usize),
                }
            })?;
            let mut waiter = waiter;
            waiter.child.wait_sleeping(5 * SEC, "epoll_wait()")?;
            let e = sole_entry(port, "while epoll_wait() sleeps")?;
            expect_no_task(&e, "epoll's entry while epoll_wait() sleeps")?;
            send(fd, b"e", "a datagram")?;
            waiter.finish(1, "epoll_wait() after a datagram")?;
            expect_datagram(fd, b"e", "the datagram")?;
            sole_entry(port, "the item after epoll_wait() returned")?;
            drop(epfd);
            expect_no_entry(port, "after the epoll instance was closed")?;
        }
    }
    Ok(())
}

/// An epoll item that asked for `EPOLLOUT` only is still called by a
/// datagram's wake-up (key `EPOLLIN`); `ep_poll_callback` filters it out
/// (the item does not become ready for it) but returns 1 for any
/// non-exclusive item, so the view counts it as an entry woken: "entries
/// woken" is "entries whose wake function returned non-zero", which for a
/// non-exclusive epoll item means "called" (Documentation/wait-queues.rst).
pub fn wq_epoll_filtered_item_counted_woken() -> TestResult {
    let (ep, fd, port) = watched()?;
    let _epfd = epoll_with(fd, libc::EPOLLOUT as u32, 9)?;
    let e = sole_entry(port, "the EPOLLOUT-only item")?;
    expect_entry(
        &e,
        "ep_poll_callback",
        None,
        false,
        "-",
        "the EPOLLOUT-only item",
    )?;
    let before = queue(&view()?, port)?;
    let other = open_dev_nonblocking()?;
    okay(other.send_to(port, b"in"), "a datagram to the endpoint")?;
    wait_arrival(fd, "the datagram")?;
    settle(&ep)?;
    let after = queue(&view()?, port)?;
    ensure!(
        (after.wakeups - before.wakeups, after.woken - before.woken) == (1, 1),
        "a datagram with an EPOLLOUT-only epoll item: {} wake-ups waking {} entries, expected 1 and 1 \
         (ep_poll_callback returns 1 for a non-exclusive item even when the key does not match)",
        after.wakeups - before.wakeups,
        after.woken - before.woken
    );
    Ok(())
}

/// Linux AIO's IOCB_CMD_POLL hooks an `aio_poll_wake` entry (no task:
/// the iocb completes by itself), gone once the completion is reaped.
pub fn wq_aio_poll_wake() -> TestResult {
    let (_ep, fd, port) = watched()?;
    let ctx = AioContext::new(4)?;
    let mut cb = Iocb::poll(fd, libc::POLLIN, 0xA10);
    ctx.submit_one(&mut cb, "IOCB_CMD_POLL")?;
    let e = sole_entry(port, "after io_submit(IOCB_CMD_POLL)")?;
    expect_entry(&e, "aio_poll_wake", None, false, "-", "AIO poll's entry")?;
    expect_no_task(&e, "AIO poll's entry")?;
    send(fd, b"aio", "a datagram")?;
    let ev = ctx.events(1, 5_000)?;
    ensure!(ev.len() == 1, "no IOCB_CMD_POLL completion within 5 s");
    expect_no_entry(port, "after the completion")
}

/// io_uring's IORING_OP_POLL_ADD hooks an `io_poll_wake` entry whose private
/// is the request (no task), gone once the completion is posted.
pub fn wq_io_uring_poll_add() -> TestResult {
    use io_uring::{opcode, types};
    let (_ep, fd, port) = watched()?;
    let mut ring = ring(8)?;
    // The entry refers to no memory; `fd` outlives the request.
    let sqe = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
        .build()
        .user_data(7);
    submit(&mut ring, &sqe, "IORING_OP_POLL_ADD")?;
    let e = sole_entry(port, "after IORING_OP_POLL_ADD")?;
    expect_entry(
        &e,
        "io_poll_wake",
        None,
        false,
        "io_kiocb",
        "io_uring poll's entry",
    )?;
    expect_no_task(&e, "io_uring poll's entry")?;
    send(fd, b"uring", "a datagram")?;
    let cqe = &completions(&mut ring, 1, WAIT, "the poll after a datagram")?[0];
    ensure!(
        cqe.user_data() == 7 && cqe.result() & libc::POLLIN as i32 != 0,
        "completion {} with result {:#x}, expected 7 with POLLIN",
        cqe.user_data(),
        cqe.result()
    );
    expect_no_entry(port, "after the completion")
}

/// A Linux AIO read (`IOCB_CMD_PREAD`) posted on an empty endpoint is no
/// wait-queue entry: the driver keeps the request itself and its receive
/// path completes it, so the endpoint's queue stays empty while the read
/// waits and after it completed, and the arrival wakes no entry.
pub fn wq_aio_read_no_entry() -> TestResult {
    let (ep, fd, port) = watched()?;
    let before = queue(&view()?, port)?;
    let ctx = AioContext::new(4)?;
    let mut buf = vec![0u8; 64];
    let mut cb = Iocb::pread(fd, buf.as_mut_ptr(), buf.len(), 0xA1);
    ctx.submit_one(&mut cb, "IOCB_CMD_PREAD")?;
    ensure!(
        ctx.events(1, 0)?.is_empty(),
        "the read completed before any datagram was sent"
    );
    // Looked at several times while the read is posted.
    for _ in 0..10 {
        expect_no_entry(port, "while an AIO read is posted")?;
        sleep_ms(20);
    }
    send(fd, b"aio-read", "a datagram")?;
    let ev = ctx.expect_events(1, 5_000, "the posted read")?;
    ensure!(
        ev[0].data == 0xA1 && ev[0].res == 8,
        "completion {:#x} with res {}, expected 0xa1 with 8",
        ev[0].data,
        ev[0].res
    );
    check_data(&buf[..8], b"aio-read", "the buffer the read named")?;
    expect_no_entry(port, "after the completion")?;
    settle(&ep)?;
    let after = queue(&view()?, port)?;
    ensure!(
        after.woken == before.woken,
        "the arrival woke {} entries on the queue, expected none",
        after.woken - before.woken
    );
    ctx.destroy()
}

/// An `IORING_OP_READ` on an empty endpoint is parked by poll arming: an
/// `io_poll_wake` entry (private the request, no task) on the endpoint's
/// queue, gone once the read completed with the datagram. A
/// `IORING_OP_READ_MULTISHOT` hooks the same kind of entry, and it stays
/// after a completion (`IORING_CQE_F_MORE`), until the request is
/// cancelled.
pub fn wq_io_uring_read_parked() -> TestResult {
    use io_uring::{cqueue, opcode, types};
    let (_ep, fd, port) = watched()?;
    let mut ring = ring(8)?;
    let mut buf = vec![0u8; 64];
    // `buf` and `fd` outlive the request (it completes below).
    submit(&mut ring, &read_entry(fd, &mut buf, 1), "IORING_OP_READ")?;
    let e = sole_entry(port, "a parked IORING_OP_READ")?;
    expect_entry(
        &e,
        "io_poll_wake",
        None,
        false,
        "io_kiocb",
        "the parked read's entry",
    )?;
    expect_no_task(&e, "the parked read's entry")?;
    send(fd, b"parked", "a datagram")?;
    let cqe = &completions(&mut ring, 1, WAIT, "the parked read after a datagram")?[0];
    ensure!(
        cqe.user_data() == 1 && cqe.result() == 6,
        "completion {} with result {}, expected 1 with 6",
        cqe.user_data(),
        cqe.result()
    );
    check_data(&buf[..6], b"parked", "the read's buffer")?;
    expect_no_entry(port, "after the read completed")?;

    // The multishot read, over two provided buffers of group 3.
    let mut pool = vec![0u8; 2 * 64];
    let provide = opcode::ProvideBuffers::new(pool.as_mut_ptr(), 64, 2, 3, 0)
        .build()
        .user_data(2);
    let multi = opcode::ReadMulti::new(types::Fd(fd), 0, 3)
        .build()
        .user_data(3);
    // SAFETY: `pool` and `fd` outlive the requests (cancelled below).
    unsafe {
        ring.submission()
            .push(&provide)
            .map_err(|_| "the submission queue is full".to_string())?;
        ring.submission()
            .push(&multi)
            .map_err(|_| "the submission queue is full".to_string())?;
    }
    ring.submit_and_wait(1)
        .map_err(|e| format!("io_uring_enter: {e}"))?;
    for c in ring.completion() {
        ensure!(
            c.user_data() == 2 && c.result() >= 0,
            "completion {} with result {} before any datagram",
            c.user_data(),
            c.result()
        );
    }
    let e = sole_entry(port, "an armed READ_MULTISHOT")?;
    expect_entry(
        &e,
        "io_poll_wake",
        None,
        false,
        "io_kiocb",
        "the multishot read's entry",
    )?;
    send(fd, b"multi", "a datagram")?;
    ring.submit_and_wait(1)
        .map_err(|e| format!("io_uring_enter(wait 1): {e}"))?;
    let cqe = ring
        .completion()
        .next()
        .ok_or("no completion after the wait")?;
    ensure!(
        cqe.user_data() == 3 && cqe.result() == 5 && cqueue::more(cqe.flags()),
        "completion {} with result {} (more: {}), expected 3 with 5 and more",
        cqe.user_data(),
        cqe.result(),
        cqueue::more(cqe.flags())
    );
    let e = sole_entry(port, "the multishot read after a completion")?;
    ensure!(
        e.func == "io_poll_wake",
        "the multishot read's entry after a completion is {}",
        e.describe()
    );
    let cancel = opcode::AsyncCancel::new(3).build().user_data(4);
    // SAFETY: the entry refers to no memory.
    unsafe { ring.submission().push(&cancel) }
        .map_err(|_| "the submission queue is full".to_string())?;
    let mut left = 2;
    let deadline = Instant::now() + 5 * SEC;
    while left > 0 && Instant::now() < deadline {
        ring.submit_and_wait(1)
            .map_err(|e| format!("io_uring_enter(wait 1): {e}"))?;
        for c in ring.completion() {
            if c.user_data() == 4 || (c.user_data() == 3 && !cqueue::more(c.flags())) {
                left -= 1;
            }
        }
    }
    ensure!(
        left == 0,
        "the cancel and the multishot read's last completion did not both come"
    );
    expect_no_entry(port, "after the multishot read was cancelled")
}

/// With an mmap receive ring, the process waits for an empty ring in
/// poll(): a `pollwake` entry of the poller's task, gone when the arrival
/// (delivered into the ring) woke it.
pub fn wq_mmap_ring_poll() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let port = port_of(&ep)?;
    let layout = okay(ep.rx_ring_setup(4, 128), "RX_RING_SETUP(4 x 128)")?;
    let ring = okay(simnic::RxRing::map(&ep, &layout), "mmap of the ring")?;
    let poller = Waiter::spawn(c"wq-ring-poll", move || poll_in(fd, -1))?;
    let e = sole_entry(port, "poll() on an empty ring")?;
    expect_entry(
        &e,
        "pollwake",
        None,
        false,
        "poll_wqueues",
        "poll() on the ring",
    )?;
    expect_task(&e, poller.child.pid, "wq-ring-poll", "poll() on the ring")?;
    send(fd, b"ring", "a datagram")?;
    poller.finish(1, "poll() after a datagram into the ring")?;
    expect_no_entry(port, "after poll() returned")?;
    drop(ring);
    Ok(())
}

/// The samples of the asynchronous and ring models print what the view
/// shows while they wait: sample-io-uring `io_poll_wake` (parked reads,
/// then the multishot read), sample-tokio `ep_poll_callback` (the
/// reactor's epoll), sample-mmap `pollwake` (poll() on an empty ring), and
/// sample-aio no entry at all while its reads are posted.
pub fn wq_samples_print_callbacks() -> TestResult {
    let cases: [(&str, &[&str], &[&str]); 4] = [
        (
            "sample-io-uring",
            // Long pauses for every sample: the view must catch the wait
            // while it lasts, on a guest that stalls under host load.
            &["-p", "7421", "-n", "3", "-i", "300", "--depth", "2"],
            &[
                "wq view while io_uring_enter() with 2 parked reads waits",
                "wq view while io_uring_enter() with READ_MULTISHOT armed waits",
                "port 7421: io_poll_wake, not exclusive",
            ],
        ),
        (
            "sample-tokio",
            // The one thread asleep in epoll_wait() between the rounds.
            &["-p", "7431", "-n", "4", "-i", "300"],
            &[
                "wq view while the tokio reactor's epoll_wait() waits",
                "port 7431: ep_poll_callback, not exclusive",
            ],
        ),
        (
            "sample-mmap",
            &["-p", "7441", "-n", "3", "-i", "300"],
            &[
                "wq view while poll() on an empty ring waits",
                "port 7441: pollwake, not exclusive",
            ],
        ),
        (
            "sample-aio",
            &["-p", "7451", "-n", "3", "-i", "50", "--depth", "2"],
            &["wq view while 2 AIO reads are posted (/sys/kernel/debug/simnic/wq): no entry on the queues of ports [7451]"],
        ),
    ];
    for (program, args, want) in cases {
        let out = std::process::Command::new(program)
            .args(args)
            .output()
            .map_err(|e| format!("running {program}: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        ensure!(
            out.status.success(),
            "{program} {}: {}\n{text}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        for w in want {
            ensure!(
                text.contains(w),
                "{program}: no line with {w:?} in its output:\n{text}"
            );
        }
        ensure!(
            !text.contains("wq view: ") && !text.contains("unexpectedly"),
            "{program}: the view did not show what was expected:\n{text}"
        );
    }
    Ok(())
}

/// mini-poll hooks a `rust_wakefn_simnic_pollwake [simnic]` entry whose
/// private is the calling task, and lists the call; gone (entry and call) when it returns.
/// A wake-up for events it did not ask for (shutdown's key-less one) makes
/// it rescan, find nothing and sleep again: one spurious for the call.
pub fn wq_mini_poll_entry() -> TestResult {
    let (ep, fd, port) = watched()?;
    let poller = Waiter::spawn(c"wq-minipoll", move || {
        let Ok(mux) = MiniEpoll::open() else {
            return Err(errno());
        };
        let mut fds = [MiniPollFd {
            fd,
            events: libc::POLLIN as u32,
            ..Default::default()
        }];
        mux.mini_poll(&mut fds, -1)
            .map(|(n, _)| n)
            .map_err(|e| raw(&e))
    })?;
    let e = sole_entry(port, "during SIMNIC_MUX_IOC_POLL")?;
    expect_entry(
        &e,
        "rust_wakefn_simnic_pollwake",
        Some("simnic"),
        false,
        "task_struct",
        "mini-poll's entry",
    )?;
    expect_task(&e, poller.child.pid, "wq-minipoll", "mini-poll's entry")?;
    let pid = poller.child.pid;
    let call = |v: &WqView| {
        v.mini_poll_calls()
            .find(|l| l.contains(&format!(": pid {pid} ")))
            .map(str::to_string)
    };
    let line = wait_view("the mini-poll call", call)?;
    ensure!(
        line.contains("1 descriptors, 1 entries hooked"),
        "the call: {line:?}"
    );
    okay(ep.shutdown(SHUT_WR), "shutdown(SHUT_WR)")?;
    wait_view("the call's spurious wake-up", |v| {
        call(v).filter(|l| l.contains(", 1 spurious;") && l.contains(" 1 wake-ups,"))
    })?;
    let other = open_dev()?;
    okay(
        other.send_to(port, b"m"),
        "a datagram from another endpoint",
    )?;
    poller.finish(1, "mini-poll after a datagram")?;
    expect_no_entry(port, "after mini-poll returned")?;
    ensure!(
        call(&view()?).is_none(),
        "the returned mini-poll call is still listed"
    );
    Ok(())
}

/// mini-epoll hooks a `rust_wakefn_simnic_ep_poll_callback [simnic]` entry at ADD, with
/// no task; a task in SIMNIC_MUX_IOC_WAIT sleeps on the instance's own `wq`
/// (`autoremove_wake_function`, exclusive, its task); closing the instance
/// takes the endpoint's entry and the instance's queues away.
pub fn wq_mini_epoll_entries() -> TestResult {
    let (_ep, fd, port) = watched()?;
    let mux = okay(MiniEpoll::open(), "open /dev/simnic-epoll")?;
    okay(
        mux.ctl(MINI_EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, 5),
        "CTL ADD",
    )?;
    let e = sole_entry(port, "after CTL ADD")?;
    expect_entry(
        &e,
        "rust_wakefn_simnic_ep_poll_callback",
        Some("simnic"),
        false,
        "-",
        "mini-epoll's item",
    )?;
    expect_no_task(&e, "mini-epoll's item")?;
    // The instance, shared with the child through fork.
    let shared = &mux;
    let waiter = Waiter::spawn(c"wq-miniepoll", move || {
        shared.wait(4, -1).map(|v| v.len()).map_err(|e| raw(&e))
    })?;
    let pid = waiter.child.pid;
    let inst = wait_view("the waiter on the instance's wq", |v| {
        v.mini_epoll_queues()
            .find(|q| q.mini_epoll().is_some_and(|(_, name)| name == "wq") && q.count == 1)
            .cloned()
    })?;
    let w = &inst.entries[0];
    expect_entry(
        w,
        "autoremove_wake_function",
        None,
        true,
        "task_struct",
        "the instance's waiter",
    )?;
    expect_task(w, pid, "wq-miniepoll", "the instance's waiter")?;
    let (id, _) = inst.mini_epoll().unwrap_or_default();
    send(fd, b"x", "a datagram")?;
    waiter.finish(1, "the instance's wait after a datagram")?;
    let v = view()?;
    let wq = v
        .mini_epoll_queues()
        .find(|q| q.mini_epoll() == Some((id, "wq")))
        .ok_or("the instance's wq left the view")?;
    ensure!(
        wq.count == 0,
        "the instance's wq still has entries:\n{}",
        wq.text
    );
    ensure!(
        wq.woken >= 1,
        "the instance's wq counted no entry woken:\n{}",
        wq.text
    );
    sole_entry(port, "the item after the wait")?;
    drop(mux);
    expect_no_entry(port, "after the instance was closed")?;
    ensure!(
        view()?
            .mini_epoll_queues()
            .all(|q| q.mini_epoll().map(|(i, _)| i) != Some(id)),
        "the closed instance {id} is still in the view"
    );
    Ok(())
}

/// The NIC's part: no TX wait queue (the view says so), and the hardware
/// engine, a kernel thread named simnic-hw, asleep on its doorbell queue
/// while idle. A send rings the doorbell: in the inline model (the
/// default) the writer runs the hardware and the engine sleeps on, no
/// wake-up; in the thread model (`hw_inline=0`) one more wake-up there.
pub fn wq_nic_queues() -> TestResult {
    // The default, inline model: the writer does the hardware's work, and
    // the engine sleeps through the doorbell.
    nic_queues(true)?;
    // The thread model: the doorbell wakes the engine.
    super::module::with_params("hw_inline=0", || nic_queues(false))
}

fn nic_queues(inline: bool) -> TestResult {
    let model = if inline { "hw_inline=1" } else { "hw_inline=0" };
    let ep = open_dev()?;
    settle(&ep)?;
    let hw = |v: &WqView| {
        v.queues
            .iter()
            .find(|q| q.title.starts_with("nic hw_wq"))
            .cloned()
    };
    let q = wait_view("the idle hardware engine asleep", |v| {
        hw(v).filter(|q| q.count == 1)
    })?;
    let e = &q.entries[0];
    expect_entry(
        e,
        "autoremove_wake_function",
        None,
        false,
        "task_struct",
        "the engine's entry",
    )?;
    ensure!(
        e.task.as_ref().is_some_and(|t| t.comm == "simnic-hw"),
        "the engine's entry: {}",
        e.describe()
    );
    ensure!(
        view()?
            .other
            .iter()
            .any(|l| l.starts_with("nic tx: no wait queue")),
        "the view does not say that the NIC has no TX wait queue"
    );
    send(ep.as_raw_fd(), b"ding", "a datagram")?;
    settle(&ep)?;
    expect_datagram(ep.as_raw_fd(), b"ding", "the datagram")?;
    if inline {
        let after = hw(&view()?).ok_or("no nic hw_wq in the view")?;
        ensure!(
            after.wakeups == q.wakeups && after.count == 1,
            "{model}: the doorbell woke the engine (the writer should have run the hardware):\n{}",
            after.text
        );
        return Ok(());
    }
    let after = wait_view("the doorbell's wake-up", |v| {
        hw(v).filter(|a| a.wakeups > q.wakeups)
    })?;
    ensure!(
        after.woken > q.woken,
        "{model}: the doorbell woke nothing:\n{}",
        after.text
    );
    Ok(())
}

/// The view is bounded: with 20 readers blocked on one endpoint it counts
/// 20 and shows 16, saying how many are left out.
pub fn wq_view_bounded() -> TestResult {
    const N: usize = 20;
    let (_ep, fd, port) = watched()?;
    let mut readers = Vec::new();
    for _ in 0..N {
        readers.push(Waiter::spawn(c"wq-many", move || read(fd, &mut [0u8; 8]))?);
    }
    let q = wait_view("20 blocked readers", |v| {
        v.endpoint(port).filter(|q| q.count == N as u64).cloned()
    })?;
    ensure!(
        q.entries.len() == 16,
        "{} entries shown, expected the view's 16",
        q.entries.len()
    );
    ensure!(
        q.text
            .contains(&format!("... {} more entries not shown", N - 16)),
        "no truncation line:\n{}",
        q.text
    );
    let pids: Vec<i32> = readers.iter().map(|r| r.child.pid).collect();
    let shown: Vec<i32> = q
        .entries
        .iter()
        .filter_map(|e| e.task.as_ref().map(|t| t.pid))
        .collect();
    ensure!(
        shown == pids[..16],
        "the first 16 readers, in order, expected; shown {shown:?}"
    );
    for k in 0..N {
        send(fd, &[k as u8], "a datagram")?;
    }
    for r in readers {
        r.finish(1, "a reader")?;
    }
    expect_no_entry(port, "after every reader returned")
}

/// Hostile: the view is read over and over while other processes open and
/// close endpoints, block in read() and get killed, select, poll, epoll,
/// submit and cancel AIO polls, and make mini-poll and mini-epoll calls.
/// Every reading parses; nothing splats (the harness checks the log with
/// KASAN and lockdep on).
pub fn wq_view_stress() -> TestResult {
    const RUN: Duration = Duration::from_secs(4);
    type Work = fn(Instant) -> i32;
    let workers: [(&str, Work); 4] = [
        ("open-close", churn_open_close),
        ("pollers", churn_pollers),
        ("blocked-killed", churn_blocked_killed),
        ("mux", churn_mux),
    ];
    let end = Instant::now() + RUN;
    let mut children = Vec::new();
    for (name, work) in &workers {
        let work = *work;
        children.push((*name, Child::spawn(move || work(end))?));
    }
    let mut readings = 0u32;
    let mut busiest = 0u64;
    while Instant::now() < end {
        let v = view()?;
        busiest = busiest.max(v.queues.iter().map(|q| q.count).sum());
        readings += 1;
    }
    for (name, mut c) in children {
        c.expect_exit0(15 * SEC, name)?;
    }
    ensure!(
        readings > 10,
        "only {readings} readings of the view in {} s",
        RUN.as_secs()
    );
    ensure!(
        busiest > 0,
        "no reading saw any entry: the workers did not wait"
    );
    Ok(())
}

/// Opens and closes endpoints, with a datagram queued or in flight.
fn churn_open_close(end: Instant) -> i32 {
    while Instant::now() < end {
        let Ok(a) = Endpoint::open_nonblocking() else {
            return 1;
        };
        let _ = write(a.as_raw_fd(), b"x");
        drop(a);
    }
    0
}

/// select, poll and epoll with short timeouts on fresh endpoints, and AIO
/// polls cancelled by io_destroy.
fn churn_pollers(end: Instant) -> i32 {
    while Instant::now() < end {
        let Ok(a) = Endpoint::open() else { return 1 };
        let fd = a.as_raw_fd();
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: plain system calls on our own descriptors and memory.
        unsafe {
            libc::poll(&mut p, 1, 2);
            let mut rd: libc::fd_set = std::mem::zeroed();
            libc::FD_SET(fd, &mut rd);
            let mut tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 2000,
            };
            let null = std::ptr::null_mut();
            libc::select(fd + 1, &mut rd, null, null, &mut tv);
            let epfd = libc::epoll_create1(0);
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: 0,
            };
            libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev);
            libc::epoll_wait(epfd, &mut ev, 1, 2);
            libc::close(epfd);
        }
        if let Ok(ctx) = AioContext::new(2) {
            let mut cb = Iocb::poll(fd, libc::POLLIN, 0);
            // io_destroy (the drop) cancels it before `cb` goes.
            let _ = ctx.submit(&mut [&mut cb]);
            drop(ctx);
        }
        // The endpoint closes with whatever is still hooked on it.
    }
    0
}

/// Readers blocked in read() on fresh endpoints, killed while they sleep,
/// or woken by a datagram.
fn churn_blocked_killed(end: Instant) -> i32 {
    let mut k = 0u32;
    while Instant::now() < end {
        let Ok(a) = Endpoint::open() else { return 1 };
        let fd = a.as_raw_fd();
        let Ok(mut c) = Child::spawn(move || i32::from(read(fd, &mut [0u8; 8]).is_err())) else {
            return 1;
        };
        sleep_ms(1);
        if k.is_multiple_of(2) {
            let _ = c.signal(libc::SIGKILL);
        } else {
            let _ = write(fd, b"w");
        }
        if c.wait(5 * SEC).ok().flatten().is_none() {
            return 1;
        }
        k += 1;
    }
    0
}

/// mini-poll and mini-epoll calls with short timeouts; instances closed
/// with items in them.
fn churn_mux(end: Instant) -> i32 {
    while Instant::now() < end {
        let (Ok(a), Ok(mux)) = (Endpoint::open(), MiniEpoll::open()) else {
            return 1;
        };
        let fd = a.as_raw_fd();
        let mut fds = [MiniPollFd {
            fd,
            events: libc::POLLIN as u32,
            ..Default::default()
        }];
        let _ = mux.mini_poll(&mut fds, 2);
        let _ = mux.ctl(MINI_EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, 0);
        let _ = mux.wait(1, 2);
        drop(mux);
    }
    0
}
