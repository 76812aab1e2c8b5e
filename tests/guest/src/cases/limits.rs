//! The receive queue's limits: RX_QUEUE_MAX_DATAGRAMS datagrams and the
//! receive buffer's bytes (RX_QUEUE_MAX_BYTES by default, SET_RCVBUF).
//!
//! The bytes are the memory a datagram takes, not its payload: each is
//! charged `rx_truesize(len)`, the allocator's size for its 8-byte header
//! and payload (like a socket buffer's truesize against `sk_rcvbuf`), so
//! even an empty datagram costs 8. A datagram is dropped when the charge
//! queued plus its own would exceed the limit; reaching it exactly is fine.
//! The NIC-wide receive memory (GET_LIMITS `rx_mem`) is charged the same.
//!
//! As with UDP, a full queue does not make the sender fail: the datagram
//! crosses the NIC and is dropped at the receiver, counted in the
//! endpoint's rx_drops and the NIC's rx_queue_full. Reading makes room
//! again, and a dropped datagram never shows up. The sends here are paced
//! (`Paced`) so that the TX ring never fills: every write must succeed.

use std::os::fd::AsRawFd;

use simnic::{
    rx_truesize, Endpoint, MAX_DATAGRAM, RCVBUF_MAX, RCVBUF_MIN, RX_QUEUE_MAX_BYTES,
    RX_QUEUE_MAX_DATAGRAMS,
};

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
        &format!(
            "{what}: read after the {} expected datagrams (a dropped one was queued?)",
            want.len()
        ),
    )
}

/// The receive memory charged NIC-wide (GET_LIMITS `rx_mem`) is `mem0`,
/// what was charged when the test started, plus `bytes`, and so is the
/// endpoint's `queued_bytes`: the tests' endpoint holds all that is queued.
fn expect_charged(ep: &Endpoint, mem0: u64, bytes: u64, what: &str) -> TestResult {
    let mem = limits(ep)?.rx_mem;
    let queued = u64::from(ep_stats(ep)?.queued_bytes);
    ensure!(
        mem == mem0 + bytes && queued == bytes,
        "{what}: queued_bytes {queued} and GET_LIMITS rx_mem {mem}, expected {bytes} and {mem0} + {bytes}"
    );
    Ok(())
}

/// The charge of datagrams of these payload lengths.
fn charge(lens: &[usize]) -> u64 {
    lens.iter().map(|&n| rx_truesize(n) as u64).sum()
}

/// 300 small datagrams to an endpoint that does not read: the first 256
/// are queued (charged 16 bytes each, far below the byte limit), exactly
/// the 44 others are dropped and counted, on the endpoint (rx_drops) and
/// the NIC (rx_queue_full), and no write fails. An empty datagram is
/// dropped too (no slot). One read makes room for exactly one more; the
/// dropped datagrams never show up.
pub fn rx_queue_full_slots() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    let total = RX_QUEUE_MAX_DATAGRAMS + 44;
    let extra = (total - RX_QUEUE_MAX_DATAGRAMS) as u64;
    let slots = RX_QUEUE_MAX_DATAGRAMS as u64;
    let mem0 = limits(&ep)?.rx_mem;
    let charge = rx_truesize(2) as u64;
    let mut tx = Paced::new(&ep)?;
    for i in 0..total {
        tx.send(&seq(i), &format!("write #{i} of {total}"))?;
    }
    settle(&ep)?;
    expect_charged(&ep, mem0, charge * slots, "with the slots all taken")?;
    expect_ep(
        &ep_stats(&ep)?,
        &[
            ("queued", slots),
            ("queued_bytes", charge * slots),
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
        &[
            ("queued", slots),
            ("rx_packets", slots + 1),
            ("rx_drops", extra + 2),
        ],
        "after one read and two more datagrams",
    )?;

    let mut want: Vec<Vec<u8>> = (1..RX_QUEUE_MAX_DATAGRAMS)
        .map(|i| seq(i).to_vec())
        .collect();
    want.push(seq(1000).to_vec());
    drain_expecting(&ep, &want, "draining")?;
    expect_poll(fd, WRITABLE, "after draining")?;
    expect_charged(&ep, mem0, 0, "after draining")?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[
            ("rx_packets", slots + 1),
            ("rx_queue_full", extra + 2),
            ("tx_packets", total as u64 + 3),
        ],
        "at the end",
    )
}

/// Payload lengths whose charges add up to the default receive buffer
/// exactly: 131072 + 65536 + 16384 = 212992.
const FILL_DEFAULT: [usize; 3] = [MAX_DATAGRAM, 40_000, 10_000];
const _: () = assert!(
    rx_truesize(FILL_DEFAULT[0]) + rx_truesize(FILL_DEFAULT[1]) + rx_truesize(FILL_DEFAULT[2])
        == RX_QUEUE_MAX_BYTES
);

/// Datagrams of 65535, 40000 and 10000 bytes, charged 131072 + 65536 +
/// 16384, fill the default 212992-byte receive buffer exactly: then an
/// empty datagram (8 bytes), 1 byte (16) and 65535 bytes are all dropped.
/// Reading the 65535-byte datagram makes room for exactly another; reading
/// the 40000-byte one for exactly two of 30000 (32768 each); once drained
/// the whole limit is usable again, in thirteen 16384-byte pieces. GET_LIMITS
/// `rx_mem` follows every step.
pub fn rx_queue_full_bytes() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    expect_ep(
        &ep_stats(&ep)?,
        &[("rcvbuf", RX_QUEUE_MAX_BYTES as u64)],
        "a new endpoint's receive buffer",
    )?;
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    let mem0 = limits(&ep)?.rx_mem;
    let full = RX_QUEUE_MAX_BYTES as u64;
    let mut tx = Paced::new(&ep)?;
    for (tag, &len) in FILL_DEFAULT.iter().enumerate() {
        tx.send(
            &pattern(tag as u32, len),
            &format!("write #{tag} ({len} bytes)"),
        )?;
    }
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 3), ("rx_drops", 0)],
        "65535, 40000 and 10000 bytes",
    )?;
    expect_charged(&ep, mem0, full, "with the receive buffer exactly full")?;

    // Not even an empty datagram fits: its header costs 8 bytes.
    tx.send(&[], "write of 0 bytes with the buffer full")?;
    tx.send(&pattern(90, 1), "write of 1 byte with the buffer full")?;
    tx.send(
        &pattern(91, MAX_DATAGRAM),
        "write of 65535 bytes with the buffer full",
    )?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 3), ("rx_drops", 3)],
        "after 0, 1 and 65535 bytes more",
    )?;
    expect_charged(&ep, mem0, full, "after 0, 1 and 65535 bytes more")?;

    expect_datagram(
        fd,
        &pattern(0, MAX_DATAGRAM),
        "the first 65535-byte datagram",
    )?;
    expect_charged(
        &ep,
        mem0,
        full - charge(&[MAX_DATAGRAM]),
        "after reading 65535 bytes",
    )?;
    tx.send(
        &pattern(4, MAX_DATAGRAM),
        "write of 65535 bytes after reading 65535",
    )?;
    tx.send(&[], "write of 0 bytes with the buffer full again")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 3), ("rx_drops", 4)],
        "after reading 65535, then 65535 and 0 bytes more",
    )?;
    expect_charged(
        &ep,
        mem0,
        full,
        "after reading 65535, then 65535 and 0 bytes more",
    )?;

    expect_datagram(fd, &pattern(1, 40_000), "the 40000-byte datagram")?;
    for tag in [5, 6] {
        tx.send(
            &pattern(tag, 30_000),
            "write of 30000 bytes into the 65536 freed",
        )?;
    }
    tx.send(&[], "write of 0 bytes with the buffer full once more")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 4), ("rx_drops", 5)],
        "after reading 40000, then 30000, 30000, 0 bytes",
    )?;
    expect_charged(
        &ep,
        mem0,
        full,
        "after reading 40000, then 30000, 30000, 0 bytes",
    )?;

    let want = vec![
        pattern(2, 10_000),
        pattern(4, MAX_DATAGRAM),
        pattern(5, 30_000),
        pattern(6, 30_000),
    ];
    drain_expecting(&ep, &want, "draining")?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 0), ("rx_packets", 6), ("rx_drops", 5)],
        "drained",
    )?;
    expect_charged(&ep, mem0, 0, "drained")?;

    // The charge went back to zero: the whole limit is usable again.
    let piece = 10_000;
    let pieces = RX_QUEUE_MAX_BYTES / rx_truesize(piece); // 13
    for tag in 0..pieces {
        tx.send(&pattern(20 + tag as u32, piece), "refill with 10000 bytes")?;
    }
    tx.send(&[], "0 bytes past the refilled limit")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", pieces as u64), ("rx_drops", 6)],
        &format!("refilled with {pieces} datagrams of {piece} bytes"),
    )?;
    expect_charged(&ep, mem0, full, "refilled")?;
    let sent = 3 + 3 + 2 + 3 + pieces as u64 + 1;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[
            ("rx_queue_full", 6),
            ("rx_mem_drops", 0),
            ("rx_packets", sent - 6),
            ("tx_packets", sent),
            ("tx_busy", 0),
        ],
        "at the end",
    )
}

/// SET_RCVBUF accepts RCVBUF_MIN..=RCVBUF_MAX and nothing else (EINVAL,
/// the limit unchanged). The limit is what decides drops, counted in
/// charges: 2048 bytes hold 1000 + 504 + 500 bytes (1024 + 512 + 512) and
/// nothing more, not even an empty datagram; lowering it below what is
/// queued keeps the queued datagrams but drops new ones until enough is
/// read; a limit 16 bytes above what is queued takes one 1-byte datagram
/// (16) and no empty one after it; 1 MiB + 8 holds eight 65535-byte
/// datagrams (131072 each) and one empty one, not a 1-byte one.
pub fn set_rcvbuf_bounds_and_effect() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    for bad in [0, 1, RCVBUF_MIN - 1, RCVBUF_MAX + 1, u32::MAX] {
        expect_io_errno(
            ep.set_rcvbuf(bad),
            libc::EINVAL,
            &format!("SET_RCVBUF({bad})"),
        )?;
    }
    expect_ep(
        &ep_stats(&ep)?,
        &[("rcvbuf", RX_QUEUE_MAX_BYTES as u64)],
        "after the refused SET_RCVBUFs",
    )?;
    // The test runs as root (CAP_NET_ADMIN): no rmem_max clamp.
    for good in [RCVBUF_MAX, RCVBUF_MIN] {
        okay(ep.set_rcvbuf(good), &format!("SET_RCVBUF({good})"))?;
        expect_ep(
            &ep_stats(&ep)?,
            &[("rcvbuf", good.into())],
            &format!("after SET_RCVBUF({good})"),
        )?;
    }
    settle(&ep)?;
    let mem0 = limits(&ep)?.rx_mem;

    // 2048 bytes: a (1024) + b (512) + d (512); c (1024) does not fit after
    // a and b, nor do 1 byte (16) or 0 bytes (8) after d.
    let mut tx = Paced::new(&ep)?;
    let (a, b, c, d) = (
        pattern(1, 1000),
        pattern(2, 504),
        pattern(3, 1000),
        pattern(4, 500),
    );
    for (name, dg) in [("a", &a), ("b", &b), ("c", &c), ("d", &d)] {
        tx.send(dg, &format!("write {name} ({} bytes)", dg.len()))?;
    }
    tx.send(
        &pattern(5, 1),
        "write of 1 byte with 2048 of 2048 bytes charged",
    )?;
    tx.send(&[], "write of 0 bytes with 2048 of 2048 bytes charged")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 3), ("rx_drops", 3)],
        "rcvbuf 2048 after 1000, 504, 1000, 500, 1 and 0 bytes",
    )?;
    expect_charged(
        &ep,
        mem0,
        2048,
        "rcvbuf 2048 after 1000, 504, 1000, 500, 1 and 0 bytes",
    )?;

    // Lowered below what is queued.
    okay(ep.set_rcvbuf(4096), "SET_RCVBUF(4096)")?;
    let g = pattern(7, 2000); // 2048
    tx.send(&g, "write g (2000 bytes) with rcvbuf 4096")?;
    settle(&ep)?;
    okay(
        ep.set_rcvbuf(RCVBUF_MIN),
        "SET_RCVBUF(2048) with 4096 bytes charged",
    )?;
    tx.send(
        &pattern(8, 1),
        "write of 1 byte with 4096 bytes charged and rcvbuf 2048",
    )?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("rcvbuf", 2048), ("queued", 4), ("rx_drops", 4)],
        "after lowering rcvbuf below the charge queued",
    )?;
    expect_charged(
        &ep,
        mem0,
        4096,
        "after lowering rcvbuf below the charge queued",
    )?;
    expect_datagram(fd, &a, "a")?;
    // 3072 still charged: no room.
    tx.send(
        &[],
        "write of 0 bytes with 3072 bytes charged and rcvbuf 2048",
    )?;
    settle(&ep)?;
    expect_datagram(fd, &b, "b")?;
    expect_datagram(fd, &d, "d")?;
    // 2048 charged: exactly the limit, still no room.
    tx.send(&[], "write of 0 bytes with 2048 of 2048 bytes charged")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 1), ("rx_drops", 6)],
        "after reading a, b, d, with 0 bytes sent at 3072 and 2048 charged",
    )?;
    expect_charged(&ep, mem0, 2048, "after reading a, b and d")?;

    // 16 bytes of room: one 1-byte datagram, then not even an empty one.
    okay(ep.set_rcvbuf(2048 + 16), "SET_RCVBUF(2064)")?;
    let h = pattern(10, 1);
    tx.send(&h, "write h (1 byte) with 2048 of 2064 bytes charged")?;
    tx.send(&[], "write of 0 bytes with 2064 of 2064 bytes charged")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", 2), ("rx_drops", 7)],
        "rcvbuf 2064 after 1 and 0 bytes",
    )?;
    expect_charged(&ep, mem0, 2064, "rcvbuf 2064 after 1 and 0 bytes")?;
    drain_expecting(&ep, &[g, h], "draining")?;
    expect_charged(&ep, mem0, 0, "drained")?;

    // 1 MiB + 8.
    const MIB: u32 = 1 << 20;
    okay(ep.set_rcvbuf(MIB + 8), "SET_RCVBUF(1 MiB + 8)")?;
    let fit = MIB as usize / rx_truesize(MAX_DATAGRAM); // 8
    for i in 0..fit + 1 {
        tx.send(
            &pattern(100 + i as u32, MAX_DATAGRAM),
            &format!("65535-byte write #{i} with rcvbuf 1 MiB + 8"),
        )?;
    }
    tx.send(&pattern(200, 1), "write of 1 byte with 8 bytes free")?;
    tx.send(&[], "write of 0 bytes with 8 bytes free")?;
    settle(&ep)?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("queued", fit as u64 + 1), ("rx_drops", 9)],
        "rcvbuf 1 MiB + 8 after nine 65535-byte datagrams, then 1 and 0 bytes",
    )?;
    expect_charged(&ep, mem0, u64::from(MIB) + 8, "rcvbuf 1 MiB + 8, full")?;
    let mut want: Vec<Vec<u8>> = (0..fit)
        .map(|i| pattern(100 + i as u32, MAX_DATAGRAM))
        .collect();
    want.push(Vec::new());
    drain_expecting(&ep, &want, "draining the 1 MiB queue")?;
    expect_charged(&ep, mem0, 0, "drained")
}

/// Payload lengths whose frames (8-byte header included) sit on and just
/// past the allocator's size classes: 8, 16 and 17, 32, 96 and 97, 192,
/// 1008, 2048 and 2049, 4096, 8192 (the largest slab) and 8193 (whole
/// pages from there on), 16008, 65543.
const TRUESIZE_LENS: [usize; 17] = [
    0,
    1,
    7,
    8,
    9,
    24,
    88,
    89,
    184,
    1000,
    2040,
    2041,
    4088,
    8184,
    8185,
    16000,
    MAX_DATAGRAM,
];

/// One datagram at a time of each length in TRUESIZE_LENS: the endpoint's
/// queued_bytes and GET_LIMITS rx_mem grow by exactly `rx_truesize(len)`,
/// the crate's mirror of the kernel's `kmalloc_size_roundup`, and go back
/// when it is read. Every mismatch is listed, so one run shows where the
/// mirror and the kernel part.
pub fn rx_truesize_charged() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    settle(&ep)?;
    let mem0 = limits(&ep)?.rx_mem;
    let mut tx = Paced::new(&ep)?;
    let mut bad = Vec::new();
    for (tag, &len) in TRUESIZE_LENS.iter().enumerate() {
        let data = pattern(tag as u32, len);
        tx.send(&data, &format!("write of {len} bytes"))?;
        settle(&ep)?;
        let want = rx_truesize(len) as u64;
        let s = ep_stats(&ep)?;
        let mem = limits(&ep)?.rx_mem.wrapping_sub(mem0);
        ensure!(
            s.queued == 1 && s.rx_drops == 0,
            "{len} bytes: not queued: {s:?}"
        );
        if u64::from(s.queued_bytes) != want || mem != want {
            bad.push(format!(
                "{len} bytes: queued_bytes {}, rx_mem {mem}, rx_truesize {want}",
                s.queued_bytes
            ));
        }
        expect_datagram(fd, &data, &format!("the datagram of {len} bytes"))?;
        expect_charged(
            &ep,
            mem0,
            0,
            &format!("after reading the datagram of {len} bytes"),
        )?;
    }
    ensure!(
        bad.is_empty(),
        "charged other than rx_truesize: {}",
        bad.join("; ")
    );
    Ok(())
}
