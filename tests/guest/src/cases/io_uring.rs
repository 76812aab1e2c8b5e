//! io_uring on endpoints, through the `io-uring` crate: a read with nothing
//! to read parks on the endpoint's wait queue through io_uring's poll
//! arming (the file has `FMODE_NOWAIT`: the first attempt gets `EAGAIN`),
//! so no io-wq worker thread is made or blocked; poll (one-shot and
//! multishot), multishot read into provided buffers, cancellation, and a
//! process exiting with a read parked.

use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use crate::net::*;
use crate::sys::*;
use crate::uring::*;

const SEC: Duration = Duration::from_secs(1);

/// The io-wq worker threads of this process (`iou-wrk-<tid>`), from the
/// names in `/proc/self/task/*/comm`: a read io_uring could not park on a
/// wait queue would be handed to one, which would block in `read_iter`.
fn io_wq_workers() -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").map_err(|e| format!("/proc/self/task: {e}"))? {
        let t = t.map_err(|e| format!("/proc/self/task: {e}"))?;
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.starts_with("iou-wrk") {
            names.push(format!(
                "{} ({})",
                comm.trim(),
                t.file_name().to_string_lossy()
            ));
        }
    }
    Ok(names)
}

fn expect_no_workers(what: &str) -> TestResult {
    let w = io_wq_workers()?;
    ensure!(w.is_empty(), "{what}: io-wq workers exist: {w:?}");
    Ok(())
}

/// `IORING_OP_PROVIDE_BUFFERS` (tagged `data`): `count` buffers of `len`
/// bytes from `pool` as buffer group `group`; waits for it to succeed.
fn provide_buffers(
    ring: &mut IoUring,
    pool: &mut [u8],
    len: usize,
    count: u16,
    group: u16,
    data: u64,
) -> TestResult {
    let provide = opcode::ProvideBuffers::new(pool.as_mut_ptr(), len as i32, count, group, 0)
        .build()
        .user_data(data);
    submit(ring, &provide, "PROVIDE_BUFFERS")?;
    let c = completions(ring, 1, 10 * SEC, "PROVIDE_BUFFERS")?;
    ensure!(
        c[0].result() >= 0,
        "PROVIDE_BUFFERS: {}",
        errname(-c[0].result())
    );
    Ok(())
}

/// `IORING_OP_ASYNC_CANCEL` (tagged `data`) of the read tagged `target`:
/// waits for both completions and returns (the read's, the cancel's).
fn cancel_read(
    ring: &mut IoUring,
    target: u64,
    data: u64,
    what: &str,
) -> Result<(cqueue::Entry, cqueue::Entry), String> {
    let cancel = opcode::AsyncCancel::new(target).build().user_data(data);
    submit(ring, &cancel, what)?;
    let c = completions(ring, 2, 10 * SEC, what)?;
    let read = c
        .iter()
        .find(|e| e.user_data() == target)
        .ok_or("no completion for the read")?;
    let canc = c
        .iter()
        .find(|e| e.user_data() == data)
        .ok_or("no completion for the cancel")?;
    Ok((read.clone(), canc.clone()))
}

/// A child parks a read of `fd` (with `flags`) in a ring of its own, waits
/// `linger`, reports and exits: the exit must cancel the read without
/// hanging, and the next datagram must come to the parent. `what` names
/// the child's read.
fn child_exits_with_read(
    fd: RawFd,
    flags: squeue::Flags,
    linger: Duration,
    what: &str,
) -> TestResult {
    let pipe = Pipe::new()?;
    let report = pipe.w.as_raw_fd();
    let mut child = Child::spawn(move || {
        let Ok(mut ring) = IoUring::new(4) else {
            return 2;
        };
        let buf = Box::leak(Box::new([0u8; 64]));
        let e = read_entry(fd, buf, 1).flags(flags);
        // SAFETY: the buffer is leaked, so it outlives the request.
        if unsafe { ring.submission().push(&e) }.is_err() || !matches!(ring.submit(), Ok(1)) {
            return 3;
        }
        if !linger.is_zero() {
            std::thread::sleep(linger);
        }
        if !Report::ready(0).send(report) {
            return 4;
        }
        0
    })?;
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    reports.expect(Kind::Ready, 10 * SEC, &format!("child with {what}"))?;
    child.expect_exit0(10 * SEC, &format!("child exiting with {what}"))?;
    send(fd, b"after exit", "write")?;
    expect_datagram(fd, b"after exit", "datagram after the child's exit")
}

/// A read on an empty endpoint is parked, not completed and not handed to
/// a worker: no completion, no `iou-wrk` thread; a datagram completes it
/// with the datagram (the poll wake-up retries the read in task context).
/// A read with a datagram queued completes inline.
pub fn uring_read_parks_on_poll() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let mut ring = ring(8)?;
    let mut buf = [0u8; 64];
    submit(
        &mut ring,
        &read_entry(fd, &mut buf, 1),
        "read on an empty endpoint",
    )?;
    no_completion(
        &mut ring,
        Duration::from_millis(300),
        "read on an empty endpoint",
    )?;
    expect_no_workers("with a read parked")?;
    send(fd, b"uring", "write")?;
    let c = completions(&mut ring, 1, 10 * SEC, "the parked read")?;
    ensure!(
        c[0].user_data() == 1 && c[0].result() == 5,
        "parked read completed with {:?}",
        c[0]
    );
    check_data(&buf[..5], b"uring", "the parked read's buffer")?;
    expect_no_workers("after the parked read completed")?;

    send(fd, b"queued", "second write")?;
    wait_queued(&ep, 1, "the second datagram")?;
    submit(
        &mut ring,
        &read_entry(fd, &mut buf, 2),
        "read with a datagram queued",
    )?;
    let c = completions(&mut ring, 1, 10 * SEC, "the inline read")?;
    ensure!(
        c[0].user_data() == 2 && c[0].result() == 6,
        "inline read completed with {:?}",
        c[0]
    );
    check_data(&buf[..6], b"queued", "the inline read's buffer")?;
    expect_no_workers("after the inline read")
}

/// `IORING_OP_POLL_ADD` for `POLLIN` waits for a datagram; a multishot poll
/// reports each new datagram with `IORING_CQE_F_MORE` and stays armed.
pub fn uring_poll_add_and_multishot() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let mut ring = ring(16)?;
    let poll = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
        .build()
        .user_data(10);
    submit(&mut ring, &poll, "POLL_ADD")?;
    no_completion(
        &mut ring,
        Duration::from_millis(200),
        "POLL_ADD on an empty endpoint",
    )?;
    send(fd, b"p", "write")?;
    let c = completions(&mut ring, 1, 10 * SEC, "POLL_ADD")?;
    ensure!(
        c[0].user_data() == 10 && c[0].result() & libc::POLLIN as i32 != 0,
        "POLL_ADD: {:?}",
        c[0]
    );
    expect_datagram(fd, b"p", "the datagram")?;

    let multi = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
        .multi(true)
        .build()
        .user_data(11);
    submit(&mut ring, &multi, "multishot POLL_ADD")?;
    no_completion(
        &mut ring,
        Duration::from_millis(200),
        "multishot POLL_ADD on an empty endpoint",
    )?;
    for i in 0..3u8 {
        send(fd, &[i], "write")?;
        let c = completions(
            &mut ring,
            1,
            10 * SEC,
            &format!("multishot poll, datagram {i}"),
        )?;
        ensure!(
            c[0].user_data() == 11
                && c[0].result() & libc::POLLIN as i32 != 0
                && cqueue::more(c[0].flags()),
            "multishot poll, datagram {i}: {:?} (IORING_CQE_F_MORE expected)",
            c[0]
        );
        expect_datagram(fd, &[i], "the datagram")?;
        no_completion(
            &mut ring,
            Duration::from_millis(100),
            "multishot poll with the endpoint drained",
        )?;
    }
    let cancel = opcode::AsyncCancel::new(11).build().user_data(12);
    submit(&mut ring, &cancel, "cancel of the multishot poll")?;
    let c = completions(&mut ring, 2, 10 * SEC, "cancel of the multishot poll")?;
    ensure!(
        c.iter().any(|e| e.user_data() == 11
            && e.result() == -libc::ECANCELED
            && !cqueue::more(e.flags())),
        "multishot poll not ended with ECANCELED: {c:?}"
    );
    expect_no_workers("after the polls")
}

/// `IORING_OP_READ_MULTISHOT` with provided buffers (kernel 6.7+): each
/// datagram fills the next buffer of the group and completes with its id
/// and `IORING_CQE_F_MORE`, the read staying armed; nothing blocks a worker.
pub fn uring_read_multishot() -> TestResult {
    const BUFS: u16 = 4;
    const LEN: usize = 128;
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let mut ring = ring(16)?;
    let mut pool = vec![0u8; LEN * BUFS as usize];
    provide_buffers(&mut ring, &mut pool, LEN, BUFS, 7, 20)?;
    let read = opcode::ReadMulti::new(types::Fd(fd), 0, 7)
        .build()
        .user_data(21);
    submit(&mut ring, &read, "READ_MULTISHOT")?;
    no_completion(
        &mut ring,
        Duration::from_millis(200),
        "READ_MULTISHOT on an empty endpoint",
    )?;
    let mut seen = Vec::new();
    for i in 0..3u32 {
        let d = pattern(i, 20 + i as usize);
        send(fd, &d, "write")?;
        let c = completions(
            &mut ring,
            1,
            10 * SEC,
            &format!("READ_MULTISHOT, datagram {i}"),
        )?;
        let e = &c[0];
        ensure!(
            e.user_data() == 21 && e.result() == d.len() as i32,
            "READ_MULTISHOT, datagram {i}: {e:?}"
        );
        ensure!(
            cqueue::more(e.flags()),
            "READ_MULTISHOT, datagram {i}: no IORING_CQE_F_MORE ({e:?})"
        );
        let Some(bid) = cqueue::buffer_select(e.flags()) else {
            return Err(format!(
                "READ_MULTISHOT, datagram {i}: no buffer id ({e:?})"
            ));
        };
        ensure!(
            bid < BUFS && !seen.contains(&bid),
            "datagram {i} in buffer {bid} (seen {seen:?})"
        );
        seen.push(bid);
        let at = bid as usize * LEN;
        check_data(&pool[at..at + d.len()], &d, &format!("buffer {bid}"))?;
    }
    expect_no_workers("with a multishot read armed")?;
    let cancel = opcode::AsyncCancel::new(21).build().user_data(22);
    submit(&mut ring, &cancel, "cancel of the multishot read")?;
    let c = completions(&mut ring, 2, 10 * SEC, "cancel of the multishot read")?;
    ensure!(
        c.iter()
            .any(|e| e.user_data() == 21 && e.result() == -libc::ECANCELED),
        "multishot read not ended with ECANCELED: {c:?}"
    );
    Ok(())
}

/// `IORING_OP_ASYNC_CANCEL` of a parked read: the cancel completes with 0,
/// the read with `ECANCELED`; the next datagram goes to the receive queue.
pub fn uring_cancel_parked_read() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let mut ring = ring(8)?;
    let mut buf = [0u8; 64];
    submit(
        &mut ring,
        &read_entry(fd, &mut buf, 30),
        "read on an empty endpoint",
    )?;
    no_completion(&mut ring, Duration::from_millis(200), "parked read")?;
    let (read, canc) = cancel_read(&mut ring, 30, 31, "ASYNC_CANCEL")?;
    ensure!(
        read.result() == -libc::ECANCELED,
        "cancelled read: {read:?}"
    );
    ensure!(canc.result() == 0, "ASYNC_CANCEL: {canc:?}");
    send(fd, b"next", "write")?;
    expect_datagram(fd, b"next", "the datagram after the cancelled read")?;
    ensure!(
        buf.iter().all(|&b| b == 0),
        "the cancelled read's buffer was written"
    );
    Ok(())
}

/// A child parks a read in its ring and exits: the exit cancels it without
/// hanging, and the next datagram comes to the parent.
pub fn uring_exit_with_read_parked() -> TestResult {
    let ep = open_dev()?;
    child_exits_with_read(
        ep.as_raw_fd(),
        squeue::Flags::empty(),
        Duration::ZERO,
        "a read parked",
    )
}

/// A parked read whose buffer is unmapped: the datagram's poll wake-up
/// retries it, the copy faults, and the read completes with `EFAULT`; the
/// datagram is given back to the receive queue, not lost, and the next
/// reader gets it.
pub fn uring_read_efault_after_wake_keeps_datagram() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let mut ring = ring(8)?;
    let bad = map_pages(1, libc::PROT_READ | libc::PROT_WRITE)?;
    unmap(bad, 1)?;
    let e = opcode::Read::new(types::Fd(fd), bad as *mut u8, 64)
        .offset(u64::MAX)
        .build()
        .user_data(40);
    submit(&mut ring, &e, "read into an unmapped buffer")?;
    no_completion(&mut ring, Duration::from_millis(200), "parked read")?;
    send(fd, b"not lost", "write")?;
    let c = completions(&mut ring, 1, 10 * SEC, "the faulting read")?;
    ensure!(
        c[0].user_data() == 40 && c[0].result() == -libc::EFAULT,
        "read into an unmapped buffer after the wake-up: {:?}, expected EFAULT",
        c[0]
    );
    expect_datagram(fd, b"not lost", "the datagram after the failed read")
}

/// `IOSQE_ASYNC` sends a read straight to an io-wq worker. For a pollable
/// file (6.12's `io_wq_submit_work`) the worker tries without waiting and
/// then arms poll rather than blocking in `read_iter`; if it blocked, a
/// cancel would interrupt it (`TIF_NOTIFY_SIGNAL`, the read ending with
/// `EINTR`). Either way: the cancel ends the read (`ECANCELED` or
/// `EINTR`; the cancel itself 0 or `EALREADY`), nothing is written, the
/// next datagram goes to the receive queue, and a child with such a read
/// exits without hanging.
pub fn uring_async_worker_read_cancel_and_exit() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let mut ring = ring(8)?;
    let mut buf = [0u8; 64];
    let e = read_entry(fd, &mut buf, 50).flags(squeue::Flags::ASYNC);
    submit(&mut ring, &e, "IOSQE_ASYNC read on an empty endpoint")?;
    no_completion(&mut ring, Duration::from_millis(300), "the worker's read")?;
    let (read, canc) = cancel_read(&mut ring, 50, 51, "ASYNC_CANCEL of the worker's read")?;
    ensure!(
        read.result() == -libc::EINTR || read.result() == -libc::ECANCELED,
        "the worker's read after the cancel: {read:?}, expected EINTR or ECANCELED"
    );
    ensure!(
        canc.result() == 0 || canc.result() == -libc::EALREADY,
        "ASYNC_CANCEL of a running read: {canc:?}"
    );
    send(fd, b"to the queue", "write")?;
    expect_datagram(fd, b"to the queue", "the datagram after the cancelled read")?;
    ensure!(
        buf.iter().all(|&b| b == 0),
        "the cancelled read's buffer was written"
    );
    child_exits_with_read(
        fd,
        squeue::Flags::ASYNC,
        Duration::from_millis(200),
        "a worker blocked in read",
    )
}

/// `READ_MULTISHOT` whose buffer group runs out: the first datagram takes
/// the one provided buffer (`IORING_CQE_F_MORE`), the second finds none,
/// which ends the multishot read with `ENOBUFS` (no `F_MORE`); that
/// datagram was never taken off the queue, and `read()` gets it. A read
/// after `shutdown(SHUT_RD)` then returns 0 (end of file).
pub fn uring_multishot_out_of_buffers_and_eof() -> TestResult {
    const LEN: usize = 128;
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let mut ring = ring(16)?;
    let mut pool = vec![0u8; LEN];
    provide_buffers(&mut ring, &mut pool, LEN, 1, 9, 60)?;
    let read = opcode::ReadMulti::new(types::Fd(fd), 0, 9)
        .build()
        .user_data(61);
    submit(&mut ring, &read, "READ_MULTISHOT")?;
    no_completion(
        &mut ring,
        Duration::from_millis(200),
        "READ_MULTISHOT on an empty endpoint",
    )?;
    send(fd, b"first", "first write")?;
    let c = completions(&mut ring, 1, 10 * SEC, "the first datagram")?;
    ensure!(
        c[0].user_data() == 61 && c[0].result() == 5 && cqueue::more(c[0].flags()),
        "the first datagram: {:?}, expected 5 bytes with F_MORE",
        c[0]
    );
    check_data(&pool[..5], b"first", "the provided buffer")?;
    send(fd, b"second", "second write")?;
    let c = completions(&mut ring, 1, 10 * SEC, "the second datagram")?;
    ensure!(
        c[0].user_data() == 61 && c[0].result() == -libc::ENOBUFS && !cqueue::more(c[0].flags()),
        "with no buffer left: {:?}, expected ENOBUFS ending the multishot read",
        c[0]
    );
    expect_datagram(fd, b"second", "the datagram no buffer was left for")?;

    ep.shutdown(simnic::SHUT_RD)
        .map_err(|e| format!("shutdown: {e}"))?;
    let mut buf = [0u8; 16];
    submit(
        &mut ring,
        &read_entry(fd, &mut buf, 62),
        "a read after shutdown(SHUT_RD)",
    )?;
    let c = completions(&mut ring, 1, 10 * SEC, "the read after shutdown")?;
    ensure!(
        c[0].user_data() == 62 && c[0].result() == 0,
        "a read after shutdown(SHUT_RD): {:?}, expected 0",
        c[0]
    );
    Ok(())
}
