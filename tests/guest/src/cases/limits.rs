//! The receive queue's limits: RX_QUEUE_MAX_DATAGRAMS datagrams and
//! RX_QUEUE_MAX_BYTES bytes. A write past either fails with ENOBUFS and
//! queues nothing; reading makes room again.

use std::os::fd::AsRawFd;

use simnic::{MAX_DATAGRAM, RX_QUEUE_MAX_BYTES, RX_QUEUE_MAX_DATAGRAMS};

use crate::sys::*;

const READABLE: libc::c_short = libc::POLLIN | libc::POLLRDNORM;
const WRITABLE: libc::c_short = libc::POLLOUT | libc::POLLWRNORM;

fn seq(i: usize) -> [u8; 2] {
    (i as u16).to_le_bytes()
}

/// 256 small datagrams fill the queue: the 257th (even an empty one) fails
/// with ENOBUFS, POLLOUT goes away, one read makes room for exactly one more,
/// and no rejected datagram ever shows up.
pub fn enobufs_datagram_limit() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    for i in 0..RX_QUEUE_MAX_DATAGRAMS {
        send(
            fd,
            &seq(i),
            &format!("write #{i} of {RX_QUEUE_MAX_DATAGRAMS}"),
        )?;
    }
    let rejected = [0xee, 0xee];
    expect_errno(
        write(fd, &rejected),
        libc::ENOBUFS,
        "write #256 (2 bytes) into a full queue",
    )?;
    expect_errno(
        write(fd, &rejected[..0]),
        libc::ENOBUFS,
        "write #256 (0 bytes) into a full queue",
    )?;
    expect_poll(
        fd,
        READABLE,
        "with 256 datagrams queued (no POLLOUT: not even an empty datagram fits)",
    )?;

    expect_datagram(fd, &seq(0), "first datagram of the full queue")?;
    expect_poll(fd, READABLE | WRITABLE, "with 255 datagrams queued")?;
    send(
        fd,
        &seq(RX_QUEUE_MAX_DATAGRAMS),
        "write after one read made room",
    )?;
    expect_errno(
        write(fd, &rejected),
        libc::ENOBUFS,
        "write into the queue full again",
    )?;

    for i in 1..=RX_QUEUE_MAX_DATAGRAMS {
        expect_datagram(fd, &seq(i), &format!("datagram #{i} while draining"))?;
    }
    expect_errno(
        read(fd, &mut [0u8; 8]),
        libc::EAGAIN,
        "read after draining (a rejected datagram was queued?)",
    )?;
    expect_poll(fd, WRITABLE, "after draining")
}

/// Four datagrams fill the queue's 212992 bytes exactly: a write of one
/// more byte fails with ENOBUFS (so does a 65535-byte one that would only
/// partly fit), an empty datagram still fits, and reading one datagram makes
/// room for another of its size.
pub fn enobufs_byte_limit() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let full = 3 * MAX_DATAGRAM;
    let rest = RX_QUEUE_MAX_BYTES - full; // 16387
    for tag in 0..3 {
        send(
            fd,
            &pattern(tag, MAX_DATAGRAM),
            &format!("write #{tag} (65535 bytes)"),
        )?;
    }
    expect_errno(
        write(fd, &pattern(90, rest + 1)),
        libc::ENOBUFS,
        &format!("write of {} bytes with {rest} free", rest + 1),
    )?;
    expect_errno(
        write(fd, &pattern(91, MAX_DATAGRAM)),
        libc::ENOBUFS,
        &format!("write of 65535 bytes with {rest} free"),
    )?;
    send(
        fd,
        &pattern(3, rest),
        &format!("write of {rest} bytes, reaching exactly {RX_QUEUE_MAX_BYTES}"),
    )?;
    expect_errno(
        write(fd, &pattern(92, 1)),
        libc::ENOBUFS,
        "write of 1 byte with the byte limit reached",
    )?;
    // Only bytes are exhausted: a zero-length datagram exceeds neither limit,
    // so it is accepted and the endpoint stays writable.
    expect_poll(
        fd,
        READABLE | WRITABLE,
        "at the byte limit with 4 datagrams queued",
    )?;
    expect_count(
        write(fd, &[0u8; 1][..0]),
        0,
        "write of 0 bytes at the byte limit",
    )?;

    expect_datagram(fd, &pattern(0, MAX_DATAGRAM), "first 65535-byte datagram")?;
    send(
        fd,
        &pattern(4, MAX_DATAGRAM),
        "write of 65535 bytes after reading 65535",
    )?;
    expect_errno(
        write(fd, &pattern(93, 1)),
        libc::ENOBUFS,
        "write of 1 byte with the byte limit reached again",
    )?;

    expect_datagram(fd, &pattern(1, MAX_DATAGRAM), "datagram #1")?;
    expect_datagram(fd, &pattern(2, MAX_DATAGRAM), "datagram #2")?;
    expect_datagram(fd, &pattern(3, rest), "datagram #3")?;
    expect_datagram(fd, b"", "the empty datagram")?;
    expect_datagram(fd, &pattern(4, MAX_DATAGRAM), "datagram #4")?;
    expect_errno(
        read(fd, &mut [0u8; 8]),
        libc::EAGAIN,
        "read after draining (a rejected datagram was queued?)",
    )?;

    // And the byte count went back to zero: the whole limit is usable again.
    for tag in 10..13 {
        send(fd, &pattern(tag, MAX_DATAGRAM), "refill with 65535 bytes")?;
    }
    send(fd, &pattern(13, rest), "refill to the byte limit")?;
    expect_errno(
        write(fd, &pattern(94, 1)),
        libc::ENOBUFS,
        "1 byte past the refilled limit",
    )
}
