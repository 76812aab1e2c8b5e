//! The mmap receive ring (`SIMNIC_IOC_RX_RING_SETUP`, `mmap`,
//! Documentation/models/mmap.rst): datagrams arrive in memory shared with
//! the process, in order, with `poll` waking the consumer; slots come back
//! when the process advances its consumer index; what the process writes
//! into the shared memory (garbage indices, scribbles everywhere) gets
//! errors and counters, never a kernel splat or a write outside the ring;
//! setup and `mmap` refuse bad sizes, offsets and private mappings with
//! clear errnos; `munmap`, `close` and `fork` with the ring mapped are safe
//! (the unload test is in `module.rs`); the memory is bounded per user by
//! `RLIMIT_MEMLOCK` and NIC-wide by the receive budget.

use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use simnic::{
    Endpoint, Limits, RxRing, RxRingReq, RxRingStats, RCVBUF_MIN, RX_RING_MAX_SLOTS,
    RX_RING_MAX_SLOT_SIZE, RX_RING_OFF_CONSUMER, RX_RING_OFF_PRODUCER, RX_RING_OFF_STATUS,
    RX_RING_STATUS_BAD_INDEX,
};

use crate::cases::privilege::as_nobody;
use crate::net::*;
use crate::sys::*;

/// `SIMNIC_MSG_TRUNC` in a descriptor's flags.
const TRUNC: u32 = 0x20;

fn ring_stats(ep: &Endpoint) -> Result<RxRingStats, String> {
    okay(ep.rx_ring_stats(), "RX_RING_STATS")
}

/// Sets up a ring of `slots` x `slot_size` on `ep` and maps it.
fn setup_map(ep: &Endpoint, slots: u32, slot_size: u32) -> Result<RxRing, String> {
    let layout = okay(
        ep.rx_ring_setup(slots, slot_size),
        &format!("RX_RING_SETUP({slots} x {slot_size})"),
    )?;
    okay(RxRing::map(ep, &layout), "mmap of the ring")
}

/// A fresh nonblocking endpoint, its port, and a ring of `slots` x
/// `slot_size` set up on it and mapped ([`setup_map`]).
fn ring_endpoint(slots: u32, slot_size: u32) -> Result<(Endpoint, u32, RxRing), String> {
    let ep = open_dev_nonblocking()?;
    let port = port_of(&ep)?;
    let ring = setup_map(&ep, slots, slot_size)?;
    Ok((ep, port, ring))
}

/// `mmap(2)` of `len` bytes of `fd` at `offset`, placed by the kernel:
/// the address, or the errno.
fn mmap_fd(fd: RawFd, len: usize, prot: i32, flags: i32, offset: i64) -> Result<usize, i32> {
    // SAFETY: a new mapping the kernel places, over nothing of ours.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd, offset) };
    if p == libc::MAP_FAILED {
        Err(errno())
    } else {
        Ok(p as usize)
    }
}

/// The producer index in a ring mapping at `base` made without [`RxRing`]
/// (an acquire load, as `RxRing::producer` does).
///
/// # Safety
/// `base` must be the start of a live mapping of a ring.
unsafe fn producer_at(base: usize) -> u32 {
    // SAFETY: the caller's: the word is inside a live mapping, and aligned
    // (a page boundary plus a multiple of 4).
    unsafe { AtomicU32::from_ptr((base + RX_RING_OFF_PRODUCER as usize) as *mut u32) }
        .load(Ordering::Acquire)
}

/// Lowers the NIC's receive budget (`SET_LIMITS` on `ctl`) to 32 KiB above
/// what is in use now: a ring of 40 KiB no longer fits, one of 16 KiB does.
fn budget_32k_above_use(ctl: &Endpoint) -> TestResult {
    let rx_mem0 = limits(ctl)?.rx_mem;
    okay(
        ctl.set_limits(&Limits {
            rx_mem_max: (rx_mem0 as u32 + (32 << 10)).max(RCVBUF_MIN),
            ..DEFAULT_LIMITS
        }),
        "SET_LIMITS rx_mem_max 32 KiB above the current use",
    )
}

/// Takes the next frame off the ring and checks it is `want` from
/// `src_port`; advances past it.
fn expect_frame(ring: &mut RxRing, want: &[u8], src_port: u32, what: &str) -> TestResult {
    let f = ring.next_frame().ok_or_else(|| {
        format!(
            "{what}: ring empty (producer {}, consumer {})",
            ring.producer(),
            ring.consumer()
        )
    })?;
    ensure!(
        f.desc.dgram_len as usize == want.len() && f.desc.src_port == src_port && f.desc.flags == 0,
        "{what}: descriptor {:?} at index {}, expected {} bytes from port {src_port}",
        f.desc,
        f.index,
        want.len()
    );
    check_data(&f.payload.to_vec(), want, what)?;
    ring.advance(1);
    Ok(())
}

/// Checks ring counters by name.
fn expect_ring(s: &RxRingStats, want: &[(&str, u64)], what: &str) -> TestResult {
    let fields = s.fields();
    let bad: Vec<String> = want
        .iter()
        .filter_map(|&(name, v)| {
            let got = fields.iter().find(|(n, _)| *n == name).map(|&(_, g)| g);
            (got != Some(v)).then(|| {
                format!(
                    "{name} {} (expected {v})",
                    got.map_or("?".into(), |g| g.to_string())
                )
            })
        })
        .collect();
    ensure!(
        bad.is_empty(),
        "{what}: ring stats {}; all: {s:?}",
        bad.join(", ")
    );
    Ok(())
}

/// Datagrams of several sizes (empty, one byte, a slot's worth) sent to
/// the endpoint's own port arrive in the ring's slots in order, each with
/// its descriptor (length, sender's port), the producer index published,
/// and no read(): the endpoint's receive queue stays empty and its
/// counters count them. `POLLIN` while slots are unconsumed, not after.
pub fn mmap_ring_frames_in_order() -> TestResult {
    let (ep, port, mut ring) = ring_endpoint(8, 256)?;
    ensure!(
        ring.producer() == 0 && ring.consumer() == 0,
        "fresh ring: producer {}",
        ring.producer()
    );
    expect_poll(
        ep.as_raw_fd(),
        libc::POLLOUT | libc::POLLWRNORM,
        "empty ring",
    )?;
    let before = nic_stats(&ep)?;
    let sent: Vec<Vec<u8>> = [0usize, 1, 64, 200, 256, 17]
        .iter()
        .enumerate()
        .map(|(i, &n)| pattern(i as u32, n))
        .collect();
    let mut tx = Paced::new(&ep)?;
    for d in &sent {
        tx.send(d, &format!("write of {} bytes", d.len()))?;
    }
    settle(&ep)?;
    ensure!(
        ring.pending() == 6,
        "{} slots filled, expected 6",
        ring.pending()
    );
    expect_poll(
        ep.as_raw_fd(),
        libc::POLLIN | libc::POLLRDNORM | libc::POLLOUT | libc::POLLWRNORM,
        "6 in the ring",
    )?;
    for (i, d) in sent.iter().enumerate() {
        expect_frame(&mut ring, d, port, &format!("datagram {i}"))?;
    }
    ensure!(ring.next_frame().is_none(), "a 7th frame in the ring");
    expect_poll(
        ep.as_raw_fd(),
        libc::POLLOUT | libc::POLLWRNORM,
        "all consumed",
    )?;
    let s = ring_stats(&ep)?;
    expect_ring(
        &s,
        &[
            ("producer", 6),
            ("consumer", 6),
            ("delivered", 6),
            ("ring_full", 0),
            ("bad_index", 0),
        ],
        "after 6",
    )?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 0), ("rx_packets", 6), ("rx_drops", 0)],
        "after 6",
    )?;
    let d = nic_delta(&before, &nic_stats(&ep)?);
    expect_nic(
        &d,
        &[("rx_packets", 6), ("rx_queue_full", 0)],
        "NIC over the 6",
    )?;
    Ok(())
}

/// A thread asleep in poll() on the ring endpoint is woken by the arrival
/// (data_ready), and so is one in epoll_wait; after the consumer returned
/// the slot, neither reports input any more.
pub fn mmap_ring_poll_wakes() -> TestResult {
    let (ep, port, mut ring) = ring_endpoint(4, 128)?;
    let fd = ep.as_raw_fd();
    let epoll = epoll_with(fd, libc::EPOLLIN as u32, 7)?;
    let epfd = epoll.as_raw_fd();
    let woke = Arc::new(AtomicU32::new(0));
    let poller = {
        let woke = woke.clone();
        std::thread::spawn(move || -> Result<(i32, i16), String> {
            let r = poll_one(fd, libc::POLLIN, 10_000);
            woke.fetch_add(1, Ordering::SeqCst);
            r
        })
    };
    let waiter = {
        let woke = woke.clone();
        std::thread::spawn(move || -> i32 {
            let mut out = libc::epoll_event { events: 0, u64: 0 };
            // SAFETY: one live event.
            let n = unsafe { libc::epoll_wait(epfd, &mut out, 1, 10_000) };
            woke.fetch_add(1, Ordering::SeqCst);
            let (data, events) = (out.u64, out.events);
            if n == 1 && data == 7 && events & libc::EPOLLIN as u32 != 0 {
                1
            } else {
                -1
            }
        })
    };
    sleep_ms(300);
    ensure!(
        woke.load(Ordering::SeqCst) == 0,
        "a waiter returned before anything was sent"
    );
    let msg = pattern(42, 48);
    send(fd, &msg, "the wake-up datagram")?;
    let (r, rev) = poller
        .join()
        .map_err(|_| "poll thread panicked".to_string())??;
    ensure!(
        r == 1 && rev & libc::POLLIN != 0,
        "poll returned {r} with {}",
        poll_names(rev)
    );
    let n = waiter
        .join()
        .map_err(|_| "epoll thread panicked".to_string())?;
    ensure!(
        n == 1,
        "epoll_wait did not report EPOLLIN for the ring endpoint"
    );
    ensure!(ep_stats(&ep)?.wakeups >= 1, "no wake-up counted");
    expect_frame(&mut ring, &msg, port, "the wake-up datagram")?;
    expect_poll(
        fd,
        libc::POLLOUT | libc::POLLWRNORM,
        "after returning the slot",
    )?;
    let mut out = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: one live event.
    let n = unsafe { libc::epoll_wait(epfd, &mut out, 1, 0) };
    drop(epoll);
    let events = out.events;
    ensure!(
        n == 0,
        "epoll_wait still reports {events:#x} after the slot was returned"
    );
    Ok(())
}

/// A ring of 4 slots nobody consumes takes 4 datagrams and drops the rest,
/// counted (ring_full, the endpoint's rx_drops, the NIC's rx_queue_full).
/// Returning two slots lets exactly two more in, in the freed slots, in
/// order.
pub fn mmap_ring_full_then_slots_returned() -> TestResult {
    let (ep, port, mut ring) = ring_endpoint(4, 128)?;
    let before = nic_stats(&ep)?;
    let mut tx = Paced::new(&ep)?;
    for i in 0..6 {
        tx.send(&pattern(i, 32), &format!("datagram {i}"))?;
    }
    settle(&ep)?;
    expect_ring(
        &ring_stats(&ep)?,
        &[("delivered", 4), ("ring_full", 2), ("producer", 4)],
        "6 into 4 slots",
    )?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("rx_packets", 4), ("rx_drops", 2)],
        "6 into 4 slots",
    )?;
    expect_nic(
        &nic_delta(&before, &nic_stats(&ep)?),
        &[("rx_packets", 4), ("rx_queue_full", 2)],
        "6 into 4 slots",
    )?;
    expect_frame(&mut ring, &pattern(0, 32), port, "datagram 0")?;
    expect_frame(&mut ring, &pattern(1, 32), port, "datagram 1")?;
    for i in 6..9 {
        tx.send(&pattern(i, 32), &format!("datagram {i}"))?;
    }
    settle(&ep)?;
    expect_ring(
        &ring_stats(&ep)?,
        &[
            ("delivered", 6),
            ("ring_full", 3),
            ("producer", 6),
            ("consumer", 2),
        ],
        "3 more, 2 slots free",
    )?;
    for i in [2, 3, 6, 7] {
        expect_frame(&mut ring, &pattern(i, 32), port, &format!("datagram {i}"))?;
    }
    ensure!(ring.next_frame().is_none(), "datagram 8 got in");
    Ok(())
}

/// Consumer indices the kernel must not believe: beyond the producer,
/// behind the last valid one, garbage. Each drops what arrives while it
/// stands (bad_index, not a write into the ring: the descriptor of the next
/// slot and the producer stay as they were), sets the status word and makes
/// poll report POLLERR; a valid index again resumes delivery into the right
/// slot. Scribbling over the producer and status words and the descriptors
/// changes nothing the kernel relies on.
pub fn mmap_ring_bad_consumer_index() -> TestResult {
    let (ep, port, mut ring) = ring_endpoint(4, 128)?;
    let fd = ep.as_raw_fd();
    let mut tx = Paced::new(&ep)?;
    tx.send(&pattern(0, 20), "datagram 0")?;
    tx.send(&pattern(1, 20), "datagram 1")?;
    settle(&ep)?;
    ensure!(ring.producer() == 2, "producer {} after 2", ring.producer());
    expect_frame(&mut ring, &pattern(0, 20), port, "datagram 0")?;
    // Kernel's consumer is now 0 or 1; shared memory says 1.
    let desc2 = ring.layout().desc_at(2);
    let mut bad_count = 0;
    for (i, bad) in [
        2 + 5,
        u32::MAX,
        0xdead_beef,
        0,
        1u32.wrapping_sub(1 << 31),
        3,
    ]
    .into_iter()
    .enumerate()
    {
        // 0 is behind 1 only once the kernel has seen 1: poll makes it look.
        ring.write_consumer_raw(1);
        expect_poll(
            fd,
            libc::POLLIN | libc::POLLRDNORM | libc::POLLOUT | libc::POLLWRNORM,
            "valid consumer 1",
        )?;
        ring.write_consumer_raw(bad);
        let what = format!("consumer {bad:#x}");
        let (_, rev) = poll_one(fd, POLL_ALL, 0)?;
        ensure!(
            rev & libc::POLLERR != 0 && rev & libc::POLLIN == 0,
            "{what}: poll reports {}",
            poll_names(rev)
        );
        tx.send(&pattern(10 + i as u32, 20), &what)?;
        settle(&ep)?;
        bad_count += 1;
        let s = ring_stats(&ep)?;
        expect_ring(
            &s,
            &[("producer", 2), ("delivered", 2), ("bad_index", bad_count)],
            &what,
        )?;
        ensure!(
            s.status == RX_RING_STATUS_BAD_INDEX && ring.status() == RX_RING_STATUS_BAD_INDEX,
            "{what}: status {} in the stats, {} in shared memory",
            s.status,
            ring.status()
        );
        ensure!(
            ring.producer() == 2,
            "{what}: shared producer {}",
            ring.producer()
        );
        // SAFETY: loads only, of descriptor words, which nothing in this
        // process reads or writes with accesses of another size.
        let raw: Vec<u32> = (0..4)
            .map(|i| unsafe { ring.word(desc2 + 4 * i) }.load(Ordering::Relaxed))
            .collect();
        ensure!(
            raw == [0; 4],
            "{what}: descriptor of slot 2 written: {raw:?}"
        );
    }
    // Scribble over what only the kernel writes.
    // SAFETY: header words and a descriptor word, which this process only
    // ever accesses as `AtomicU32`; no frame is borrowed.
    unsafe {
        ring.word(RX_RING_OFF_PRODUCER as usize)
            .store(1000, Ordering::Relaxed);
        ring.word(RX_RING_OFF_STATUS as usize)
            .store(0xffff_ffff, Ordering::Relaxed);
        ring.word(desc2).store(0xffff_ffff, Ordering::Relaxed);
    }
    // Valid again (the process's own copy is 1): delivery resumes in slot 2.
    ring.write_consumer_raw(ring.consumer());
    tx.send(&pattern(99, 20), "after the bad indices")?;
    settle(&ep)?;
    let s = ring_stats(&ep)?;
    expect_ring(
        &s,
        &[
            ("producer", 3),
            ("delivered", 3),
            ("bad_index", bad_count),
            ("status", 0),
        ],
        "valid again",
    )?;
    ensure!(
        ring.status() == 0,
        "status word {:#x} after a valid index",
        ring.status()
    );
    ensure!(
        ring.producer() == 3,
        "producer word {} (the kernel's is 3)",
        ring.producer()
    );
    expect_frame(&mut ring, &pattern(1, 20), port, "datagram 1")?;
    expect_frame(&mut ring, &pattern(99, 20), port, "the datagram after")?;
    expect_poll(fd, libc::POLLOUT | libc::POLLWRNORM, "all consumed")?;
    Ok(())
}

/// What the setup refuses, with which errno: bad geometries and nonzero
/// flags (EINVAL), a second ring (EBUSY), a bad argument pointer (EFAULT).
/// No ring: all-zero stats. With a ring, read() and RECVFROM fail with
/// EINVAL instead of waiting for datagrams that go elsewhere.
pub fn mmap_ring_setup_errors() -> TestResult {
    let ep = open_dev_nonblocking()?;
    expect_ring(
        &ring_stats(&ep)?,
        &[("slots", 0), ("map_len", 0), ("delivered", 0)],
        "no ring",
    )?;
    let bad = [
        (0, 256),
        (3, 256),
        (RX_RING_MAX_SLOTS * 2, 64),
        (u32::MAX, 256),
        (8, 0),
        (8, 63),
        (8, 100),
        (8, RX_RING_MAX_SLOT_SIZE * 2),
        (8, u32::MAX),
        (RX_RING_MAX_SLOTS, RX_RING_MAX_SLOT_SIZE),
    ];
    for (slots, size) in bad {
        expect_io_errno(
            ep.rx_ring_setup(slots, size),
            libc::EINVAL,
            &format!("setup {slots} x {size}"),
        )?;
    }
    for req in [
        RxRingReq {
            slots: 8,
            slot_size: 256,
            flags: 1,
            ..Default::default()
        },
        RxRingReq {
            slots: 8,
            slot_size: 256,
            reserved: 1,
            ..Default::default()
        },
    ] {
        expect_io_errno(
            ep.rx_ring_setup_raw(req),
            libc::EINVAL,
            &format!("setup {req:?}"),
        )?;
    }
    // SAFETY: an address the kernel checks and refuses.
    let r = unsafe {
        libc::ioctl(
            ep.as_raw_fd(),
            simnic::uapi::SIMNIC_IOC_RX_RING_SETUP as _,
            8usize,
        )
    };
    ensure!(
        r == -1 && errno() == libc::EFAULT,
        "setup with a bad pointer: {r}, {}",
        errname(errno())
    );
    expect_ring(&ring_stats(&ep)?, &[("slots", 0)], "after the refusals")?;
    let layout = okay(ep.rx_ring_setup(8, 256), "setup 8 x 256")?;
    let want = RxRingReq::layout(8, 256).unwrap();
    ensure!(
        layout == want,
        "setup returned {layout:?}, expected {want:?}"
    );
    expect_io_errno(ep.rx_ring_setup(8, 256), libc::EBUSY, "a second setup")?;
    expect_io_errno(
        ep.rx_ring_setup(16, 512),
        libc::EBUSY,
        "a second setup of another size",
    )?;
    expect_ring(
        &ring_stats(&ep)?,
        &[("slots", 8), ("slot_size", 256), ("map_len", want.map_len)],
        "with a ring",
    )?;
    let mut buf = [0u8; 64];
    expect_errno(
        read(ep.as_raw_fd(), &mut buf),
        libc::EINVAL,
        "read() on a ring endpoint",
    )?;
    expect_io_errno(
        ep.recv_from(&mut buf, true),
        libc::EINVAL,
        "RECVFROM on a ring endpoint",
    )?;
    // A blocking endpoint too: read() must not sleep.
    let blocking = open_dev()?;
    okay(
        blocking.rx_ring_setup(1, 64),
        "setup on a blocking endpoint",
    )?;
    let r = call_without_blocking_read(&blocking)?;
    expect_errno(r, libc::EINVAL, "blocking read() on a ring endpoint")?;
    // A pending error (ECONNREFUSED from a send to a port nobody has) is
    // still reported by read(), once, which clears POLLERR.
    let gone = port_of(&open_dev_nonblocking()?)?;
    okay(ep.connect(gone), "connect to an unbound port")?;
    send(ep.as_raw_fd(), b"x", "send to the unbound port")?;
    settle(&ep)?;
    let (_, rev) = poll_one(ep.as_raw_fd(), POLL_ALL, 0)?;
    ensure!(
        rev & libc::POLLERR != 0,
        "no POLLERR with ECONNREFUSED pending: {}",
        poll_names(rev)
    );
    expect_errno(
        read(ep.as_raw_fd(), &mut buf),
        libc::ECONNREFUSED,
        "read() with an error pending",
    )?;
    expect_errno(
        read(ep.as_raw_fd(), &mut buf),
        libc::EINVAL,
        "read() after the error",
    )?;
    let (_, rev) = poll_one(ep.as_raw_fd(), POLL_ALL, 0)?;
    ensure!(
        rev & libc::POLLERR == 0,
        "POLLERR after the error was read: {}",
        poll_names(rev)
    );
    Ok(())
}

fn call_without_blocking_read(ep: &Endpoint) -> Result<SysResult, String> {
    let fd = ep.as_raw_fd();
    let t = std::thread::spawn(move || {
        let mut b = [0u8; 8];
        read(fd, &mut b)
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while !t.is_finished() {
        ensure!(
            Instant::now() < deadline,
            "blocking read() on a ring endpoint still sleeps after 5 s"
        );
        sleep_ms(10);
    }
    t.join().map_err(|_| "reader panicked".to_string())
}

/// mmap(2) of the endpoint: `EINVAL` without a ring, for a length other
/// than the ring's, an offset other than 0, a private mapping; `EPERM` for
/// an executable one. Two good mappings see the same ring; `mremap` cannot
/// grow one.
pub fn mmap_bad_offset_length() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let pg = page_size();
    let map = |len: usize, prot: i32, flags: i32, off: i64| -> Result<(usize, usize), i32> {
        mmap_fd(fd, len, prot, flags, off).map(|a| (a, len))
    };
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let expect = |r: Result<(usize, usize), i32>, want: i32, what: &str| -> TestResult {
        match r {
            Err(e) if e == want => Ok(()),
            Err(e) => Err(format!(
                "{what}: mmap failed with {}, expected {}",
                errname(e),
                errname(want)
            )),
            Ok((a, len)) => {
                // SAFETY: the mapping just made, all of it.
                unsafe { libc::munmap(a as _, len) };
                Err(format!(
                    "{what}: mmap succeeded, expected {}",
                    errname(want)
                ))
            }
        }
    };
    expect(
        map(pg, rw, libc::MAP_SHARED, 0),
        libc::EINVAL,
        "before setup",
    )?;
    let layout = okay(ep.rx_ring_setup(8, 512), "setup")?;
    let len = layout.map_len as usize;
    expect(
        map(len - pg, rw, libc::MAP_SHARED, 0),
        libc::EINVAL,
        "one page short",
    )?;
    expect(
        map(len + pg, rw, libc::MAP_SHARED, 0),
        libc::EINVAL,
        "one page long",
    )?;
    expect(
        map(len, rw, libc::MAP_SHARED, pg as i64),
        libc::EINVAL,
        "at offset one page",
    )?;
    expect(
        map(len, rw, libc::MAP_SHARED, 1 << 40),
        libc::EINVAL,
        "at a huge offset",
    )?;
    expect(
        map(64 << 20, rw, libc::MAP_SHARED, 0),
        libc::EINVAL,
        "64 MiB",
    )?;
    expect(
        map(len, rw, libc::MAP_PRIVATE, 0),
        libc::EINVAL,
        "MAP_PRIVATE",
    )?;
    expect(
        map(len, rw | libc::PROT_EXEC, libc::MAP_SHARED, 0),
        libc::EPERM,
        "PROT_EXEC",
    )?;
    let (a, _) =
        map(len, rw, libc::MAP_SHARED, 0).map_err(|e| format!("good mmap: {}", errname(e)))?;
    let (b, _) = map(len, libc::PROT_READ, libc::MAP_SHARED, 0)
        .map_err(|e| format!("second mmap: {}", errname(e)))?;
    // mprotect cannot make it executable later.
    // SAFETY: our mapping.
    let r = unsafe { libc::mprotect(a as _, len, rw | libc::PROT_EXEC) };
    ensure!(
        r != 0 && errno() == libc::EACCES,
        "mprotect(PROT_EXEC) returned {r} ({})",
        errname(errno())
    );
    // SAFETY: our mapping; growing in place must fail (VM_DONTEXPAND).
    let r = unsafe { libc::mremap(a as _, len, len + pg, 0) };
    ensure!(r == libc::MAP_FAILED, "mremap grew the ring mapping");
    send(fd, &pattern(5, 40), "a datagram")?;
    settle(&ep)?;
    // SAFETY: both are live mappings of the ring.
    let (pa, pb) = unsafe { (producer_at(a), producer_at(b)) };
    ensure!(
        pa == 1 && pb == 1,
        "producer is {pa} in one mapping, {pb} in the other"
    );
    // SAFETY: our mappings.
    unsafe {
        libc::munmap(a as _, len);
        libc::munmap(b as _, len);
    }
    Ok(())
}

/// Waits (without poll, for a ring whose file is closed) until the
/// producer word reaches `want`.
fn wait_producer(ring: &RxRing, want: u32, what: &str) -> TestResult {
    let deadline = Instant::now() + ARRIVAL;
    while ring.producer() != want {
        ensure!(
            Instant::now() < deadline,
            "{what}: producer {} after {} s, expected {want}",
            ring.producer(),
            ARRIVAL.as_secs()
        );
        sleep_ms(5);
    }
    Ok(())
}

/// Closing the descriptor with the ring mapped: the mapping holds the file,
/// so the endpoint stays bound and keeps delivering into the ring, which
/// the process still consumes; its port is free only after `munmap`, which
/// also gives the ring's memory back to the NIC's budget.
pub fn mmap_close_with_ring_mapped() -> TestResult {
    let sender = open_dev_nonblocking()?;
    let rx_mem0 = limits(&sender)?.rx_mem;
    let ep = open_dev_nonblocking()?;
    let port = port_of(&ep)?;
    let mut ring = setup_map(&ep, 4, 256)?;
    let map_len = ring.layout().map_len;
    ensure!(
        limits(&sender)?.rx_mem == rx_mem0 + map_len,
        "the ring is not charged to rx_mem"
    );
    // SAFETY: the descriptor is ours, closed once.
    ensure!(
        unsafe { libc::close(ep.into_raw_fd()) } == 0,
        "close: {}",
        errname(errno())
    );
    okay(
        sender.send_to(port, &pattern(1, 99)),
        "send to the closed endpoint's port",
    )?;
    wait_producer(&ring, 1, "after close")?;
    expect_frame(
        &mut ring,
        &pattern(1, 99),
        port_of(&sender)?,
        "delivered after close",
    )?;
    let other = open_dev_nonblocking()?;
    expect_io_errno(
        other.bind(port),
        libc::EADDRINUSE,
        "bind to the port of the closed, mapped endpoint",
    )?;
    drop(ring); // munmap: the last reference to the file
    okay(other.bind(port), "bind to the port after munmap")?;
    ensure!(
        limits(&sender)?.rx_mem == rx_mem0,
        "rx_mem {} after munmap, was {rx_mem0}",
        limits(&sender)?.rx_mem
    );
    Ok(())
}

/// munmap with the descriptor still open: delivery goes on into the
/// kernel's pages; a new mapping shows everything, including what arrived
/// while nothing was mapped.
pub fn mmap_munmap_and_remap() -> TestResult {
    let (ep, port, ring) = ring_endpoint(8, 128)?;
    let layout = *ring.layout();
    send(ep.as_raw_fd(), &pattern(1, 30), "before munmap")?;
    settle(&ep)?;
    drop(ring);
    send(ep.as_raw_fd(), &pattern(2, 30), "while unmapped")?;
    settle(&ep)?;
    expect_ring(&ring_stats(&ep)?, &[("delivered", 2)], "while unmapped")?;
    let mut ring = okay(RxRing::map(&ep, &layout), "mmap again")?;
    expect_frame(&mut ring, &pattern(1, 30), port, "before munmap")?;
    expect_frame(&mut ring, &pattern(2, 30), port, "while unmapped")?;
    Ok(())
}

/// fork() with the ring mapped: the child shares the pages (MAP_SHARED, not
/// copied), consumes from them, and the parent sees its consumer index. A
/// child keeps the ring (and the endpoint) alive after the parent closed
/// and unmapped it, and receives into it.
pub fn mmap_fork_shares_ring() -> TestResult {
    let sender = open_dev_nonblocking()?;
    let ep = open_dev_nonblocking()?;
    let port = port_of(&ep)?;
    let src = port_of(&sender)?;
    let mut ring = setup_map(&ep, 4, 128)?;
    let fd = ep.as_raw_fd();
    let mut child = Child::spawn(|| {
        let r = wait_readable(fd, ARRIVAL).unwrap_or(false);
        if !r {
            return 2;
        }
        for i in 0..2u32 {
            let deadline = Instant::now() + ARRIVAL;
            let f = loop {
                if let Some(f) = ring.next_frame() {
                    break f;
                }
                if Instant::now() > deadline {
                    return 3;
                }
                sleep_ms(5);
            };
            if f.payload != pattern(i, 50) || f.desc.src_port != src {
                return 4;
            }
            ring.advance(1);
        }
        0
    })?;
    okay(sender.send_to(port, &pattern(0, 50)), "datagram 0")?;
    okay(sender.send_to(port, &pattern(1, 50)), "datagram 1")?;
    child.expect_exit0(
        Duration::from_secs(20),
        "child consuming from the inherited ring",
    )?;
    let cons = ring.shared_consumer();
    ensure!(
        cons == 2,
        "the parent sees consumer {cons}, the child advanced to 2"
    );
    ensure!(ring.producer() == 2, "producer {}", ring.producer());

    // A child outliving the parent's descriptor and mapping.
    let go = Pipe::new()?;
    let (gr, gw) = (go.r.as_raw_fd(), go.w.as_raw_fd());
    let mut child = Child::spawn(|| {
        // SAFETY: ours in this process.
        unsafe { libc::close(gw) };
        // The endpoint's descriptor is closed: only the mapping holds it.
        // SAFETY: as above.
        unsafe { libc::close(fd) };
        let mut b = [0u8; 1];
        if read(gr, &mut b) != Ok(1) {
            return 5;
        }
        let deadline = Instant::now() + ARRIVAL;
        while ring.producer() != 3 {
            if Instant::now() > deadline {
                return 6;
            }
            sleep_ms(5);
        }
        ring.advance(2); // the two the first child took
        match ring.next_frame() {
            Some(f) if f.payload == pattern(7, 50) => 0,
            _ => 7,
        }
    })?;
    drop(go.r);
    drop(ring);
    drop(ep);
    okay(
        sender.send_to(port, &pattern(7, 50)),
        "datagram to the child's ring",
    )?;
    ensure!(write(gw, b"g") == Ok(1), "telling the child to look");
    child.expect_exit0(
        Duration::from_secs(20),
        "child keeping the ring after the parent let go",
    )?;
    // Now nothing holds the endpoint.
    let other = open_dev_nonblocking()?;
    okay(
        other.bind(port),
        "bind to the port once every mapping is gone",
    )
}

/// The ring's memory is bounded per user by RLIMIT_MEMLOCK (locked_vm, as
/// AF_XDP charges a umem): without CAP_IPC_LOCK, a ring that would take the
/// user over the limit is refused with ENOBUFS, two rings count together,
/// and closing one gives its share back. Root is not charged, but every
/// ring counts against the NIC-wide receive budget: with rx_mem_max lowered
/// under a ring's size, ENOBUFS too.
pub fn mmap_ring_memory_bounded() -> TestResult {
    let root = open_dev_nonblocking()?;
    let _restore = NicRestore(&root);
    // 8 slots of 4096: 1 + 1 + 8 pages = 40 KiB.
    let small = RxRingReq::layout(8, 4096).unwrap().map_len;
    ensure!(small == 40 << 10, "layout 8 x 4096 is {small} bytes");
    as_nobody("RLIMIT_MEMLOCK", move || {
        set_memlock(64 << 10)?;
        let a = open_dev_nonblocking()?;
        expect_io_errno(
            a.rx_ring_setup(32, 4096),
            libc::ENOBUFS,
            "a 136 KiB ring under a 64 KiB limit",
        )?;
        okay(a.rx_ring_setup(8, 4096), "a 40 KiB ring")?;
        let b = open_dev_nonblocking()?;
        expect_io_errno(
            b.rx_ring_setup(8, 4096),
            libc::ENOBUFS,
            "a second 40 KiB ring",
        )?;
        okay(b.rx_ring_setup(4, 2048), "a 20 KiB ring next to it")?;
        drop(a);
        let c = open_dev_nonblocking()?;
        okay(
            c.rx_ring_setup(8, 4096),
            "40 KiB again after closing the first",
        )?;
        Ok(())
    })?;
    budget_32k_above_use(&root)?;
    let ep = open_dev_nonblocking()?;
    expect_io_errno(
        ep.rx_ring_setup(8, 4096),
        libc::ENOBUFS,
        "a 40 KiB ring over the NIC budget",
    )?;
    okay(ep.rx_ring_setup(2, 4096), "a 16 KiB ring within it")?;
    Ok(())
}

/// Datagrams longer than a slot are cut to it: the descriptor says how much
/// is there and how long the datagram was, with MSG_TRUNC.
pub fn mmap_ring_truncates_to_slot() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let ring = setup_map(&ep, 2, 64)?;
    let msg = pattern(3, 100);
    send(ep.as_raw_fd(), &msg, "100 bytes into 64-byte slots")?;
    settle(&ep)?;
    let f = ring.next_frame().ok_or("nothing in the ring")?;
    ensure!(
        f.desc.len == 64 && f.desc.dgram_len == 100 && f.desc.flags == TRUNC,
        "descriptor {:?}",
        f.desc
    );
    check_data(&f.payload.to_vec(), &msg[..64], "the truncated datagram")?;
    expect_ring(
        &ring_stats(&ep)?,
        &[("truncated", 1), ("delivered", 1)],
        "after it",
    )
}

/// Datagrams queued before the setup cannot be read afterwards (read()
/// fails on a ring endpoint): the setup drops them, counts them (purged),
/// and gives their memory back.
pub fn mmap_setup_purges_queue() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let rx_mem0 = limits(&ep)?.rx_mem;
    send(ep.as_raw_fd(), &pattern(1, 10), "queued 1")?;
    send(ep.as_raw_fd(), &pattern(2, 10), "queued 2")?;
    wait_queued(&ep, 2, "before setup")?;
    let ring = setup_map(&ep, 4, 64)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 0), ("queued_bytes", 0)],
        "after setup",
    )?;
    expect_ring(
        &ring_stats(&ep)?,
        &[("purged", 2), ("delivered", 0)],
        "after setup",
    )?;
    let rx_mem = limits(&ep)?.rx_mem;
    ensure!(
        rx_mem == rx_mem0 + ring.layout().map_len,
        "rx_mem {rx_mem}: was {rx_mem0}, plus the ring"
    );
    Ok(())
}

/// A thread scribbles random values over the whole mapping (indices,
/// descriptors, buffers) while a generator flow sends 3000 datagrams at the
/// ring. The kernel drops or delivers each one and counts it, its producer
/// index is exactly the number delivered, and nothing breaks (the harness
/// fails the run on any kernel report). The flow starts once the scribbler
/// is writing, and another 3000 follow (twice at most) while no delivery
/// has yet met a bad index: the scribbler's thread may not get a CPU while
/// the softirq delivers (seen once: 383 deliveries, consumer always 0).
pub fn mmap_ring_hostile_scribbler() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    let port = port_of(&ep)?;
    let ring = setup_map(&ep, 16, 256)?;
    let base = ring.as_ptr() as usize;
    let len = ring.layout().map_len as usize;
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let scribbler = {
        let stop = stop.clone();
        let written = written.clone();
        std::thread::spawn(move || {
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let off = (x as usize % len) & !3;
                // Mostly the consumer word, sometimes anywhere.
                let off = if x & 3 == 0 {
                    off
                } else {
                    RX_RING_OFF_CONSUMER as usize
                };
                // SAFETY: inside the mapping, which outlives the thread
                // (joined before `ring` drops), aligned.
                unsafe { AtomicU32::from_ptr((base + off) as *mut u32) }
                    .store((x >> 32) as u32, Ordering::Relaxed);
                n += 1;
                written.store(n, Ordering::Relaxed);
            }
            n
        })
    };
    let before = ep_stats(&ep)?;
    let deadline = Instant::now() + WAIT;
    while written.load(Ordering::Relaxed) < 1000 {
        ensure!(
            Instant::now() < deadline,
            "the scribbler did not start writing"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    for _ in 0..3 {
        let nic0 = nic_stats(&ep)?;
        okay(
            ep.gen_start(&flow(0, port, 64, 200_000, 32, 3000)),
            "GEN_START",
        )?;
        wait_nic(&ep, Duration::from_secs(60), "3000 generated", |s| {
            s.gen_packets - nic0.gen_packets >= 3000
        })?;
        settle(&ep)?;
        if ring_stats(&ep)?.bad_index > 0 {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let writes = scribbler
        .join()
        .map_err(|_| "scribbler panicked".to_string())?;
    let s = ring_stats(&ep)?;
    let e = ep_stats(&ep)?.wrapping_sub(&before);
    ensure!(
        e.rx_packets + e.rx_drops > 0,
        "nothing reached the endpoint: {e:?}"
    );
    ensure!(
        s.delivered + s.ring_full + s.bad_index == e.rx_packets + e.rx_drops
            && s.delivered == e.rx_packets,
        "ring counters {s:?} disagree with the endpoint's {e:?}"
    );
    ensure!(
        u64::from(s.producer) == s.delivered,
        "producer {} but {} delivered",
        s.producer,
        s.delivered
    );
    ensure!(
        s.bad_index > 0 && writes > 0,
        "the scribbler never made an index bad ({writes} writes): {s:?}"
    );
    drop(ring);
    Ok(())
}

/// Readers blocked in read() when the ring is set up return `EINVAL` at
/// once (Documentation/models/mmap.rst): the setup wakes every sleeper on
/// the endpoint, exclusive readers included, and a reader's wait condition
/// sees the ring. Before, they slept until a signal, each datagram into the
/// ring waking one of them for nothing.
pub fn mmap_setup_ends_blocked_read() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let mut readers = Vec::new();
    for i in 0..2 {
        let mut c = Child::spawn(move || {
            let mut b = [0u8; 64];
            match read(fd, &mut b) {
                Err(e) if e == libc::EINVAL => 0,
                Ok(_) => 2,
                Err(_) => 3,
            }
        })?;
        c.wait_sleeping(Duration::from_secs(5), &format!("reader {i} in read()"))?;
        readers.push(c);
    }
    let ring = setup_map(&ep, 4, 128)?;
    for (i, c) in readers.iter_mut().enumerate() {
        c.expect_exit0(
            Duration::from_secs(10),
            &format!("reader {i}, blocked in read() across the setup (0: EINVAL)"),
        )?;
    }
    send(fd, &pattern(1, 40), "a datagram after the setup")?;
    wait_producer(&ring, 1, "the datagram after the setup")?;
    expect_ring(
        &ring_stats(&ep)?,
        &[("delivered", 1), ("purged", 0)],
        "after the setup",
    )
}

/// A read() whose copy fails (a PROT_NONE buffer) gives its datagram back;
/// racing with the setup, it can give it back after the setup's purge.
/// Whatever becomes of such a datagram, `poll` on a ring endpoint reports
/// the ring, not the receive queue: an empty ring is not `POLLIN`, so a
/// level-triggered loop does not spin on what `read()` (`EINVAL`) can never
/// clear. Repeated until the give-back came after the purge 5 times (the
/// purge found the queue empty, or the datagram is queued again after it),
/// or 40 tries; how often is printed.
pub fn mmap_failed_read_racing_setup() -> TestResult {
    let bad = map_pages(1, libc::PROT_NONE)?;
    let (mut tries, mut late) = (0u32, 0u32);
    let r = (|| -> TestResult {
        while tries < 40 && late < 5 {
            tries += 1;
            let ep = open_dev_nonblocking()?;
            let fd = ep.as_raw_fd();
            send(fd, &pattern(tries, 32), "the datagram")?;
            wait_queued(&ep, 1, "before the race")?;
            let started = Arc::new(AtomicBool::new(false));
            let reader = {
                let started = started.clone();
                std::thread::spawn(move || {
                    started.store(true, Ordering::Release);
                    loop {
                        match read_to_addr(fd, bad, 64) {
                            Err(e) if e == libc::EFAULT => continue,
                            r => return r,
                        }
                    }
                })
            };
            while !started.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
            // Let it go round a varying number of times.
            for _ in 0..(tries % 7) * 50 {
                std::hint::spin_loop();
            }
            let r = ep.rx_ring_setup(4, 64);
            let got = reader.join().map_err(|_| "reader panicked".to_string())?;
            okay(r, "RX_RING_SETUP during the failing reads")?;
            expect_errno(got, libc::EINVAL, "the failing reader after the setup")?;
            let queued = ep_stats(&ep)?.queued;
            if queued > 0 || ring_stats(&ep)?.purged == 0 {
                late += 1;
            }
            let (_, rev) = poll_one(fd, POLL_ALL, 0)?;
            ensure!(
                rev & (libc::POLLIN | libc::POLLRDNORM) == 0,
                "try {tries}: poll reports {} on a ring endpoint whose ring is empty \
                 ({queued} datagram(s) given back to the receive queue after the purge)",
                poll_names(rev)
            );
            let s = ring_stats(&ep)?;
            ensure!(s.producer == 0, "try {tries}: producer {}", s.producer);
        }
        Ok(())
    })();
    unmap(bad, 1)?;
    r?;
    println!(
        "# mmap_failed_read_racing_setup: {tries} tries, the failed read gave its datagram back \
         after the setup's purge in {late}"
    );
    Ok(())
}

/// Two threads set up a ring on one endpoint at the same moment, 20 times,
/// as an unprivileged user whose `RLIMIT_MEMLOCK` fits both rings: exactly
/// one succeeds, the other gets `EBUSY` (or `ENOBUFS`, when it was still
/// charging), and the loser's charge goes back: afterwards a ring of
/// nearly the whole limit fits.
pub fn mmap_setup_twice_at_once() -> TestResult {
    // 8 slots of 4096: 40 KiB; 16 of them: 72 KiB.
    as_nobody("two setups at once", || {
        set_memlock(80 << 10)?;
        for i in 0..20 {
            let ep = open_dev_nonblocking()?;
            let go = std::sync::Barrier::new(2);
            let (a, b) = std::thread::scope(|s| {
                let one = || {
                    go.wait();
                    ep.rx_ring_setup(8, 4096).map(|_| ()).map_err(|e| raw(&e))
                };
                let a = s.spawn(one);
                let b = s.spawn(one);
                (a.join(), b.join())
            });
            let (a, b) = (
                a.map_err(|_| "thread panicked")?,
                b.map_err(|_| "thread panicked")?,
            );
            let refused = |r: Result<(), i32>| matches!(r, Err(libc::EBUSY) | Err(libc::ENOBUFS));
            ensure!(
                (a.is_ok() && refused(b)) || (b.is_ok() && refused(a)),
                "round {i}: the two setups returned {a:?} and {b:?}"
            );
            let s = ring_stats(&ep)?;
            ensure!(
                s.slots == 8 && s.map_len == 40 << 10,
                "round {i}: ring {s:?}"
            );
        }
        let ep = open_dev_nonblocking()?;
        okay(
            ep.rx_ring_setup(16, 4096),
            "a 72 KiB ring under the 80 KiB limit after the 20 rounds",
        )?;
        Ok(())
    })
}

fn set_memlock(bytes: u64) -> TestResult {
    let lim = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: a valid rlimit.
    ensure!(
        unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) } == 0,
        "setrlimit(RLIMIT_MEMLOCK, {bytes}): {}",
        errname(errno())
    );
    Ok(())
}

/// The setup while a generator flow floods the endpoint (datagrams being
/// queued as the setup purges): every datagram that reached the endpoint
/// is accounted for exactly once (purged, delivered into the ring, or
/// dropped), nothing stays queued, and the NIC's receive memory comes back
/// to what it was plus the ring. Then the endpoint is closed and unmapped
/// while a second flood still targets its port (teardown racing the
/// softirq's deliveries): the ring's memory all comes back.
pub fn mmap_setup_and_teardown_during_flood() -> TestResult {
    let ctl = open_dev_nonblocking()?;
    let _restore = NicRestore(&ctl);
    let rx_mem0 = limits(&ctl)?.rx_mem;
    let ep = open_dev_nonblocking()?;
    let port = port_of(&ep)?;
    let nic0 = nic_stats(&ctl)?;
    okay(
        ctl.gen_start(&flow(1, port, 64, 100_000, 16, 2000)),
        "GEN_START (2000 at the endpoint)",
    )?;
    wait_queued(&ep, 1, "the flood reaching the queue")?;
    let ring = setup_map(&ep, 16, 256)?;
    wait_nic(&ctl, Duration::from_secs(60), "2000 generated", |s| {
        s.gen_packets - nic0.gen_packets >= 2000
    })?;
    settle(&ctl)?;
    let e = ep_stats(&ep)?;
    let s = ring_stats(&ep)?;
    ensure!(
        s.purged > 0,
        "the setup purged nothing: it did not run while datagrams were queued ({s:?})"
    );
    ensure!(
        e.queued == 0 && e.queued_bytes == 0,
        "{} datagram(s) queued on a ring endpoint after the flood",
        e.queued
    );
    ensure!(
        e.rx_packets == s.delivered + s.purged,
        "{} received by the endpoint, but {} delivered into the ring + {} purged",
        e.rx_packets,
        s.delivered,
        s.purged
    );
    ensure!(
        u64::from(s.producer) == s.delivered && s.delivered <= 16,
        "producer {} with {} delivered into 16 slots",
        s.producer,
        s.delivered
    );
    let rx_mem = limits(&ctl)?.rx_mem;
    ensure!(
        rx_mem == rx_mem0 + ring.layout().map_len,
        "rx_mem {rx_mem} after the flood: was {rx_mem0}, plus the ring's {}",
        ring.layout().map_len
    );

    // Teardown racing the deliveries. The consumer keeps returning slots so
    // the ring takes datagrams up to the end.
    let nic1 = nic_stats(&ctl)?;
    okay(
        ctl.gen_start(&flow(2, port, 64, 100_000, 16, 2000)),
        "GEN_START (a second 2000)",
    )?;
    let mut ring = ring;
    let deadline = Instant::now() + Duration::from_secs(30);
    while ring.producer() < s.producer + 32 {
        ensure!(
            Instant::now() < deadline,
            "the second flood does not reach the ring"
        );
        let p = ring.producer();
        ring.advance(p.wrapping_sub(ring.consumer()));
        sleep_ms(1);
    }
    drop(ep); // close: the mapping still holds the file
    drop(ring); // munmap: release, teardown, while datagrams still come
    wait_nic(
        &ctl,
        Duration::from_secs(60),
        "the second 2000 generated",
        |s| s.gen_packets - nic1.gen_packets >= 2000,
    )?;
    settle(&ctl)?;
    let rx_mem = limits(&ctl)?.rx_mem;
    ensure!(
        rx_mem == rx_mem0,
        "rx_mem {rx_mem} after closing and unmapping the ring mid-flood, was {rx_mem0}"
    );
    Ok(())
}

/// `RLIMIT_MEMLOCK` charges go back to an unprivileged user on every path:
/// when the NIC's receive budget refuses a ring the user's limit allowed
/// (charged, then uncharged), and when the ring goes at the last `munmap`
/// after `close`. The user's limit is exactly one 40 KiB ring, so each
/// step only succeeds if nothing is left charged. (A child with real and
/// effective uid nobody, saved uid 0, to set the NIC's limits in between.)
pub fn mmap_memlock_returned_unprivileged() -> TestResult {
    let ctl = open_dev_nonblocking()?;
    let _restore = NicRestore(&ctl);
    let mut child = Child::spawn(|| match memlock_steps(&ctl) {
        Ok(()) => 0,
        Err(why) => {
            eprintln!("# mmap_memlock_returned_unprivileged: {why}");
            1
        }
    })?;
    child.expect_exit0(
        Duration::from_secs(30),
        "the unprivileged child (its reason is on stderr)",
    )
}

fn memlock_steps(ctl: &Endpoint) -> TestResult {
    const NOBODY: u32 = 65534;
    set_memlock(40 << 10)?;
    let as_user = |uid: u32| -> TestResult {
        // SAFETY: integer arguments; -1 leaves a field as it is.
        let r = unsafe { libc::setresuid(uid, uid, u32::MAX) };
        ensure!(r == 0, "setresuid({uid}): {}", errname(errno()));
        Ok(())
    };
    let as_root = || -> TestResult {
        // SAFETY: as above; the saved uid is 0, so this is allowed.
        let r = unsafe { libc::seteuid(0) };
        ensure!(r == 0, "seteuid(0): {}", errname(errno()));
        Ok(())
    };
    // Real and effective uid nobody (the charge goes to nobody's
    // user_struct, and CAP_IPC_LOCK is gone), saved uid 0.
    // SAFETY: integer arguments.
    let r = unsafe { libc::setresuid(NOBODY, NOBODY, 0) };
    ensure!(r == 0, "setresuid(nobody, nobody, 0): {}", errname(errno()));
    let a = open_dev_nonblocking()?;
    as_root()?;
    budget_32k_above_use(ctl)?;
    as_user(NOBODY)?;
    expect_io_errno(
        a.rx_ring_setup(8, 4096),
        libc::ENOBUFS,
        "a 40 KiB ring (the whole RLIMIT_MEMLOCK) over the NIC budget",
    )?;
    as_root()?;
    okay(ctl.set_limits(&DEFAULT_LIMITS), "SET_LIMITS back")?;
    as_user(NOBODY)?;
    let layout = okay(
        a.rx_ring_setup(8, 4096),
        "the same ring once the budget allows it (locked_vm given back on the refusal)",
    )?;
    let ring = okay(RxRing::map(&a, &layout), "mmap")?;
    drop(a); // close; the mapping keeps the ring
    let b = open_dev_nonblocking()?;
    expect_io_errno(
        b.rx_ring_setup(8, 4096),
        libc::ENOBUFS,
        "a second 40 KiB ring while the closed one is still mapped",
    )?;
    drop(ring); // the last munmap: release, the ring and its charge go
    okay(
        b.rx_ring_setup(8, 4096),
        "a 40 KiB ring after the last munmap of the first (locked_vm given back)",
    )?;
    Ok(())
}

/// A ring can be mapped through a descriptor opened `O_RDONLY`, but only
/// for reading: a writable shared mapping is `EACCES` (the kernel's rule
/// for `MAP_SHARED` and a file not open for writing), and `mprotect` cannot
/// add `PROT_WRITE` later; so such a process can watch the ring but cannot
/// return slots.
pub fn mmap_rdonly_descriptor() -> TestResult {
    // SAFETY: a plain open(2); the descriptor goes to the Endpoint.
    let fd = unsafe {
        libc::open(
            c"/dev/simnic".as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    ensure!(fd >= 0, "open(/dev/simnic, O_RDONLY): {}", errname(errno()));
    // SAFETY: a descriptor we just opened and own.
    let ep = unsafe { <Endpoint as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let layout = okay(ep.rx_ring_setup(4, 128), "setup on the O_RDONLY descriptor")?;
    let len = layout.map_len as usize;
    let fd = ep.as_raw_fd();
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    match mmap_fd(fd, len, rw, libc::MAP_SHARED, 0) {
        Ok(a) => {
            // SAFETY: the mapping just made.
            unsafe { libc::munmap(a as _, len) };
            return Err("a writable shared mapping of an O_RDONLY descriptor succeeded".into());
        }
        Err(e) => ensure!(
            e == libc::EACCES,
            "writable mapping of an O_RDONLY descriptor: {}, expected EACCES",
            errname(e)
        ),
    }
    let ro = mmap_fd(fd, len, libc::PROT_READ, libc::MAP_SHARED, 0).map_err(|e| {
        format!(
            "read-only mapping of an O_RDONLY descriptor: {}",
            errname(e)
        )
    })?;
    // SAFETY: our mapping.
    let r = unsafe { libc::mprotect(ro as _, len, rw) };
    let e = errno();
    let res = (|| -> TestResult {
        ensure!(
            r != 0 && e == libc::EACCES,
            "mprotect(PROT_WRITE) on it returned {r} ({})",
            errname(e)
        );
        // Writes from another descriptor: the read-only mapping sees them.
        let tx = open_dev_nonblocking()?;
        okay(tx.send_to(port_of(&ep)?, &pattern(2, 30)), "a datagram")?;
        settle(&tx)?;
        // SAFETY: a live mapping of the ring.
        let p = unsafe { producer_at(ro) };
        ensure!(p == 1, "producer {p} in the read-only mapping");
        Ok(())
    })();
    // SAFETY: our mapping, unmapped once.
    unsafe { libc::munmap(ro as _, len) };
    res
}

/// `mmap` racing the setup: a thread maps the ring's length over and over
/// while the setup runs; each attempt either fails with `EINVAL` (no ring
/// yet) or maps the whole ring, which then shows the datagrams delivered
/// into it. 10 rounds, each on a fresh endpoint.
pub fn mmap_racing_setup() -> TestResult {
    let len = RxRingReq::layout(4, 128).unwrap().map_len as usize;
    for round in 0..10 {
        let ep = open_dev_nonblocking()?;
        let fd = ep.as_raw_fd();
        let started = Arc::new(AtomicBool::new(false));
        let mapper = {
            let started = started.clone();
            std::thread::spawn(move || -> Result<(usize, u32), String> {
                started.store(true, Ordering::Release);
                let deadline = Instant::now() + Duration::from_secs(10);
                let mut refused = 0;
                loop {
                    let rw = libc::PROT_READ | libc::PROT_WRITE;
                    let e = match mmap_fd(fd, len, rw, libc::MAP_SHARED, 0) {
                        Ok(p) => return Ok((p, refused)),
                        Err(e) => e,
                    };
                    if e != libc::EINVAL {
                        return Err(format!("mmap during the setup: {}", errname(e)));
                    }
                    refused += 1;
                    if Instant::now() > deadline {
                        return Err("mmap still refused 10 s after the setup began".into());
                    }
                }
            })
        };
        while !started.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        let setup = ep.rx_ring_setup(4, 128);
        let mapped = mapper.join().map_err(|_| "mapper panicked".to_string())?;
        okay(setup, "RX_RING_SETUP while another thread maps")?;
        let (a, _refused) = mapped.map_err(|e| format!("round {round}: {e}"))?;
        let r = (|| -> TestResult {
            send(fd, &pattern(round, 24), "a datagram")?;
            settle(&ep)?;
            // SAFETY: a live mapping of the ring.
            let p = unsafe { producer_at(a) };
            ensure!(p == 1, "round {round}: producer {p} in the racing mapping");
            Ok(())
        })();
        // SAFETY: our mapping, unmapped once.
        unsafe { libc::munmap(a as _, len) };
        r?;
    }
    Ok(())
}
