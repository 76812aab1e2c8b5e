//! The datagram contract: the node, echo, boundaries, order, truncation,
//! sizes, non-blocking reads, separate endpoints, stream semantics.
//!
//! Every datagram here goes through the simulated NIC to the sender's own
//! port (the default destination), so it arrives asynchronously: reads wait
//! for it (`expect_datagram` polls first), and "nothing else is queued"
//! checks first wait for the NIC to go idle (`settle`).

use std::os::fd::AsRawFd;
use std::time::Duration;

use simnic::{DEVICE_PATH, EPHEMERAL_PORT_FIRST, MAX_DATAGRAM};

use crate::net::*;
use crate::sys::*;

/// /dev/simnic is a misc (major 10) character device with mode 0666, which
/// an unprivileged process can open read-write.
pub fn device_node() -> TestResult {
    let st = stat(c"/dev/simnic").map_err(|e| format!("stat {DEVICE_PATH}: {}", errname(e)))?;
    ensure!(
        st.st_mode & libc::S_IFMT == libc::S_IFCHR,
        "{DEVICE_PATH} is not a character device (st_mode {:o})",
        st.st_mode
    );
    ensure!(
        st.st_mode & 0o7777 == 0o666,
        "{DEVICE_PATH} has mode {:04o}, expected 0666",
        st.st_mode & 0o7777
    );
    let major = ((st.st_rdev >> 8) & 0xfff) | ((st.st_rdev >> 32) & !0xfff);
    ensure!(
        major == 10,
        "{DEVICE_PATH} has major {major}, expected 10 (misc)"
    );

    // As user and group nobody (65534): mode 0666 must be enough.
    let mut child = Child::spawn(|| unsafe {
        if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
            return 100;
        }
        let fd = libc::open(c"/dev/simnic".as_ptr(), libc::O_RDWR);
        if fd < 0 {
            return errno().clamp(1, 99);
        }
        libc::close(fd);
        0
    })?;
    match child.wait(WAIT)? {
        Some(0) => Ok(()),
        Some(st) if libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 100 => {
            Err("setuid(65534) failed".into())
        }
        Some(st) if libc::WIFEXITED(st) => Err(format!(
            "open({DEVICE_PATH}, O_RDWR) as uid 65534 failed with {}",
            errname(libc::WEXITSTATUS(st))
        )),
        Some(st) => Err(format!("unprivileged child {}", describe_status(st))),
        None => Err(format!(
            "unprivileged open did not finish in {} s",
            WAIT.as_secs()
        )),
    }
}

/// One datagram goes out and comes back unchanged through the `simnic`
/// crate's API, on a blocking endpoint (whose recv sleeps until the NIC
/// delivers it) and on a non-blocking one (polled first). open() bound each
/// endpoint to an ephemeral port, where write() sends by default, and the
/// datagram is counted sent and received on it.
pub fn echo_roundtrip() -> TestResult {
    let msg = b"hello, simnic";
    for (name, ep) in [
        ("blocking", open_dev()?),
        ("O_NONBLOCK", open_dev_nonblocking()?),
    ] {
        let port = port_of(&ep)?;
        ensure!(
            (u32::from(EPHEMERAL_PORT_FIRST)..=65535).contains(&port),
            "{name}: open() bound the endpoint to port {port}, not an ephemeral one"
        );
        let n = ep.send(msg).map_err(|e| format!("{name}: send: {e}"))?;
        ensure!(
            n == msg.len(),
            "{name}: send returned {n}, expected {}",
            msg.len()
        );
        if name == "O_NONBLOCK" {
            wait_arrival(ep.as_raw_fd(), "O_NONBLOCK: the echo")?;
        }
        let mut buf = [0u8; 256];
        let n = ep
            .recv(&mut buf)
            .map_err(|e| format!("{name}: recv: {e}"))?;
        check_data(&buf[..n], msg, &format!("{name}: echoed datagram"))?;
        settle(&ep)?;
        expect_poll(
            ep.as_raw_fd(),
            libc::POLLOUT | libc::POLLWRNORM,
            &format!("{name}: after the echo"),
        )?;
        let len = msg.len() as u64;
        expect_ep(
            &ep_stats(&ep)?,
            &[
                ("port", port.into()),
                ("queued", 0),
                ("queued_bytes", 0),
                ("tx_packets", 1),
                ("tx_bytes", len),
                ("rx_packets", 1),
                ("rx_bytes", len),
                ("rx_drops", 0),
                ("rx_truncated", 0),
            ],
            &format!("{name}: after the echo"),
        )?;
    }
    Ok(())
}

/// Several writes of different sizes come back as the same datagrams, one
/// per read, in the order written, even with a buffer that could hold them
/// all.
pub fn datagram_boundaries_fifo() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let sizes = [
        1usize,
        2,
        3,
        17,
        100,
        1000,
        1500,
        4096,
        9000,
        MAX_DATAGRAM,
        5,
    ];
    for (i, &len) in sizes.iter().enumerate() {
        send(
            fd,
            &pattern(i as u32, len),
            &format!("write #{i} ({len} bytes)"),
        )?;
    }
    for (i, &len) in sizes.iter().enumerate() {
        expect_datagram(
            fd,
            &pattern(i as u32, len),
            &format!("read #{i} (written with {len} bytes)"),
        )?;
    }
    settle(&ep)?;
    expect_errno(
        read(fd, &mut [0u8; 64]),
        libc::EAGAIN,
        "read after all datagrams were read",
    )?;

    // Interleaved writes and reads keep the order too.
    send(fd, b"one", "write one")?;
    send(fd, b"two", "write two")?;
    expect_datagram(fd, b"one", "first interleaved read")?;
    send(fd, b"three", "write three")?;
    expect_datagram(fd, b"two", "second interleaved read")?;
    expect_datagram(fd, b"three", "third interleaved read")?;
    settle(&ep)?;
    expect_errno(
        read(fd, &mut [0u8; 64]),
        libc::EAGAIN,
        "read after the interleaved datagrams",
    )
}

/// A zero-length write queues an empty datagram: it makes the endpoint
/// readable and a read returns 0 for it, without merging it with its
/// neighbours.
pub fn zero_length_datagram() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let buf = [0u8; 8];
    expect_count(write(fd, &buf[..0]), 0, "write of 0 bytes")?;
    wait_arrival(fd, "the empty datagram")?;
    expect_poll(
        fd,
        libc::POLLIN | libc::POLLRDNORM | libc::POLLOUT | libc::POLLWRNORM,
        "with one empty datagram queued",
    )?;
    send(fd, b"after", "write after the empty datagram")?;
    expect_datagram(fd, b"", "the empty datagram")?;
    expect_datagram(fd, b"after", "the datagram after the empty one")?;
    settle(&ep)?;
    expect_errno(
        read(fd, &mut [0u8; 8]),
        libc::EAGAIN,
        "read with the queue drained",
    )?;

    send(fd, b"a", "write a")?;
    expect_count(write(fd, &buf[..0]), 0, "write of 0 bytes between two")?;
    send(fd, b"b", "write b")?;
    expect_datagram(fd, b"a", "a")?;
    expect_datagram(fd, b"", "empty datagram between a and b")?;
    expect_datagram(fd, b"b", "b")?;
    settle(&ep)?;
    expect_errno(
        read(fd, &mut [0u8; 8]),
        libc::EAGAIN,
        "read with the queue drained",
    )
}

/// A buffer shorter than the datagram gets its head; the rest of that
/// datagram is discarded (counted in rx_truncated) and the next read
/// returns the next datagram.
pub fn short_read_truncates() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let (a, b, c, d) = (
        pattern(1, 1000),
        pattern(2, 50),
        pattern(3, 10),
        pattern(4, MAX_DATAGRAM),
    );
    for (name, dg) in [("A", &a), ("B", &b), ("C", &c), ("D", &d)] {
        send(fd, dg, &format!("write {name} ({} bytes)", dg.len()))?;
    }
    let mut small = [0u8; 100];
    wait_arrival(fd, "A")?;
    let n = read(fd, &mut small).map_err(|e| format!("read A into 100 bytes: {}", errname(e)))?;
    check_data(&small[..n], &a[..100], "A read into a 100-byte buffer")?;
    expect_datagram(
        fd,
        &b,
        "read after the truncated read (must be B, the rest of A discarded)",
    )?;
    let mut one = [0u8; 1];
    wait_arrival(fd, "C")?;
    expect_count(read(fd, &mut one), 1, "read C into 1 byte")?;
    ensure!(
        one[0] == c[0],
        "C read into 1 byte gave {:#04x}, expected {:#04x}",
        one[0],
        c[0]
    );
    let mut seven = [0u8; 7];
    wait_arrival(fd, "D")?;
    expect_count(
        read(fd, &mut seven),
        7,
        "read the 65535-byte D into 7 bytes",
    )?;
    check_data(&seven, &d[..7], "D read into 7 bytes")?;
    settle(&ep)?;
    expect_errno(
        read(fd, &mut [0u8; 64]),
        libc::EAGAIN,
        "read after the four datagrams",
    )?;
    expect_ep(
        &ep_stats(&ep)?,
        &[
            ("rx_packets", 4),
            ("rx_truncated", 3),
            ("queued", 0),
            ("queued_bytes", 0),
        ],
        "after reading A, C and D short and B whole",
    )
}

/// Datagrams above 65535 bytes fail with EMSGSIZE, through write and
/// SENDTO, and send nothing; 65535 bytes is accepted whole.
pub fn emsgsize() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let port = port_of(&ep)?;
    let big = pattern(7, 1 << 20);
    for len in [MAX_DATAGRAM + 1, MAX_DATAGRAM + 2, 131072, 1 << 20] {
        expect_errno(
            write(fd, &big[..len]),
            libc::EMSGSIZE,
            &format!("write of {len} bytes"),
        )?;
        expect_io_errno(
            ep.send_to(port, &big[..len]),
            libc::EMSGSIZE,
            &format!("SENDTO of {len} bytes"),
        )?;
    }
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("tx_packets", 0)],
        "after the oversized sends",
    )?;
    expect_errno(
        read(fd, &mut [0u8; 64]),
        libc::EAGAIN,
        "read after the oversized writes (nothing queued)",
    )?;
    send(fd, &big[..MAX_DATAGRAM], "write of 65535 bytes")?;
    expect_datagram(fd, &big[..MAX_DATAGRAM], "the 65535-byte datagram")
}

/// An empty O_NONBLOCK endpoint fails reads at once with EAGAIN, also when
/// O_NONBLOCK is set after open with fcntl, and a later datagram is still
/// delivered.
pub fn nonblock_eagain_empty() -> TestResult {
    // A read that blocks would block for good (nothing is sent): the limit
    // only has to be longer than a stalled guest takes to run the child.
    const LIMIT: Duration = WAIT;
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let what = "read on an empty O_NONBLOCK endpoint";
    let r = call_without_blocking(what, LIMIT, || read(fd, &mut [0u8; 64]))?;
    expect_errno(r, libc::EAGAIN, what)?;
    // At once: the read must not even sleep for a while (which a slow
    // guest could not tell from a long stall, but the thread's count of
    // voluntary context switches can).
    let mut buf = [0u8; 64];
    let sw0 = voluntary_switches_self()?;
    let r = read(fd, &mut buf);
    let sw1 = voluntary_switches_self()?;
    expect_errno(
        r,
        libc::EAGAIN,
        "second read on an empty O_NONBLOCK endpoint",
    )?;
    ensure!(
        sw1 == sw0,
        "the O_NONBLOCK read slept before its EAGAIN ({} voluntary context switches)",
        sw1 - sw0
    );
    send(fd, b"late", "write after EAGAIN")?;
    expect_datagram(fd, b"late", "datagram after EAGAIN")?;

    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    set_nonblocking(fd, true)?;
    let what = "read on an empty endpoint made O_NONBLOCK by fcntl";
    let r = call_without_blocking(what, LIMIT, || read(fd, &mut [0u8; 64]))?;
    expect_errno(r, libc::EAGAIN, what)?;
    send(fd, b"x", "write")?;
    expect_datagram(fd, b"x", "datagram on the fcntl O_NONBLOCK endpoint")
}

/// Two opens are two endpoints that never see each other's datagrams, while
/// a dup()ed or fork()ed descriptor shares its endpoint.
pub fn independent_endpoints() -> TestResult {
    let a = open_dev_nonblocking()?;
    let b = open_dev_nonblocking()?;
    let (fa, fb) = (a.as_raw_fd(), b.as_raw_fd());
    let (pa, pb) = (port_of(&a)?, port_of(&b)?);
    ensure!(pa != pb, "two endpoints were both bound to port {pa}");
    send(fa, b"for a", "write to a")?;
    send(fb, b"for b 1", "write to b")?;
    send(fb, b"for b 2", "second write to b")?;
    let c = open_dev_nonblocking()?;
    settle(&c)?;
    expect_errno(
        read(c.as_raw_fd(), &mut [0u8; 64]),
        libc::EAGAIN,
        "read on a third, fresh endpoint",
    )?;
    expect_datagram(fa, b"for a", "a's datagram")?;
    expect_errno(
        read(fa, &mut [0u8; 64]),
        libc::EAGAIN,
        "second read on a (b's datagrams must not show)",
    )?;
    expect_datagram(fb, b"for b 1", "b's first datagram")?;
    expect_datagram(fb, b"for b 2", "b's second datagram")?;
    expect_errno(read(fb, &mut [0u8; 64]), libc::EAGAIN, "third read on b")?;

    // SAFETY: dup of an open descriptor; closed below.
    let d = unsafe { libc::dup(fa) };
    ensure!(d >= 0, "dup: {}", errname(errno()));
    let r = send(d, b"via dup", "write through the dup");
    // SAFETY: `d` is ours.
    unsafe { libc::close(d) };
    r?;
    expect_datagram(fa, b"via dup", "datagram written through a dup of a")?;

    let mut child = Child::spawn(|| i32::from(write(fa, b"from the child") != Ok(14)))?;
    child.expect_exit0(WAIT, "child writing to the inherited a")?;
    expect_datagram(
        fa,
        b"from the child",
        "datagram written by a forked child on the shared fd",
    )?;
    settle(&a)?;
    expect_errno(
        read(fb, &mut [0u8; 64]),
        libc::EAGAIN,
        "b after the child wrote to a",
    )
}

/// preadv2 with RWF_NOWAIT on a blocking endpoint: EAGAIN at once when
/// empty; otherwise one datagram, scattered over the iovecs.
pub fn preadv2_nowait() -> TestResult {
    // As in nonblock_eagain_empty: a read that blocks blocks for good.
    const LIMIT: Duration = WAIT;
    let ep = open_dev()?; // blocking: only RWF_NOWAIT keeps the call from sleeping
    let fd = ep.as_raw_fd();
    let preadv2 = |a: &mut [u8], b: &mut [u8], flags: i32| -> SysResult {
        let iov = [
            libc::iovec {
                iov_base: a.as_mut_ptr().cast(),
                iov_len: a.len(),
            },
            libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            },
        ];
        // SAFETY: both iovecs describe live, writable buffers.
        let n = unsafe { libc::preadv2(fd, iov.as_ptr(), 2, -1, flags) };
        if n < 0 {
            Err(errno())
        } else {
            Ok(n as usize)
        }
    };
    let (mut a, mut b) = ([0u8; 3], [0u8; 100]);
    let what = "preadv2(RWF_NOWAIT) on an empty blocking endpoint";
    let r = call_without_blocking(what, LIMIT, || preadv2(&mut a, &mut b, libc::RWF_NOWAIT))?;
    ensure!(
        r != Err(libc::EOPNOTSUPP),
        "{what} failed with EOPNOTSUPP, expected EAGAIN (the file needs FMODE_NOWAIT and a read_iter)"
    );
    expect_errno(r, libc::EAGAIN, what)?;

    send(fd, b"nowait!!", "write nowait!!")?;
    send(fd, b"second", "write second")?;
    wait_queued(&ep, 2, "the two datagrams")?;
    let r = preadv2(&mut a, &mut b, libc::RWF_NOWAIT);
    expect_count(r, 8, "preadv2(RWF_NOWAIT) with two datagrams queued")?;
    check_data(&a, b"now", "first iovec")?;
    check_data(&b[..5], b"ait!!", "second iovec")?;
    expect_count(
        preadv2(&mut a, &mut b, 0),
        6,
        "preadv2 (no flags) for the second datagram",
    )?;
    check_data(&a, b"sec", "first iovec of the second datagram")?;
    check_data(&b[..3], b"ond", "second iovec of the second datagram")?;
    let what = "preadv2(RWF_NOWAIT) once drained";
    let r = call_without_blocking(what, LIMIT, || preadv2(&mut a, &mut b, libc::RWF_NOWAIT))?;
    expect_errno(r, libc::EAGAIN, what)
}

/// The device is a stream: no seeking and no positioned I/O, and a failed
/// positioned call neither consumes nor queues a datagram.
pub fn lseek_pread_espipe() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    send(fd, b"stay", "write")?;
    for (whence, name) in [
        (libc::SEEK_SET, "SEEK_SET"),
        (libc::SEEK_CUR, "SEEK_CUR"),
        (libc::SEEK_END, "SEEK_END"),
    ] {
        // SAFETY: lseek on an open descriptor.
        let r = unsafe { libc::lseek(fd, 0, whence) };
        let r = if r < 0 { Err(errno()) } else { Ok(r as usize) };
        expect_errno(r, libc::ESPIPE, &format!("lseek(fd, 0, {name})"))?;
    }
    let mut buf = [0u8; 16];
    // SAFETY: live buffers for pread64/pwrite64/preadv2.
    let pread = unsafe { libc::pread64(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    expect_errno(
        if pread < 0 {
            Err(errno())
        } else {
            Ok(pread as usize)
        },
        libc::ESPIPE,
        "pread64 at offset 0",
    )?;
    let pwrite = unsafe { libc::pwrite64(fd, b"x".as_ptr().cast(), 1, 0) };
    expect_errno(
        if pwrite < 0 {
            Err(errno())
        } else {
            Ok(pwrite as usize)
        },
        libc::ESPIPE,
        "pwrite64 at offset 0",
    )?;
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let preadv = unsafe { libc::preadv2(fd, &iov, 1, 0, 0) };
    expect_errno(
        if preadv < 0 {
            Err(errno())
        } else {
            Ok(preadv as usize)
        },
        libc::ESPIPE,
        "preadv2 at offset 0",
    )?;
    expect_datagram(
        fd,
        b"stay",
        "the datagram queued before the positioned calls",
    )?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("tx_packets", 1)],
        "after the failed pwrite64",
    )?;
    expect_errno(
        read(fd, &mut buf),
        libc::EAGAIN,
        "read after it (pwrite must not have queued)",
    )
}
