//! The receive queue's limits: RX_QUEUE_MAX_DATAGRAMS datagrams and the
//! receive buffer's bytes (RX_QUEUE_MAX_BYTES by default, SET_RCVBUF).
//!
//! As with UDP, a full queue does not make the sender fail: the datagram
//! crosses the NIC and is dropped at the receiver, counted in the
//! endpoint's rx_drops and the NIC's rx_queue_full. Reading makes room
//! again, and a dropped datagram never shows up. The sends here are paced
//! (`Paced`) so that the TX ring never fills: every write must succeed.

use std::os::fd::AsRawFd;

use simnic::{Endpoint, MAX_DATAGRAM, RCVBUF_MAX, RCVBUF_MIN, RX_QUEUE_MAX_BYTES, RX_QUEUE_MAX_DATAGRAMS};

use crate::net::*;
use crate::sys::*;

const READABLE: libc::c_short = libc::POLLIN | libc::POLLRDNORM;
const WRITABLE: libc::c_short = libc::POLLOUT | libc::POLLWRNORM;

fn seq(i: usize) -> [u8; 2] {
    (i as u16).to_le_bytes()
}

/// Reads every queued datagram and checks they are `want`, in order, and
/// that nothing else is queued.
fn drain_expecting(ep: &Endpoint, want: &[Vec<u8>], what: &str) -> TestResult {
    let fd = ep.as_raw_fd();
    for (i, d) in want.iter().enumerate() {
        expect_datagram(fd, d, &format!("{what}: datagram #{i} ({} bytes)", d.len()))?;
    }
    settle(ep)?;
    expect_errno(
        read(fd, &mut [0u8; 8]),
        libc::EAGAIN,
        &format!("{what}: read after the {} expected datagrams (a dropped one was queued?)", want.len()),
    )
}

/// 300 small datagrams to an endpoint that does not read: the first 256
/// are queued, exactly the 44 others are dropped and counted, on the
/// endpoint (rx_drops) and the NIC (rx_queue_full), and no write fails. An
/// empty datagram is dropped too (no slot). One read makes room for
/// exactly one more; the dropped datagrams never show up.
pub fn rx_queue_full_slots() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    let total = RX_QUEUE_MAX_DATAGRAMS + 44;
    let extra = (total - RX_QUEUE_MAX_DATAGRAMS) as u64;
    let slots = RX_QUEUE_MAX_DATAGRAMS as u64;
    let mut tx = Paced::new(&ep)?;
    for i in 0..total {
        tx.send(&seq(i), &format!("write #{i} of {total}"))?;
    }
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[
            ("queued", slots),
            ("queued_bytes", 2 * slots),
            ("rx_packets", slots),
            ("rx_bytes", 2 * slots),
            ("rx_drops", extra),
            ("tx_packets", total as u64),
        ],
        &format!("after {total} datagrams to a queue of {slots}"),
    )?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[
            ("tx_packets", total as u64),
            ("tx_busy", 0),
            ("rx_packets", slots),
            ("rx_queue_full", extra),
            ("rx_no_port", 0),
            ("rx_missed", 0),
        ],
        &format!("after {total} datagrams to a queue of {slots}"),
    )?;
    // A full receive queue is no reason to stop writing: the TX ring is free.
    expect_poll(fd, READABLE | WRITABLE, "with the receive queue full")?;

    tx.send(&[], "write of 0 bytes into the full queue")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", slots), ("rx_drops", extra + 1)],
        "after an empty datagram to the full queue",
    )?;

    expect_datagram(fd, &seq(0), "first datagram of the full queue")?;
    tx.send(&seq(1000), "write after one read made room")?;
    tx.send(&seq(1001), "write into the queue full again")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", slots), ("rx_packets", slots + 1), ("rx_drops", extra + 2)],
        "after one read and two more datagrams",
    )?;

    let mut want: Vec<Vec<u8>> = (1..RX_QUEUE_MAX_DATAGRAMS).map(|i| seq(i).to_vec()).collect();
    want.push(seq(1000).to_vec());
    drain_expecting(&ep, &want, "draining")?;
    expect_poll(fd, WRITABLE, "after draining")?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[("rx_packets", slots + 1), ("rx_queue_full", extra + 2), ("tx_packets", total as u64 + 3)],
        "at the end",
    )
}

/// Four datagrams fill the default 212992-byte receive buffer exactly: one
/// more byte is dropped (so is a 65535-byte datagram that would only partly
/// fit), an empty datagram still fits, reading one datagram makes room for
/// another of its size, and once drained the whole limit is usable again.
pub fn rx_queue_full_bytes() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let rest = RX_QUEUE_MAX_BYTES - 3 * MAX_DATAGRAM; // 16387
    expect_ep(
        &ep_stats(&ep)?,
        &[("rcvbuf", RX_QUEUE_MAX_BYTES as u64)],
        "a new endpoint's receive buffer",
    )?;
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    let mut tx = Paced::new(&ep)?;
    for tag in 0..3 {
        tx.send(&pattern(tag, MAX_DATAGRAM), &format!("write #{tag} (65535 bytes)"))?;
    }
    tx.send(&pattern(3, rest), &format!("write of {rest} bytes, reaching the limit"))?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 4), ("queued_bytes", RX_QUEUE_MAX_BYTES as u64), ("rx_drops", 0)],
        "with the receive buffer exactly full",
    )?;

    tx.send(&pattern(90, 1), "write of 1 byte with the buffer full")?;
    tx.send(&pattern(91, MAX_DATAGRAM), "write of 65535 bytes with the buffer full")?;
    // Only bytes are exhausted: a zero-length datagram exceeds no limit.
    tx.send(&[], "write of 0 bytes with the buffer full")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 5), ("queued_bytes", RX_QUEUE_MAX_BYTES as u64), ("rx_drops", 2)],
        "after 1, 65535 and 0 bytes more",
    )?;

    expect_datagram(ep.as_raw_fd(), &pattern(0, MAX_DATAGRAM), "first 65535-byte datagram")?;
    tx.send(&pattern(4, MAX_DATAGRAM), "write of 65535 bytes after reading 65535")?;
    tx.send(&pattern(93, 1), "write of 1 byte with the buffer full again")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 5), ("queued_bytes", RX_QUEUE_MAX_BYTES as u64), ("rx_drops", 3)],
        "after one read and 65535 + 1 bytes more",
    )?;
    let want = vec![
        pattern(1, MAX_DATAGRAM),
        pattern(2, MAX_DATAGRAM),
        pattern(3, rest),
        Vec::new(),
        pattern(4, MAX_DATAGRAM),
    ];
    drain_expecting(&ep, &want, "draining")?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 0), ("queued_bytes", 0), ("rx_packets", 6), ("rx_drops", 3)],
        "drained",
    )?;

    // The byte count went back to zero: the whole limit is usable again.
    for tag in 10..13 {
        tx.send(&pattern(tag, MAX_DATAGRAM), "refill with 65535 bytes")?;
    }
    tx.send(&pattern(13, rest), "refill to the byte limit")?;
    tx.send(&pattern(94, 1), "1 byte past the refilled limit")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 4), ("queued_bytes", RX_QUEUE_MAX_BYTES as u64), ("rx_drops", 4)],
        "refilled",
    )?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[("rx_queue_full", 4), ("rx_packets", 10), ("tx_packets", 14), ("tx_busy", 0)],
        "at the end",
    )
}

/// SET_RCVBUF accepts RCVBUF_MIN..=RCVBUF_MAX and nothing else (EINVAL,
/// the limit unchanged). The limit is what decides drops: 2048 bytes hold
/// 1000 + 1000 + 48 and no byte more (an empty datagram still fits);
/// lowering it below what is queued keeps the queued datagrams but drops
/// new ones until enough is read; 1 MiB holds sixteen 65535-byte datagrams
/// and 16 bytes, not a 17th datagram or a 17th byte.
pub fn set_rcvbuf_bounds_and_effect() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    for bad in [0, 1, RCVBUF_MIN - 1, RCVBUF_MAX + 1, u32::MAX] {
        expect_io_errno(ep.set_rcvbuf(bad), libc::EINVAL, &format!("SET_RCVBUF({bad})"))?;
    }
    expect_ep(
        &ep_stats(&ep)?,
        &[("rcvbuf", RX_QUEUE_MAX_BYTES as u64)],
        "after the refused SET_RCVBUFs",
    )?;
    for good in [RCVBUF_MAX, RCVBUF_MIN] {
        okay(ep.set_rcvbuf(good), &format!("SET_RCVBUF({good})"))?;
        expect_ep(&ep_stats(&ep)?, &[("rcvbuf", good.into())], &format!("after SET_RCVBUF({good})"))?;
    }

    // 2048 bytes.
    let mut tx = Paced::new(&ep)?;
    let (a, b, c, d, e) = (pattern(1, 1000), pattern(2, 1000), pattern(3, 1000), pattern(4, 48), pattern(5, 1));
    for (name, dg) in [("a", &a), ("b", &b), ("c", &c), ("d", &d), ("e", &e)] {
        tx.send(dg, &format!("write {name} ({} bytes)", dg.len()))?;
    }
    tx.send(&[], "write of 0 bytes with 2048 of 2048 bytes queued")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 4), ("queued_bytes", 2048), ("rx_drops", 2)],
        "rcvbuf 2048 after 1000, 1000, 1000, 48, 1 and 0 bytes",
    )?;

    // Lowered below what is queued.
    okay(ep.set_rcvbuf(4096), "SET_RCVBUF(4096)")?;
    let g = pattern(7, 2000);
    tx.send(&g, "write g (2000 bytes) with rcvbuf 4096")?;
    settle(&ep)?;
    okay(ep.set_rcvbuf(RCVBUF_MIN), "SET_RCVBUF(2048) with 4048 bytes queued")?;
    tx.send(&pattern(8, 1), "write of 1 byte with 4048 bytes queued and rcvbuf 2048")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("rcvbuf", 2048), ("queued", 5), ("queued_bytes", 4048), ("rx_drops", 3)],
        "after lowering rcvbuf below the queued bytes",
    )?;
    expect_datagram(fd, &a, "a")?;
    expect_datagram(fd, &b, "b")?;
    // 2048 bytes still queued: still no room.
    tx.send(&pattern(9, 1), "write of 1 byte with 2048 of 2048 bytes queued")?;
    settle(&ep)?;
    expect_datagram(fd, &d, "d")?;
    // 2000 queued: room for exactly 48.
    let h = pattern(10, 48);
    tx.send(&h, "write h (48 bytes) with 2000 of 2048 bytes queued")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 3), ("queued_bytes", 2048), ("rx_drops", 4)],
        "after reading a, b, d and writing 1 then 48 bytes",
    )?;
    drain_expecting(&ep, &[Vec::new(), g, h], "draining")?;

    // 1 MiB.
    const MIB: u32 = 1 << 20;
    okay(ep.set_rcvbuf(MIB), "SET_RCVBUF(1 MiB)")?;
    let fit = MIB as usize / MAX_DATAGRAM; // 16
    for i in 0..fit + 1 {
        tx.send(&pattern(100 + i as u32, MAX_DATAGRAM), &format!("65535-byte write #{i} with rcvbuf 1 MiB"))?;
    }
    let room = MIB as usize - fit * MAX_DATAGRAM; // 16
    tx.send(&pattern(200, room + 1), "write of 17 bytes with 16 free")?;
    tx.send(&pattern(201, room), "write of 16 bytes with 16 free")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", fit as u64 + 1), ("queued_bytes", MIB.into()), ("rx_drops", 6)],
        "rcvbuf 1 MiB after seventeen 65535-byte datagrams, then 17 and 16 bytes",
    )?;
    let mut want: Vec<Vec<u8>> = (0..fit).map(|i| pattern(100 + i as u32, MAX_DATAGRAM)).collect();
    want.push(pattern(201, room));
    drain_expecting(&ep, &want, "draining the 1 MiB queue")
}
