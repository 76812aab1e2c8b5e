//! Linux AIO on endpoints: `io_submit` of a read with nothing to read
//! returns at once and the receive path completes it later, straight into
//! the pinned pages; several posted reads take datagrams in the order they
//! were posted; `io_cancel`, `io_destroy`, process exit and `close` with
//! reads pending; cancellation racing completion; the failure paths (bad
//! buffers, the bound on posted reads) and the page pins given back on each.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::aio::*;
use crate::net::*;
use crate::sys::*;

const SEC: Duration = Duration::from_secs(1);
/// How long a completion may take (the guest is emulated).
const COMPLETION_MS: u64 = 10_000;

/// `-errno` as an `io_event.res`.
fn neg(e: i32) -> i64 {
    -(e as i64)
}

fn res_name(res: i64) -> String {
    if res < 0 {
        errname(-res as i32)
    } else {
        format!("{res} bytes")
    }
}

/// io_submit of a read on an empty endpoint returns before any datagram
/// exists, with nothing completed; the datagram sent afterwards completes
/// it (with its length) and is already in the buffer when io_getevents
/// reports it: no second system call copies it. It never reaches the
/// receive queue.
pub fn aio_read_returns_before_data() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let ctx = AioContext::new(8)?;
    let pins = pinned_pages()?;
    // One page, so that the read pins exactly one.
    let page = map_pages(1, libc::PROT_READ | libc::PROT_WRITE)?;
    // SAFETY: our fresh, private mapping of one page.
    let buf = unsafe { std::slice::from_raw_parts_mut(page as *mut u8, 256) };
    let mut cb = Iocb::pread(fd, buf.as_mut_ptr(), buf.len(), 0xA1);
    let start = Instant::now();
    ctx.submit_one(&mut cb, "read on an empty endpoint")?;
    let submit_ms = start.elapsed().as_millis();
    ensure!(
        ctx.events(0, 0)?.is_empty(),
        "a completion before any datagram was sent"
    );
    ensure!(
        pinned_pages()? == pins + 1,
        "one page pinned for the posted read, {} now",
        pinned_pages()? - pins
    );
    sleep_ms(200);
    ensure!(
        ctx.events(0, 0)?.is_empty(),
        "a completion 200 ms later, still without data"
    );
    send(fd, b"async hello", "write")?;
    let ev = ctx.expect_events(1, COMPLETION_MS, "the posted read")?;
    ensure!(
        ev[0].data == 0xA1,
        "completion for aio_data {:#x}",
        ev[0].data
    );
    ensure!(
        ev[0].res == 11,
        "the posted read completed with {}, expected 11 bytes",
        res_name(ev[0].res)
    );
    check_data(
        &buf[..11],
        b"async hello",
        "the buffer after the completion",
    )?;
    ensure!(
        buf[11..].iter().all(|&b| b == 0),
        "bytes past the datagram were written"
    );
    expect_pins(pins, "after the completion")?;
    let s = ep_stats(&ep)?;
    expect_ep(
        &s,
        &[("queued", 0), ("rx_packets", 1), ("rx_drops", 0)],
        "after the direct delivery",
    )?;
    ensure!(submit_ms < 5000, "io_submit took {submit_ms} ms");
    unmap(page, 1)
}

/// A datagram already queued: io_submit completes the read in the call (the
/// event is in the ring when io_submit returns); so does `RWF_NOWAIT` or
/// `O_NONBLOCK` on an empty endpoint, with `EAGAIN`, posting nothing.
pub fn aio_read_completes_in_submit() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let ctx = AioContext::new(8)?;
    let pins = pinned_pages()?;
    send(fd, b"already here", "write")?;
    wait_queued(&ep, 1, "the datagram")?;
    let mut buf = [0u8; 64];
    let mut cb = Iocb::pread(fd, buf.as_mut_ptr(), buf.len(), 1);
    ctx.submit_one(&mut cb, "read with a datagram queued")?;
    let ev = ctx.events(0, 0)?;
    ensure!(
        ev.len() == 1 && ev[0].res == 12,
        "no 12-byte completion in the ring after io_submit: {ev:?}"
    );
    check_data(&buf[..12], b"already here", "the buffer")?;

    let mut cb = Iocb::pread(fd, buf.as_mut_ptr(), buf.len(), 2);
    cb.aio_rw_flags = RWF_NOWAIT;
    ctx.submit_one(&mut cb, "RWF_NOWAIT read on an empty endpoint")?;
    let ev = ctx.events(0, 0)?;
    ensure!(
        ev.len() == 1 && ev[0].res == neg(libc::EAGAIN),
        "RWF_NOWAIT read: {ev:?}, expected EAGAIN at once"
    );

    let nb = open_dev_nonblocking()?;
    let mut cb = Iocb::pread(nb.as_raw_fd(), buf.as_mut_ptr(), buf.len(), 3);
    ctx.submit_one(&mut cb, "read on an O_NONBLOCK endpoint")?;
    let ev = ctx.events(0, 0)?;
    ensure!(
        ev.len() == 1 && ev[0].res == neg(libc::EAGAIN),
        "O_NONBLOCK read: {ev:?}, expected EAGAIN at once"
    );
    ensure!(
        pinned_pages()? == pins,
        "pages left pinned by reads that completed in io_submit"
    );
    Ok(())
}

/// Posted reads take datagrams in the order they were posted: the i-th
/// read gets the i-th datagram (whatever order the events come out of the
/// ring in), each once; `IOCB_CMD_PREADV` scatters one over its iovec, a
/// short read is cut (the rest of the datagram is dropped, counted as
/// truncated), a zero-length read takes a datagram and returns 0.
pub fn aio_reads_in_post_order() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let ctx = AioContext::new(16)?;
    let pins = pinned_pages()?;
    // Buffers across a page boundary, so reads pin two pages.
    let page = page_size();
    let area = map_pages(8, libc::PROT_READ | libc::PROT_WRITE)?;
    let at = |i: usize| (area + i * 2 * page + page - 5) as *mut u8;
    let mut cbs: Vec<Iocb> = (0..4)
        .map(|i| Iocb::pread(fd, at(i), 64, i as u64))
        .collect();
    // A fifth: a vectored read, 3 bytes then the rest.
    let v = map_pages(2, libc::PROT_READ | libc::PROT_WRITE)?;
    let iov = [
        libc::iovec {
            iov_base: v as *mut _,
            iov_len: 3,
        },
        libc::iovec {
            iov_base: (v + page + 10) as *mut _,
            iov_len: 100,
        },
    ];
    cbs.push(Iocb::preadv(fd, &iov, 4));
    // A sixth: 4 bytes, for a longer datagram; a seventh: zero bytes.
    let mut short = [0u8; 4];
    cbs.push(Iocb::pread(fd, short.as_mut_ptr(), 4, 5));
    cbs.push(Iocb::pread(fd, std::ptr::null_mut(), 0, 6));
    for cb in cbs.iter_mut() {
        ctx.submit_one(cb, "posting a read")?;
    }
    ensure!(
        ctx.events(0, 0)?.is_empty(),
        "a completion before any datagram"
    );
    let before = ep_stats(&ep)?;
    let dgrams: Vec<Vec<u8>> = (0..7u32).map(|i| pattern(i, 10 + i as usize)).collect();
    for (i, d) in dgrams.iter().enumerate() {
        send(fd, d, &format!("datagram {i}"))?;
    }
    let mut ev = ctx.expect_events(7, COMPLETION_MS, "seven posted reads")?;
    ev.sort_by_key(|e| e.data);
    for e in &ev[..4] {
        let i = e.data as usize;
        ensure!(
            e.res == dgrams[i].len() as i64,
            "read {i} completed with {}",
            res_name(e.res)
        );
        // SAFETY: the read's buffer, in our mapping, written by the kernel.
        let got = unsafe { std::slice::from_raw_parts(at(i), dgrams[i].len()) };
        check_data(got, &dgrams[i], &format!("read {i} (posted {i}th)"))?;
    }
    ensure!(
        ev[4].res == 14,
        "the vectored read completed with {}",
        res_name(ev[4].res)
    );
    // SAFETY: the two iovec buffers, in our mapping.
    let (a, b) = unsafe {
        (
            std::slice::from_raw_parts(v as *const u8, 3),
            std::slice::from_raw_parts((v + page + 10) as *const u8, 11),
        )
    };
    check_data(
        &[a, b].concat(),
        &dgrams[4],
        "the vectored read's two pieces",
    )?;
    ensure!(
        ev[5].res == 4,
        "the 4-byte read of a 15-byte datagram completed with {}",
        res_name(ev[5].res)
    );
    check_data(&short, &dgrams[5][..4], "the 4-byte read")?;
    ensure!(
        ev[6].res == 0,
        "the zero-length read completed with {}",
        res_name(ev[6].res)
    );
    let after = ep_stats(&ep)?;
    ensure!(
        after.rx_packets - before.rx_packets == 7 && after.queued == 0,
        "seven datagrams should have gone straight to the reads: {after:?}"
    );
    ensure!(
        after.rx_truncated - before.rx_truncated == 2,
        "truncated count {} (4-byte and 0-byte reads)",
        after.rx_truncated - before.rx_truncated
    );
    expect_pins(pins, "after seven completions")?;
    unmap(area, 8)?;
    unmap(v, 2)
}

/// io_cancel of a posted read: `EINPROGRESS`, then an `ECANCELED` event;
/// the pins go back, and the next datagram goes to the receive queue as if
/// the read had never been posted. A second io_cancel finds nothing
/// (`EINVAL`).
pub fn aio_cancel_posted_read() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let ctx = AioContext::new(8)?;
    let pins = pinned_pages()?;
    let mut buf = [0u8; 64];
    let mut cb = Iocb::pread(fd, buf.as_mut_ptr(), buf.len(), 7);
    ctx.submit_one(&mut cb, "read on an empty endpoint")?;
    match ctx.cancel(&cb) {
        Err(libc::EINPROGRESS) => {}
        r => {
            return Err(format!(
                "io_cancel of a posted read: {r:?}, expected EINPROGRESS"
            ))
        }
    }
    let ev = ctx.expect_events(1, COMPLETION_MS, "the cancelled read")?;
    ensure!(
        ev[0].res == neg(libc::ECANCELED),
        "cancelled read completed with {}",
        res_name(ev[0].res)
    );
    ensure!(
        buf.iter().all(|&b| b == 0),
        "the cancelled read's buffer was written"
    );
    expect_pins(pins, "after io_cancel")?;
    match ctx.cancel(&cb) {
        Err(libc::EINVAL) => {}
        r => return Err(format!("second io_cancel: {r:?}, expected EINVAL")),
    }
    send(fd, b"for the queue", "write after the cancel")?;
    expect_datagram(fd, b"for the queue", "datagram after the cancelled read")
}

/// io_cancel racing the datagram that completes the read, many times over,
/// with the sender on another CPU: every read completes exactly once,
/// either with the datagram (io_cancel then says `EAGAIN` or `EINVAL`) or
/// with `ECANCELED` (io_cancel said `EINPROGRESS`, and the datagram is in
/// the receive queue instead); no datagram is lost or delivered twice, no
/// page stays pinned.
pub fn aio_cancel_races_completion() -> TestResult {
    const ROUNDS: u32 = 300;
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let sender = open_dev()?;
    sender
        .connect(port_of(&ep)?)
        .map_err(|e| format!("connect: {e}"))?;
    let ctx = AioContext::new(8)?;
    let pins = pinned_pages()?;
    let go = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel::<u32>();
    let (acks, acked) = std::sync::mpsc::channel::<()>();
    let sfd = sender.as_raw_fd();
    let (g, s) = (go.clone(), stop.clone());
    let t = std::thread::spawn(move || {
        while let Ok(i) = rx.recv() {
            while !g.swap(false, Ordering::AcqRel) && !s.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            let _ = write(sfd, &i.to_le_bytes());
            let _ = acks.send(());
        }
    });
    let (mut completed, mut cancelled) = (0, 0);
    for i in 0..ROUNDS {
        let mut buf = [0u8; 16];
        let mut cb = Iocb::pread(fd, buf.as_mut_ptr(), buf.len(), i as u64);
        ctx.submit_one(&mut cb, "round's read")?;
        tx.send(i).map_err(|_| "sender thread gone".to_string())?;
        go.store(true, Ordering::Release);
        // Spread the cancel over the datagram's flight, from at once to
        // well after it arrived (busy: a sleep would let the other CPU's
        // timing drift the same way every round).
        let until = Instant::now() + Duration::from_micros((i % 20) as u64 * 100);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        let c = ctx.cancel(&cb);
        acked
            .recv_timeout(5 * SEC)
            .map_err(|_| "sender did not send".to_string())?;
        let ev = ctx.expect_events(1, COMPLETION_MS, &format!("round {i}"))?;
        ensure!(
            ev[0].data == i as u64,
            "round {i}: completion for {}",
            ev[0].data
        );
        match (c, ev[0].res) {
            (Err(libc::EINPROGRESS), r) if r == neg(libc::ECANCELED) => {
                cancelled += 1;
                // The datagram went to the receive queue instead.
                wait_arrival(fd, &format!("round {i}: datagram after the cancel"))?;
                let mut q = [0u8; 16];
                let n = read(fd, &mut q).map_err(|e| format!("round {i}: read: {}", errname(e)))?;
                ensure!(
                    n == 4 && q[..4] == i.to_le_bytes(),
                    "round {i}: queued datagram {:?}",
                    &q[..n]
                );
            }
            (Err(libc::EAGAIN) | Err(libc::EINVAL), 4) => {
                completed += 1;
                // SAFETY: the kernel wrote the buffer before posting the event.
                let buf = unsafe { std::ptr::read_volatile(&buf) };
                ensure!(
                    buf[..4] == i.to_le_bytes(),
                    "round {i}: read got {:?}",
                    &buf[..4]
                );
            }
            (c, r) => {
                return Err(format!(
                    "round {i}: io_cancel {c:?} but the read completed with {}",
                    res_name(r)
                ))
            }
        }
        ensure!(
            ctx.events(0, 0)?.is_empty(),
            "round {i}: a second completion"
        );
    }
    stop.store(true, Ordering::Release);
    drop(tx);
    let _ = t.join();
    expect_pins(pins, "after the rounds")?;
    ensure!(
        !wait_readable(fd, Duration::ZERO)?,
        "a datagram left over after the rounds"
    );
    println!("# {ROUNDS} rounds: {completed} completed, {cancelled} cancelled");
    ensure!(
        completed > 0 && cancelled > 0,
        "the race never went both ways ({completed} completed, {cancelled} cancelled)"
    );
    Ok(())
}

/// io_destroy with reads posted cancels them and waits for them: it
/// returns, the pins are back, and the datagrams sent afterwards go to the
/// receive queue (the cancelled reads take nothing).
pub fn aio_destroy_with_reads_posted() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let pins = pinned_pages()?;
    let ctx = AioContext::new(8)?;
    // Three 64-byte buffers in one page, so that each read pins exactly
    // one (buffers on the stack may straddle a page boundary).
    let page = map_pages(1, libc::PROT_READ | libc::PROT_WRITE)?;
    // SAFETY: our fresh, private mapping of one page.
    let buf = unsafe { std::slice::from_raw_parts_mut(page as *mut u8, 3 * 64) };
    let mut cbs: Vec<Iocb> = buf
        .chunks_mut(64)
        .enumerate()
        .map(|(i, b)| Iocb::pread(fd, b.as_mut_ptr(), 64, i as u64))
        .collect();
    for cb in cbs.iter_mut() {
        ctx.submit_one(cb, "posting a read")?;
    }
    ensure!(
        pinned_pages()? - pins == 3,
        "{} pages pinned for three reads",
        pinned_pages()? - pins
    );
    // io_destroy waits for the cancelled reads to complete: it returns (a
    // hang would end the test by its alarm) and nothing is pinned after it.
    let start = Instant::now();
    ctx.destroy()?;
    ensure!(
        pinned_pages()? == pins,
        "{} pages still pinned when io_destroy returned",
        pinned_pages()? - pins
    );
    println!(
        "# io_destroy with three reads posted: {} ms",
        ms(start.elapsed())
    );
    send(fd, b"after destroy", "write")?;
    expect_datagram(fd, b"after destroy", "datagram after io_destroy")?;
    ensure!(
        buf.iter().all(|&x| x == 0),
        "a destroyed read's buffer was written"
    );
    Ok(())
}

/// A child posts reads on an endpoint it shares with us and exits without
/// io_destroy: its exit cancels them (`exit_aio`) and does not hang, the
/// pins go back, and the next datagram comes to us.
pub fn aio_exit_with_reads_posted() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let pins = pinned_pages()?;
    let pipe = Pipe::new()?;
    let report = pipe.w.as_raw_fd();
    let mut child = Child::spawn(move || {
        let Ok(ctx) = AioContext::new(8) else {
            return 2;
        };
        let mut bufs = vec![[0u8; 128]; 4];
        for (i, b) in bufs.iter_mut().enumerate() {
            let mut cb = Iocb::pread(fd, b.as_mut_ptr(), 128, i as u64);
            if ctx.submit(&mut [&mut cb]) != Ok(1) {
                return 3;
            }
        }
        if !Report::ready(0).send(report) {
            return 4;
        }
        // Exit with the context and the reads alive.
        std::mem::forget(ctx);
        std::mem::forget(bufs);
        0
    })?;
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    reports.expect(Kind::Ready, 10 * SEC, "child posting reads")?;
    child.expect_exit0(10 * SEC, "child exiting with four reads posted")?;
    expect_pins(pins, "after the child's exit")?;
    send(fd, b"after exit", "write")?;
    expect_datagram(fd, b"after exit", "datagram after the child's exit")
}

/// close() with a read posted: the request holds the file, so the endpoint
/// is not released: it keeps its port, and a datagram sent to that port
/// completes the read. Only then is the file released (its port is free
/// again soon after).
pub fn aio_close_with_read_posted() -> TestResult {
    let ep = open_dev()?;
    let port = port_of(&ep)?;
    let other = open_dev()?;
    let ctx = AioContext::new(4)?;
    let pins = pinned_pages()?;
    let mut buf = [0u8; 64];
    let mut cb = Iocb::pread(ep.as_raw_fd(), buf.as_mut_ptr(), buf.len(), 9);
    ctx.submit_one(&mut cb, "read on an empty endpoint")?;
    drop(ep);
    sleep_ms(100);
    let probe = open_dev()?;
    match probe.bind(port) {
        Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => {}
        r => {
            return Err(format!(
            "bind to the closed endpoint's port with its read posted: {r:?}, expected EADDRINUSE"
        ))
        }
    }
    other
        .send_to(port, b"to a closed fd")
        .map_err(|e| format!("send_to: {e}"))?;
    let ev = ctx.expect_events(1, COMPLETION_MS, "the read on the closed descriptor")?;
    ensure!(
        ev[0].res == 14,
        "read on the closed descriptor completed with {}",
        res_name(ev[0].res)
    );
    check_data(&buf[..14], b"to a closed fd", "its buffer")?;
    expect_pins(pins, "after the completion")?;
    // The last reference went with the completion: the port comes free.
    let deadline = Instant::now() + 5 * SEC;
    loop {
        match probe.bind(port) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) && Instant::now() < deadline => {
                sleep_ms(10)
            }
            Err(e) => return Err(format!("bind to the released endpoint's port: {e}")),
        }
    }
}

/// Failure paths: a buffer that is not mapped, or mapped read-only, or an
/// iovec whose second element is unmapped, completes in io_submit with
/// `EFAULT`, posting nothing and leaving no page pinned; the next datagram
/// is not lost to them.
pub fn aio_bad_buffers_efault() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let ctx = AioContext::new(8)?;
    let pins = pinned_pages()?;
    let page = page_size();
    let area = map_pages(3, libc::PROT_READ | libc::PROT_WRITE)?;
    protect(area + page, 1, libc::PROT_READ)?;
    unmap(area + 2 * page, 1)?;
    let cases: [(&str, Iocb); 2] = [
        (
            "an unmapped buffer",
            Iocb::pread(fd, (area + 2 * page) as *mut u8, 64, 1),
        ),
        (
            "a read-only buffer",
            Iocb::pread(fd, (area + page) as *mut u8, 64, 2),
        ),
    ];
    for (what, mut cb) in cases {
        ctx.submit_one(&mut cb, what)?;
        let ev = ctx.events(0, 0)?;
        ensure!(
            ev.len() == 1 && ev[0].res == neg(libc::EFAULT),
            "{what}: {ev:?}, expected EFAULT in io_submit"
        );
        ensure!(pinned_pages()? == pins, "{what}: pages left pinned");
    }
    let iov = [
        libc::iovec {
            iov_base: area as *mut _,
            iov_len: 16,
        },
        libc::iovec {
            iov_base: (area + 2 * page) as *mut _,
            iov_len: 16,
        },
    ];
    let mut cb = Iocb::preadv(fd, &iov, 3);
    ctx.submit_one(&mut cb, "an iovec with an unmapped second element")?;
    let ev = ctx.events(0, 0)?;
    ensure!(
        ev.len() == 1 && ev[0].res == neg(libc::EFAULT),
        "bad iovec: {ev:?}, expected EFAULT in io_submit"
    );
    ensure!(
        pinned_pages()? == pins,
        "bad iovec: the first element's page stays pinned"
    );
    send(fd, b"still here", "write")?;
    expect_datagram(fd, b"still here", "datagram after the failed reads")?;
    unmap(area, 2)
}

/// At most `AIO_READS_MAX` reads wait on one endpoint: one more completes
/// with `ENOBUFS`. Cancelled reads do not count: after cancelling
/// one, a new one is posted.
pub fn aio_posted_reads_bounded() -> TestResult {
    let max = simnic::AIO_READS_MAX;
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let ctx = AioContext::new(2 * max as u32 + 8)?;
    let pins = pinned_pages()?;
    let mut buf = vec![0u8; 16 * (max + 2)];
    let base = buf.as_mut_ptr();
    // SAFETY: offsets inside `buf`.
    let mut cbs: Vec<Iocb> = (0..max + 2)
        .map(|i| Iocb::pread(fd, unsafe { base.add(16 * i) }, 16, i as u64))
        .collect();
    for cb in cbs[..max].iter_mut() {
        ctx.submit_one(cb, "posting a read")?;
    }
    ensure!(
        ctx.events(0, 0)?.is_empty(),
        "a completion among {max} posted reads"
    );
    ctx.submit_one(&mut cbs[max], "one read too many")?;
    // Refused after it was handed over: completed from the work item.
    let ev = ctx.expect_events(1, COMPLETION_MS, "the read past the bound")?;
    ensure!(
        ev[0].data == max as u64 && ev[0].res == neg(libc::ENOBUFS),
        "read {} past the bound: {ev:?}, expected ENOBUFS",
        max + 1
    );
    match ctx.cancel(&cbs[0]) {
        Err(libc::EINPROGRESS) => {}
        r => return Err(format!("io_cancel: {r:?}")),
    }
    ctx.expect_events(1, COMPLETION_MS, "the cancelled read")?;
    ctx.submit_one(&mut cbs[max + 1], "a read after one was cancelled")?;
    ensure!(
        ctx.events(0, 0)?.is_empty(),
        "the read after a cancellation did not wait"
    );
    send(fd, b"x", "write")?;
    let ev = ctx.expect_events(1, COMPLETION_MS, "the oldest live read")?;
    ensure!(
        ev[0].data == 1 && ev[0].res == 1,
        "the datagram went to {:?}, expected read 1",
        ev[0]
    );
    ctx.destroy()?;
    expect_pins(pins, "after io_destroy")
}

/// A posted read is a reader: `shutdown(SHUT_RD)` completes it with 0 (end
/// of file), and a connected endpoint's `ECONNREFUSED` completes the oldest
/// with that error, once.
pub fn aio_read_eof_and_error() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let ctx = AioContext::new(8)?;
    let mut buf = [0u8; 32];
    // An error: connected to a port nobody has.
    let nobody = {
        let tmp = open_dev()?;
        port_of(&tmp)?
    };
    ep.connect(nobody).map_err(|e| format!("connect: {e}"))?;
    let mut a = Iocb::pread(fd, buf.as_mut_ptr(), 16, 1);
    // SAFETY: inside `buf`.
    let mut b = Iocb::pread(fd, unsafe { buf.as_mut_ptr().add(16) }, 16, 2);
    ctx.submit_one(&mut a, "first read")?;
    ctx.submit_one(&mut b, "second read")?;
    send(fd, b"refused", "write to a closed port")?;
    let ev = ctx.expect_events(1, COMPLETION_MS, "the error")?;
    ensure!(
        ev[0].data == 1 && ev[0].res == neg(libc::ECONNREFUSED),
        "{:?}: expected the first read to get ECONNREFUSED",
        ev[0]
    );
    sleep_ms(100);
    ensure!(
        ctx.events(0, 0)?.is_empty(),
        "the error completed a second read"
    );
    ep.shutdown(simnic::SHUT_RD)
        .map_err(|e| format!("shutdown: {e}"))?;
    let ev = ctx.expect_events(1, COMPLETION_MS, "the read at shutdown")?;
    ensure!(
        ev[0].data == 2 && ev[0].res == 0,
        "{:?}: expected end of file (0)",
        ev[0]
    );
    Ok(())
}

/// Who gets a datagram when a reader is blocked in read() and an AIO read
/// is posted: the posted read (posted reads come first, oldest first), even
/// though the reader was waiting earlier; the reader gets the next one,
/// once no read is posted.
pub fn aio_posted_read_before_blocked_reader() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let pipe = Pipe::new()?;
    let report = pipe.w.as_raw_fd();
    let mut reader = Child::spawn(move || {
        let mut buf = [0u8; 64];
        let start = Instant::now();
        if !Report::ready(0).send(report) {
            return 2;
        }
        let r = read(fd, &mut buf);
        i32::from(!Report::done(0, r, start, &buf).send(report))
    })?;
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    reports.expect(Kind::Ready, 5 * SEC, "reader start")?;
    reader.wait_sleeping(5 * SEC, "blocked reader")?;
    let ctx = AioContext::new(4)?;
    let mut buf = [0u8; 64];
    let mut cb = Iocb::pread(fd, buf.as_mut_ptr(), buf.len(), 1);
    ctx.submit_one(&mut cb, "posted read")?;
    send(fd, b"first", "first write")?;
    let ev = ctx.expect_events(1, COMPLETION_MS, "the posted read")?;
    ensure!(ev[0].res == 5, "posted read: {}", res_name(ev[0].res));
    check_data(&buf[..5], b"first", "the posted read")?;
    reports.expect_none(
        300 * Duration::from_millis(1),
        "the blocked reader with a read posted",
    )?;
    send(fd, b"second", "second write")?;
    let done = reports.expect(Kind::Done, 10 * SEC, "the blocked reader")?;
    check_data(&done.data, b"second", "the blocked reader")?;
    reader.expect_exit0(5 * SEC, "reader")
}

/// `IOCB_CMD_POLL` can be cancelled like a read: `EINPROGRESS`, and its
/// event comes; a later poll still completes on a datagram.
pub fn aio_poll_cancel() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let ctx = AioContext::new(4)?;
    let mut cb = Iocb::poll(fd, libc::POLLIN, 1);
    ctx.submit_one(&mut cb, "IOCB_CMD_POLL")?;
    ensure!(
        ctx.events(0, 0)?.is_empty(),
        "IOCB_CMD_POLL completed on an empty endpoint"
    );
    match ctx.cancel(&cb) {
        Err(libc::EINPROGRESS) => {}
        r => {
            return Err(format!(
                "io_cancel of IOCB_CMD_POLL: {r:?}, expected EINPROGRESS"
            ))
        }
    }
    let ev = ctx.expect_events(1, COMPLETION_MS, "the cancelled poll")?;
    ensure!(
        ev[0].data == 1 && ev[0].res & libc::POLLIN as i64 == 0,
        "cancelled poll: {:?}",
        ev[0]
    );
    let mut cb = Iocb::poll(fd, libc::POLLIN, 2);
    ctx.submit_one(&mut cb, "second IOCB_CMD_POLL")?;
    send(fd, b"p", "write")?;
    let ev = ctx.expect_events(1, COMPLETION_MS, "the second poll")?;
    ensure!(
        ev[0].data == 2 && ev[0].res & libc::POLLIN as i64 != 0,
        "second poll: {:?}",
        ev[0]
    );
    expect_datagram(fd, b"p", "the datagram the poll saw")
}
