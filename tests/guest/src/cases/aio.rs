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

/// A `PREADV` with empty iovec elements first, in the middle, last, and
/// all of these at once: the empty ones are stepped over, never pinned
/// (they point at a `PROT_NONE` page, which pinning would refuse with
/// `EFAULT`); the read waits with exactly the pages of the non-empty
/// elements pinned; the datagram lands in the non-empty elements in order
/// and the result is their byte count, or the datagram's if shorter;
/// nothing else in the buffer pages is written; the pins go back.
pub fn aio_preadv_empty_elements() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let ctx = AioContext::new(8)?;
    let pins = pinned_pages()?;
    let page = page_size();
    let area = map_pages(3, libc::PROT_READ | libc::PROT_WRITE)?;
    let bad = map_pages(1, libc::PROT_NONE)?;
    let empty = libc::iovec {
        iov_base: bad as *mut _,
        iov_len: 0,
    };
    // A non-empty element: `len` bytes at offset 40 of page `i` of `area`.
    let piece = |i: usize, len: usize| libc::iovec {
        iov_base: (area + i * page + 40) as *mut _,
        iov_len: len,
    };
    // What, the iovec, the datagram's length, the expected result.
    let cases: [(&str, Vec<libc::iovec>, usize, i64); 4] = [
        (
            "an empty first element",
            vec![empty, piece(0, 8), piece(1, 8)],
            20,
            16,
        ),
        (
            "an empty middle element",
            vec![piece(0, 8), empty, piece(1, 8)],
            12,
            12,
        ),
        (
            "an empty last element",
            vec![piece(0, 8), piece(1, 8), empty],
            16,
            16,
        ),
        (
            "empty elements first, between and last",
            vec![
                empty,
                empty,
                piece(0, 5),
                empty,
                empty,
                piece(1, 1),
                empty,
                piece(2, 7),
                empty,
                empty,
            ],
            13,
            13,
        ),
    ];
    for (n, (what, iov, dlen, res)) in cases.iter().enumerate() {
        // 0xff: a byte `pattern` never makes.
        // SAFETY: our mapping of three writable pages.
        unsafe { std::ptr::write_bytes(area as *mut u8, 0xff, 3 * page) };
        let full = iov.iter().filter(|v| v.iov_len > 0).count();
        let mut cb = Iocb::preadv(fd, iov, n as u64);
        ctx.submit_one(&mut cb, what)?;
        let ev = ctx.events(0, 0)?;
        ensure!(ev.is_empty(), "{what}: completed in io_submit: {ev:?}");
        let pinned = pinned_pages()? - pins;
        ensure!(
            pinned == full as i64,
            "{what}: {pinned} pages pinned, expected {full}"
        );
        let d = pattern(n as u32, *dlen);
        send(fd, &d, &format!("{what}: write"))?;
        let ev = ctx.expect_events(1, COMPLETION_MS, what)?;
        ensure!(
            ev[0].data == n as u64 && ev[0].res == *res,
            "{what}: completed with {}, expected {res} bytes",
            res_name(ev[0].res)
        );
        // The pages as they must be: the datagram's first bytes spread
        // over the non-empty elements in order, 0xff everywhere else.
        let mut want = vec![0xffu8; 3 * page];
        let mut from = 0;
        for v in iov.iter() {
            let at = v.iov_base as usize;
            if v.iov_len == 0 || at < area || at >= area + 3 * page {
                continue;
            }
            let k = v.iov_len.min(*res as usize - from);
            want[at - area..at - area + k].copy_from_slice(&d[from..from + k]);
            from += k;
        }
        ensure!(
            from == *res as usize,
            "{what}: test error, the pieces hold {from} bytes"
        );
        // SAFETY: our mapping, written by the kernel before the event.
        let got = unsafe { std::slice::from_raw_parts(area as *const u8, 3 * page) };
        check_data(got, &want, &format!("{what}: the buffer pages"))?;
        expect_pins(pins, &format!("{what}: after the completion"))?;
    }
    let s = ep_stats(&ep)?;
    ensure!(s.queued == 0, "{s:?}: a datagram went to the queue");
    unmap(area, 3)?;
    unmap(bad, 1)
}

/// A partial pin inside one piece: a plain `PREAD` (one piece, one
/// `pin_user_pages_fast()` for its three pages) whose third page is
/// `PROT_NONE`. gup pins the two pages before it and returns 2 of 3; the
/// read completes in io_submit with `EFAULT` (a read must be pinned whole
/// or not at all) and the two pins are given back at once: both
/// `nr_foll_pin_acquired` and `nr_foll_pin_released` move, by the same
/// count. The same buffer short of the bad page is then pinned (two
/// pages), waits, and gets the next datagram.
pub fn aio_partial_pin_efault() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let ctx = AioContext::new(8)?;
    let pins = pinned_pages()?;
    let page = page_size();
    let area = map_pages(3, libc::PROT_READ | libc::PROT_WRITE)?;
    protect(area + 2 * page, 1, libc::PROT_NONE)?;
    // Resident: gup's fast path pins them and stops at the third page (had
    // they not been, the slow path faults them in and stops there too).
    // SAFETY: the first two pages of our mapping, writable.
    unsafe { std::ptr::write_bytes(area as *mut u8, 0xff, 2 * page) };
    let (acq0, rel0) = pin_counters()?;
    let mut cb = Iocb::pread(fd, (area + 100) as *mut u8, 2 * page, 1);
    ctx.submit_one(&mut cb, "a read whose third page is PROT_NONE")?;
    let ev = ctx.events(0, 0)?;
    ensure!(
        ev.len() == 1 && ev[0].res == neg(libc::EFAULT),
        "a read whose third page is PROT_NONE: {ev:?}, expected EFAULT in io_submit"
    );
    let (acq, rel) = pin_counters()?;
    ensure!(
        acq - acq0 >= 2,
        "{} pins taken, expected at least the two pages before the bad one",
        acq - acq0
    );
    ensure!(
        rel - rel0 == acq - acq0,
        "{} pins taken and {} given back",
        acq - acq0,
        rel - rel0
    );
    expect_pins(pins, "after the partial pin")?;
    let mut cb = Iocb::pread(fd, (area + 100) as *mut u8, 2 * page - 100, 2);
    ctx.submit_one(&mut cb, "the same buffer short of the bad page")?;
    let ev = ctx.events(0, 0)?;
    ensure!(
        ev.is_empty(),
        "the good buffer: completed in io_submit: {ev:?}"
    );
    ensure!(
        pinned_pages()? == pins + 2,
        "the good buffer: {} pages pinned, expected 2",
        pinned_pages()? - pins
    );
    let d = pattern(3, page);
    send(fd, &d, "a datagram across the two pages")?;
    let ev = ctx.expect_events(1, COMPLETION_MS, "the good buffer")?;
    ensure!(
        ev[0].data == 2 && ev[0].res == page as i64,
        "the good buffer: {:?}, expected {page} bytes",
        ev[0]
    );
    // SAFETY: inside our mapping, written by the kernel before the event.
    check_data(
        unsafe { std::slice::from_raw_parts((area + 100) as *const u8, page) },
        &d,
        "the good buffer",
    )?;
    expect_pins(pins, "after the completion")?;
    unmap(area, 3)
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

/// Sets this process's `RLIMIT_MEMLOCK` (soft and hard) to `bytes`.
fn set_memlock(bytes: usize) -> TestResult {
    let lim = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: a valid rlimit.
    ensure!(
        unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) } == 0,
        "setrlimit(RLIMIT_MEMLOCK): {}",
        errname(errno())
    );
    Ok(())
}

/// Posts a 64-byte read into each of `bufs` (one page each) on `fd`; every
/// one must wait (none completes in io_submit). The iocbs are made before
/// the first is submitted: they must stay where they are until reaped (the
/// vector's buffer does not move when the vector does).
fn post_waiting(
    ctx: &AioContext,
    fd: i32,
    bufs: &[usize],
    what: &str,
) -> Result<Vec<Iocb>, String> {
    let mut cbs: Vec<Iocb> = bufs
        .iter()
        .enumerate()
        .map(|(i, &b)| Iocb::pread(fd, b as *mut u8, 64, 0x100 + i as u64))
        .collect();
    for cb in cbs.iter_mut() {
        ctx.submit_one(cb, what)?;
    }
    let ev = ctx.events(0, 0)?;
    ensure!(ev.is_empty(), "{what}: completed in io_submit: {ev:?}");
    Ok(cbs)
}

/// One read more than `RLIMIT_MEMLOCK` allows completes in io_submit with
/// `ENOBUFS`.
fn expect_memlock_full(ctx: &AioContext, fd: i32, buf: usize, what: &str) -> TestResult {
    let mut cb = Iocb::pread(fd, buf as *mut u8, 64, 0xF00);
    ctx.submit_one(&mut cb, what)?;
    let ev = ctx.events(0, 0)?;
    ensure!(
        ev.len() == 1 && ev[0].data == 0xF00 && ev[0].res == neg(libc::ENOBUFS),
        "{what}: {ev:?}, expected ENOBUFS in io_submit (over RLIMIT_MEMLOCK)"
    );
    Ok(())
}

/// The pages a posted read pins are the reader's memory, held as long as
/// it likes: they are charged to the reader's `RLIMIT_MEMLOCK` (the user's
/// `locked_vm`, as io_uring's registered buffers and AF_XDP's umem are),
/// not to the NIC's receive budget. As uid nobody with a 4-page limit:
/// four one-page reads wait, a fifth completes in io_submit with
/// `ENOBUFS`; `GET_LIMITS` rx_mem does not move and another endpoint keeps
/// receiving. The charge goes exactly when the pins go, whichever way:
/// a failed pin (`EFAULT`, with half an iovec or two of a piece's three
/// pages pinned first) charges nothing; after
/// io_cancel (with nothing else happening on that endpoint), a
/// completion, shutdown's end of file, io_destroy and the exit of a
/// process with reads posted, exactly the freed pages fit again and one
/// more does not.
pub fn aio_pins_charged_to_memlock() -> TestResult {
    const LIMIT: usize = 4;
    crate::cases::privilege::as_nobody("posted reads against RLIMIT_MEMLOCK", || {
        let page = page_size();
        set_memlock(LIMIT * page)?;
        let area = map_pages(24, libc::PROT_READ | libc::PROT_WRITE)?;
        let b = |i: usize| area + i * page;
        let (e, f, g) = (open_dev()?, open_dev()?, open_dev()?);
        let (efd, ffd, gfd) = (e.as_raw_fd(), f.as_raw_fd(), g.as_raw_fd());
        let mem0 = limits(&e)?.rx_mem;
        let ctx = AioContext::new(64)?;

        // A failed pin charges nothing: an unmapped buffer, an iovec
        // whose first element pinned a page before the second failed, and
        // one piece of three pages whose first two were pinned before the
        // third (PROT_NONE) failed.
        unmap(b(23), 1)?;
        let mut cb = Iocb::pread(efd, b(23) as *mut u8, 64, 1);
        ctx.submit_one(&mut cb, "an unmapped buffer")?;
        let iov = [
            libc::iovec {
                iov_base: b(22) as *mut _,
                iov_len: 16,
            },
            libc::iovec {
                iov_base: b(23) as *mut _,
                iov_len: 16,
            },
        ];
        let mut cb = Iocb::preadv(efd, &iov, 2);
        ctx.submit_one(&mut cb, "a half-bad iovec")?;
        let part = map_pages(3, libc::PROT_READ | libc::PROT_WRITE)?;
        protect(part + 2 * page, 1, libc::PROT_NONE)?;
        let mut cb = Iocb::pread(efd, (part + 100) as *mut u8, 2 * page, 3);
        ctx.submit_one(&mut cb, "a piece whose third page is PROT_NONE")?;
        let ev = ctx.events(0, 0)?;
        ensure!(
            ev.len() == 3 && ev.iter().all(|e| e.res == neg(libc::EFAULT)),
            "bad buffers: {ev:?}, expected three EFAULT"
        );

        let a = post_waiting(
            &ctx,
            efd,
            &[b(0), b(1), b(2), b(3)],
            "four reads within the limit",
        )?;
        expect_memlock_full(&ctx, ffd, b(4), "a fifth read, on another endpoint")?;
        let mem = limits(&e)?.rx_mem;
        ensure!(
            mem == mem0,
            "GET_LIMITS rx_mem {mem} with four reads posted, {mem0} before"
        );
        send(ffd, b"still receiving", "write to the other endpoint")?;
        expect_datagram(
            ffd,
            b"still receiving",
            "the other endpoint, with four reads posted",
        )?;

        // io_cancel: the page comes back at once, though the cancelled
        // read stays on the idle endpoint's list until it is next met.
        match ctx.cancel(&a[0]) {
            Err(libc::EINPROGRESS) => {}
            r => return Err(format!("io_cancel: {r:?}, expected EINPROGRESS")),
        }
        let ev = ctx.expect_events(1, COMPLETION_MS, "the cancelled read")?;
        ensure!(ev[0].res == neg(libc::ECANCELED), "cancelled read: {ev:?}");
        let _f1 = post_waiting(&ctx, ffd, &[b(5)], "a read after io_cancel")?;
        expect_memlock_full(&ctx, ffd, b(4), "one more after io_cancel")?;

        // A completion.
        send(efd, b"x", "write to the endpoint with reads posted")?;
        let ev = ctx.expect_events(1, COMPLETION_MS, "the completed read")?;
        ensure!(ev[0].res == 1, "completion: {ev:?}, expected 1 byte");
        let _f2 = post_waiting(&ctx, ffd, &[b(6)], "a read after a completion")?;
        expect_memlock_full(&ctx, ffd, b(4), "one more after a completion")?;

        // shutdown(SHUT_RD): both reads left on `e` get end of file.
        e.shutdown(simnic::SHUT_RD)
            .map_err(|x| format!("shutdown: {x}"))?;
        let ev = ctx.expect_events(2, COMPLETION_MS, "the reads at shutdown")?;
        ensure!(
            ev.iter().all(|e| e.res == 0),
            "shutdown: {ev:?}, expected two 0"
        );
        let _f3 = post_waiting(&ctx, ffd, &[b(7), b(8)], "two reads after shutdown")?;
        expect_memlock_full(&ctx, gfd, b(4), "one more after shutdown")?;

        // io_destroy cancels the four on `f`.
        ctx.destroy()?;
        let ctx = AioContext::new(64)?;
        let g4 = post_waiting(
            &ctx,
            gfd,
            &[b(9), b(10), b(11), b(12)],
            "four reads after io_destroy",
        )?;
        expect_memlock_full(&ctx, gfd, b(4), "one more after io_destroy")?;
        ctx.destroy()?;
        drop(g4);

        // A process that exits with four reads posted (its children share
        // the user, and so its locked_vm).
        let ready = Pipe::new()?;
        let go = Pipe::new()?;
        let (rw, gr) = (ready.w.as_raw_fd(), go.r.as_raw_fd());
        let bufs: Vec<usize> = (13..17).map(b).collect();
        let mut child = Child::spawn(move || {
            let Ok(ctx) = AioContext::new(8) else {
                return 2;
            };
            let Ok(cbs) = post_waiting(&ctx, gfd, &bufs, "the child's reads") else {
                return 3;
            };
            if !Report::ready(0).send(rw) {
                return 4;
            }
            let _ = read(gr, &mut [0u8; 1]);
            std::mem::forget(cbs);
            std::mem::forget(ctx);
            0
        })?;
        drop(ready.w);
        drop(go.r);
        Reports::new(ready.r).expect(Kind::Ready, 10 * SEC, "the child posting four reads")?;
        let ctx = AioContext::new(8)?;
        expect_memlock_full(&ctx, gfd, b(4), "a read while the child has four posted")?;
        // A byte, not EOF: the child holds a copy of the write end too.
        okay(
            write(go.w.as_raw_fd(), b"x").map_err(std::io::Error::from_raw_os_error),
            "telling the child to exit",
        )?;
        child.expect_exit0(10 * SEC, "the child exiting with four reads posted")?;
        let _g = post_waiting(
            &ctx,
            gfd,
            &[b(17), b(18), b(19), b(20)],
            "four reads after the child's exit",
        )?;
        expect_memlock_full(&ctx, gfd, b(4), "one more after the child's exit")?;
        let mem = limits(&e)?.rx_mem;
        ensure!(
            mem == mem0,
            "GET_LIMITS rx_mem {mem} at the end, {mem0} before"
        );
        Ok(())
    })
}

/// A scratch ramfs mount, unmounted (and its directory removed) on drop.
struct RamfsMount(std::ffi::CString);

impl RamfsMount {
    fn new(dir: &str) -> Result<Self, String> {
        let _ = std::fs::create_dir(dir);
        let c = std::ffi::CString::new(dir).unwrap();
        // SAFETY: valid NUL-terminated strings; no mount data.
        let r = unsafe {
            libc::mount(
                c"ramfs".as_ptr(),
                c.as_ptr(),
                c"ramfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        ensure!(r == 0, "mount -t ramfs {dir}: {}", errname(errno()));
        Ok(Self(c))
    }
}

impl Drop for RamfsMount {
    fn drop(&mut self) {
        // SAFETY: a valid NUL-terminated path.
        unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
        let _ = std::fs::remove_dir(self.0.to_str().unwrap_or("/nonexistent"));
    }
}

/// Maps the first page of a new one-page file at `path`.
fn map_file(path: &str, flags: i32) -> Result<(std::fs::File, usize), String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| format!("{path}: {e}"))?;
    file.set_len(page_size() as u64)
        .map_err(|e| format!("{path}: set_len: {e}"))?;
    // SAFETY: a fresh mapping of our file, chosen by the kernel.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            page_size(),
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            file.as_raw_fd(),
            0,
        )
    };
    ensure!(p != libc::MAP_FAILED, "mmap {path}: {}", errname(errno()));
    Ok((file, p as usize))
}

/// The file's first `n` bytes, read through the file (not the mapping).
fn file_bytes(file: &std::fs::File, n: usize) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::FileExt;
    let mut v = vec![0u8; n];
    file.read_exact_at(&mut v, 0)
        .map_err(|e| format!("pread: {e}"))?;
    Ok(v)
}

/// A posted read holds its pins for as long as no datagram comes, so they
/// are long-term pins (`FOLL_LONGTERM`): gup refuses a writable shared
/// mapping of a file whose filesystem tracks dirty pages, so the softirq
/// never writes page cache behind the filesystem's back. A `MAP_SHARED`
/// ramfs file (which has `page_mkwrite`) gets `EFAULT` in io_submit,
/// pinning nothing, and its file stays untouched; a `MAP_PRIVATE` mapping
/// of the same file is private memory and is read into (the file still
/// untouched); a `MAP_SHARED` tmpfs file (shmem: no writeback, no dirty
/// tracking) is pinned, and the datagram lands in the file.
pub fn aio_file_backed_buffers() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let ctx = AioContext::new(8)?;
    let pins = pinned_pages()?;
    let mnt = RamfsMount::new("/tmp/simnic-aio-ramfs")?;
    let (rfile, shared) = map_file("/tmp/simnic-aio-ramfs/f", libc::MAP_SHARED)?;
    let mut cb = Iocb::pread(fd, shared as *mut u8, 64, 1);
    ctx.submit_one(&mut cb, "a MAP_SHARED ramfs buffer")?;
    let ev = ctx.events(0, 0)?;
    ensure!(
        ev.len() == 1 && ev[0].res == neg(libc::EFAULT),
        "a MAP_SHARED ramfs buffer: {ev:?}, expected EFAULT in io_submit"
    );
    ensure!(
        pinned_pages()? == pins,
        "pages left pinned by the refused read"
    );

    // SAFETY: a fresh private mapping of the ramfs file, one page.
    let private = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            page_size(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE,
            rfile.as_raw_fd(),
            0,
        )
    };
    ensure!(
        private != libc::MAP_FAILED,
        "mmap MAP_PRIVATE: {}",
        errname(errno())
    );
    let mut cb = Iocb::pread(fd, private as *mut u8, 64, 2);
    ctx.submit_one(&mut cb, "a MAP_PRIVATE ramfs buffer")?;
    send(fd, b"into private", "write")?;
    let ev = ctx.expect_events(1, COMPLETION_MS, "the MAP_PRIVATE read")?;
    ensure!(
        ev[0].data == 2 && ev[0].res == 12,
        "MAP_PRIVATE read: {ev:?}, expected 12 bytes"
    );
    // SAFETY: our private mapping, written by the kernel before the event.
    check_data(
        unsafe { std::slice::from_raw_parts(private as *const u8, 12) },
        b"into private",
        "the private mapping",
    )?;
    ensure!(
        file_bytes(&rfile, 64)?.iter().all(|&x| x == 0),
        "the ramfs file was written through a private mapping or the refused read"
    );

    let (tfile, tshared) = map_file("/tmp/simnic-aio-tmpfs-file", libc::MAP_SHARED)?;
    let mut cb = Iocb::pread(fd, tshared as *mut u8, 64, 3);
    ctx.submit_one(&mut cb, "a MAP_SHARED tmpfs buffer")?;
    ensure!(
        ctx.events(0, 0)?.is_empty(),
        "the MAP_SHARED tmpfs read did not wait"
    );
    ensure!(
        pinned_pages()? == pins + 1,
        "one page pinned for the tmpfs read, {} now",
        pinned_pages()? - pins
    );
    send(fd, b"into the tmpfs file", "write")?;
    let ev = ctx.expect_events(1, COMPLETION_MS, "the MAP_SHARED tmpfs read")?;
    ensure!(
        ev[0].data == 3 && ev[0].res == 19,
        "MAP_SHARED tmpfs read: {ev:?}, expected 19 bytes"
    );
    check_data(
        &file_bytes(&tfile, 19)?,
        b"into the tmpfs file",
        "the tmpfs file, read with pread",
    )?;
    expect_pins(pins, "after the completions")?;
    // SAFETY: our mappings, one page each.
    unsafe {
        libc::munmap(shared as *mut _, page_size());
        libc::munmap(private, page_size());
        libc::munmap(tshared as *mut _, page_size());
    }
    drop((rfile, tfile));
    let _ = std::fs::remove_file("/tmp/simnic-aio-tmpfs-file");
    drop(mnt);
    Ok(())
}

/// Big buffers: a maximum-size datagram (65535 bytes, 17 pages from an
/// offset inside the first) lands whole; a `PREADV` of 40 16-byte pieces
/// on 40 distinct pages pins the first `AIO_READ_MAX_PAGES` (34) and no
/// more, so a 1000-byte datagram fills those 34 pieces (544 bytes, the
/// result) and the rest stay untouched.
pub fn aio_big_datagram_and_many_segments() -> TestResult {
    const MAX_PAGES: usize = 34;
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let ctx = AioContext::new(8)?;
    let pins = pinned_pages()?;
    let page = page_size();
    let big = map_pages(18, libc::PROT_READ | libc::PROT_WRITE)?;
    let at = big + 100;
    let mut cb = Iocb::pread(fd, at as *mut u8, simnic::MAX_DATAGRAM, 1);
    ctx.submit_one(&mut cb, "a 65535-byte read")?;
    ensure!(
        pinned_pages()? == pins + 17,
        "{} pages pinned for 65535 bytes at offset 100, expected 17",
        pinned_pages()? - pins
    );
    let d = pattern(7, simnic::MAX_DATAGRAM);
    send(fd, &d, "a 65535-byte datagram")?;
    let ev = ctx.expect_events(1, COMPLETION_MS, "the big read")?;
    ensure!(
        ev[0].res == d.len() as i64,
        "the big read: {}",
        res_name(ev[0].res)
    );
    // SAFETY: inside our mapping.
    check_data(
        unsafe { std::slice::from_raw_parts(at as *const u8, d.len()) },
        &d,
        "the big read",
    )?;
    expect_pins(pins, "after the big read")?;

    let area = map_pages(40, libc::PROT_READ | libc::PROT_WRITE)?;
    let iov: Vec<libc::iovec> = (0..40)
        .map(|i| libc::iovec {
            iov_base: (area + i * page + 8) as *mut _,
            iov_len: 16,
        })
        .collect();
    let mut cb = Iocb::preadv(fd, &iov, 2);
    ctx.submit_one(&mut cb, "a 40-piece PREADV")?;
    ensure!(
        pinned_pages()? == pins + MAX_PAGES as i64,
        "{} pages pinned for 40 pieces, expected {MAX_PAGES}",
        pinned_pages()? - pins
    );
    let d = pattern(8, 1000);
    send(fd, &d, "a 1000-byte datagram")?;
    let ev = ctx.expect_events(1, COMPLETION_MS, "the 40-piece read")?;
    ensure!(
        ev[0].res == 16 * MAX_PAGES as i64,
        "the 40-piece read: {}, expected {} (the pinned pieces)",
        res_name(ev[0].res),
        16 * MAX_PAGES
    );
    let mut got = Vec::new();
    for v in &iov {
        // SAFETY: inside our mapping.
        got.extend_from_slice(unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, 16) });
    }
    check_data(
        &got[..16 * MAX_PAGES],
        &d[..16 * MAX_PAGES],
        "the pinned pieces",
    )?;
    ensure!(
        got[16 * MAX_PAGES..].iter().all(|&x| x == 0),
        "pieces past the pinned ones were written"
    );
    expect_pins(pins, "after the 40-piece read")?;
    unmap(big, 18)?;
    unmap(area, 40)
}

/// AIO reads and the mmap ring: setting the ring up ends the reads posted
/// until then with `EINVAL` (as `read()` on a ring endpoint), pins given
/// back; a read submitted on a ring endpoint fails with `EINVAL` in
/// io_submit; datagrams then go to the ring.
pub fn aio_reads_and_mmap_ring() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let ctx = AioContext::new(8)?;
    let pins = pinned_pages()?;
    let area = map_pages(2, libc::PROT_READ | libc::PROT_WRITE)?;
    let _cbs = post_waiting(
        &ctx,
        fd,
        &[area, area + page_size()],
        "two reads before the ring",
    )?;
    ensure!(
        pinned_pages()? == pins + 2,
        "two reads, {} pages pinned",
        pinned_pages()? - pins
    );
    okay(
        ep.rx_ring_setup(4, 2048),
        "SIMNIC_IOC_RX_RING_SETUP with two reads posted",
    )?;
    let ev = ctx.expect_events(2, COMPLETION_MS, "the reads at the ring's setup")?;
    ensure!(
        ev.iter().all(|e| e.res == neg(libc::EINVAL)),
        "reads at the ring's setup: {ev:?}, expected two EINVAL"
    );
    expect_pins(pins, "after the ring's setup")?;
    let mut cb = Iocb::pread(fd, area as *mut u8, 64, 9);
    ctx.submit_one(&mut cb, "a read on a ring endpoint")?;
    let ev = ctx.events(0, 0)?;
    ensure!(
        ev.len() == 1 && ev[0].res == neg(libc::EINVAL),
        "a read on a ring endpoint: {ev:?}, expected EINVAL in io_submit"
    );
    ensure!(
        pinned_pages()? == pins,
        "pages left pinned by the refused read"
    );
    unmap(area, 2)
}

/// A datagram a reader took and gave back (its copy failed) while an AIO
/// read was being posted goes to that read, not back to the receive queue
/// (where the posted read would never see it). Per round: a datagram is
/// queued, a thread hammers `preadv2(RWF_NOWAIT)` into an unmapped buffer
/// (each call takes the datagram off the queue, faults, and gives it
/// back), and an AIO read is submitted meanwhile: it either finds the
/// datagram queued (completed in io_submit) or is posted while the
/// datagram is out, and the give-back must complete it. Every read gets
/// its round's datagram, and nothing is left queued.
pub fn aio_given_back_datagram_goes_to_posted_read() -> TestResult {
    const ROUNDS: u32 = 200;
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let ctx = AioContext::new(8)?;
    let pins = pinned_pages()?;
    // Inaccessible but reserved: an unmapped hole could be reused (by the
    // thread's stack, say), and a copy into it would then succeed.
    let bad = map_pages(1, libc::PROT_NONE)?;
    let active = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let faults = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let copied = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (a, s, fl, cp) = (active.clone(), stop.clone(), faults.clone(), copied.clone());
    let t = std::thread::spawn(move || {
        let iov = libc::iovec {
            iov_base: bad as *mut _,
            iov_len: 64,
        };
        while !s.load(Ordering::Acquire) {
            if !a.load(Ordering::Acquire) {
                std::hint::spin_loop();
                continue;
            }
            // SAFETY: one iovec describing an unmapped buffer: the kernel
            // faults on it and fails with EFAULT; nothing is written here.
            let r = unsafe { libc::preadv2(fd, &iov, 1, -1, RWF_NOWAIT) };
            if r < 0 && errno() == libc::EFAULT {
                fl.fetch_add(1, Ordering::Relaxed);
            } else if r >= 0 {
                cp.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let mut in_submit = 0;
    let mut run = || -> TestResult {
        for i in 0..ROUNDS {
            let d = pattern(i, 24);
            send(fd, &d, &format!("round {i}: write"))?;
            wait_queued(&ep, 1, &format!("round {i}: the datagram"))?;
            active.store(true, Ordering::Release);
            let until = Instant::now() + Duration::from_micros((i % 10) as u64 * 50);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            let mut buf = [0u8; 64];
            let mut cb = Iocb::pread(fd, buf.as_mut_ptr(), buf.len(), i as u64);
            ctx.submit_one(&mut cb, &format!("round {i}: the AIO read"))?;
            let mut ev = ctx.events(0, 0)?;
            active.store(false, Ordering::Release);
            let n = copied.load(Ordering::Relaxed);
            ensure!(
                n == 0,
                "round {i}: {n} reads into the inaccessible buffer succeeded"
            );
            if ev.is_empty() {
                ev = ctx.expect_events(1, COMPLETION_MS, &format!("round {i}: the posted read"))?;
            } else {
                // Completed in io_submit (or posted and completed already).
                in_submit += 1;
            }
            ensure!(
                ev[0].data == i as u64 && ev[0].res == 24,
                "round {i}: {:?}, expected the round's 24-byte datagram",
                ev[0]
            );
            // SAFETY: written by the kernel before the event.
            let got = unsafe { std::ptr::read_volatile(&buf) };
            check_data(&got[..24], &d, &format!("round {i}: the posted read"))?;
        }
        Ok(())
    };
    let r = run();
    stop.store(true, Ordering::Release);
    let _ = t.join();
    r?;
    let s = ep_stats(&ep)?;
    ensure!(s.queued == 0, "datagrams left queued: {s:?}");
    expect_pins(pins, "after the rounds")?;
    println!(
        "# {ROUNDS} rounds: {in_submit} completed in io_submit, {} posted; {} faulted copies given back",
        ROUNDS - in_submit,
        faults.load(Ordering::Relaxed)
    );
    Ok(())
}

/// io_cancel racing io_submit: another thread calls io_cancel on the iocb
/// while it is being submitted, so the cancel may land between the cancel
/// function's registration and the read's posting (the driver then meets
/// an already cancelled read while posting it); every other round a
/// datagram is sent just before io_submit, so it may arrive in the same
/// window (a cancelled read that took it gives it back). Every read
/// completes exactly once (`ECANCELED`, or a datagram); every datagram is
/// delivered exactly once, to a read or to the queue; nothing stays pinned.
pub fn aio_cancel_races_submit() -> TestResult {
    const ROUNDS: usize = 300;
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let sender = open_dev()?;
    sender
        .connect(port_of(&ep)?)
        .map_err(|e| format!("connect: {e}"))?;
    let ctx = AioContext::new(8)?;
    let ctx_id = ctx.0;
    let pins = pinned_pages()?;
    // Every round's iocb and buffer live (unmoved) for the whole test, so
    // the canceller may aim at a stale one: the kernel then finds nothing.
    let mut bufs = vec![[0u8; 16]; ROUNDS];
    let mut cbs: Vec<Iocb> = bufs
        .iter_mut()
        .enumerate()
        .map(|(i, b)| Iocb::pread(fd, b.as_mut_ptr(), 16, i as u64))
        .collect();
    let target = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (tg, s) = (target.clone(), stop.clone());
    let canceller = std::thread::spawn(move || {
        let mut hits = 0u32;
        while !s.load(Ordering::Acquire) {
            let p = tg.load(Ordering::Acquire);
            if p == 0 {
                std::hint::spin_loop();
                continue;
            }
            // `p` is one of the iocbs, alive until this thread is joined,
            // and being submitted by the other thread: only its address is
            // handed over (the kernel reads the iocb itself).
            let r = simnic::aio_abi::io_cancel(ctx_id, p as *const Iocb);
            if r.is_err_and(|e| e.raw_os_error() == Some(libc::EINPROGRESS)) {
                hits += 1;
                let _ = tg.compare_exchange(p, 0, Ordering::AcqRel, Ordering::Acquire);
            }
        }
        hits
    });
    let (mut to_reads, mut to_queue, mut cancelled, mut sent) = (0u64, 0u64, 0u32, 0u64);
    let rx0 = ep_stats(&ep)?.rx_packets;
    let mut run = || -> TestResult {
        for (i, cb) in cbs.iter_mut().enumerate() {
            let cb: *mut Iocb = cb;
            target.store(cb as usize, Ordering::Release);
            if i % 2 == 0 {
                okay(
                    write(sender.as_raw_fd(), &(i as u32).to_le_bytes())
                        .map_err(std::io::Error::from_raw_os_error),
                    "write",
                )?;
                sent += 1;
            }
            // SAFETY: `cb` points into `cbs`, not otherwise borrowed now.
            ctx.submit_one(unsafe { &mut *cb }, &format!("round {i}"))?;
            if i % 2 == 1 {
                okay(
                    write(sender.as_raw_fd(), &(i as u32).to_le_bytes())
                        .map_err(std::io::Error::from_raw_os_error),
                    "write",
                )?;
                sent += 1;
            }
            let ev = ctx.expect_events(1, COMPLETION_MS, &format!("round {i}"))?;
            target.store(0, Ordering::Release);
            ensure!(
                ev[0].data == i as u64,
                "round {i}: completion for {}",
                ev[0].data
            );
            match ev[0].res {
                r if r == neg(libc::ECANCELED) => cancelled += 1,
                4 => to_reads += 1,
                r => return Err(format!("round {i}: completed with {}", res_name(r))),
            }
            // Every datagram sent so far has arrived (to a read or the
            // queue) before the next round: drain the queue.
            let deadline = Instant::now() + 10 * SEC;
            while ep_stats(&ep)?.rx_packets - rx0 < sent {
                ensure!(
                    Instant::now() < deadline,
                    "round {i}: {sent} datagrams sent, not all arrived"
                );
                sleep_ms(1);
            }
            let mut q = [0u8; 16];
            while wait_readable(fd, Duration::ZERO)? {
                let n = read(fd, &mut q).map_err(|e| format!("round {i}: read: {}", errname(e)))?;
                ensure!(n == 4, "round {i}: a queued datagram of {n} bytes");
                to_queue += 1;
            }
            ensure!(
                ctx.events(0, 0)?.is_empty(),
                "round {i}: a second completion"
            );
        }
        Ok(())
    };
    let r = run();
    stop.store(true, Ordering::Release);
    let hits = canceller
        .join()
        .map_err(|_| "canceller panicked".to_string())?;
    r?;
    ensure!(
        to_reads + to_queue == sent,
        "{sent} datagrams sent, {to_reads} to reads and {to_queue} to the queue"
    );
    expect_pins(pins, "after the rounds")?;
    println!(
        "# {ROUNDS} rounds: {cancelled} cancelled ({hits} io_cancel EINPROGRESS), {to_reads} datagrams to reads, {to_queue} to the queue"
    );
    ensure!(cancelled > 0, "io_cancel never won during io_submit");
    Ok(())
}
