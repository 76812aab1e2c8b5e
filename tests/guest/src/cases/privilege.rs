//! The device node is mode 0666: any user may open it, and must not be able
//! to change the NIC for everyone or take its memory. These tests fork a
//! child that gives up root (no supplementary groups, gid and uid 65534,
//! no capabilities left) and check, as that child:
//! - SET_RCVBUF above `rmem_max` is clamped to it (as `SO_RCVBUF` is to
//!   `net.core.rmem_max`), and the clamped limit is the one enforced; root
//!   (`CAP_NET_ADMIN`, like `SO_RCVBUFFORCE`) gets what it asks for;
//! - the NIC-wide ioctls (generator, wire delay, counter reset, loopback,
//!   limits) fail with EPERM and change nothing, also on a descriptor root
//!   opened (the caller's privilege counts, not the opener's), while
//!   GET_LIMITS and the statistics work;
//! - the NIC-wide receive memory budget `rx_mem_max` (like `udp_mem`) holds
//!   against many endpoints with the largest buffers they may have: the
//!   excess is dropped and counted (`rx_mem_drops`), and closing gives
//!   everything back.
//!
//! Also here: a generator flow belongs to the endpoint that started it and
//! stops when that endpoint is closed, so no process can leave one running.

use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::Duration;

use simnic::{
    rx_truesize, Endpoint, Limits, MiniEpoll, GEN_STOP_ALL, MAX_DATAGRAM, MINI_EPOLL_CTL_ADD,
    MINI_EPOLL_CTL_DEL, MINI_EPOLL_MAX_USER_WATCHES_DEFAULT, RCVBUF_MAX, RCVBUF_MIN,
    RMEM_MAX_DEFAULT, RX_MEM_MAX_DEFAULT,
};

use crate::net::*;
use crate::sys::*;

/// The user and group the children become (`nobody`).
const NOBODY: u32 = 65534;
/// Bit of `CAP_NET_ADMIN` in the capability sets of /proc/PID/status.
const CAP_NET_ADMIN_BIT: u64 = 1 << 12;
/// How long an unprivileged child may take; the test's alarm comes first.
const CHILD_LIMIT: Duration = Duration::from_secs(60);

/// The effective capabilities of this process (`CapEff:` of
/// /proc/self/status).
fn cap_eff() -> Result<u64, String> {
    const PATH: &str = "/proc/self/status";
    let status = std::fs::read_to_string(PATH).map_err(|e| format!("{PATH}: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or_else(|| format!("{PATH}: no CapEff line"))
}

/// Gives up root for good: supplementary groups, gid, uid (setgroups,
/// setgid, setuid, in that order, as a daemon does), then checks that no
/// capability is left and that root cannot be taken back.
fn drop_root() -> TestResult {
    // SAFETY: plain system calls with integer arguments; setgroups gets an
    // empty list (a null pointer is allowed with size 0).
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return Err(format!("setgroups(0): {}", errname(errno())));
        }
        if libc::setgid(NOBODY) != 0 {
            return Err(format!("setgid({NOBODY}): {}", errname(errno())));
        }
        if libc::setuid(NOBODY) != 0 {
            return Err(format!("setuid({NOBODY}): {}", errname(errno())));
        }
    }
    let caps = cap_eff()?;
    ensure!(
        caps == 0,
        "after setuid({NOBODY}) the effective capabilities are {caps:#x} (CAP_NET_ADMIN {})",
        if caps & CAP_NET_ADMIN_BIT != 0 {
            "kept"
        } else {
            "gone"
        }
    );
    // SAFETY: as above.
    let (uid, euid, back) = unsafe { (libc::getuid(), libc::geteuid(), libc::setuid(0)) };
    ensure!(
        uid == NOBODY && euid == NOBODY && back != 0,
        "after dropping root: uid {uid}, euid {euid}, setuid(0) returned {back}"
    );
    Ok(())
}

/// Runs `f` in a forked child that first gives up root ([`drop_root`]);
/// its failure reason (or panic) comes back through a pipe.
pub(crate) fn as_nobody(what: &str, f: impl FnOnce() -> TestResult) -> TestResult {
    let pipe = Pipe::new()?;
    let w = pipe.w.as_raw_fd();
    let mut child = Child::spawn(move || {
        let run = std::panic::AssertUnwindSafe(|| drop_root().and_then(|()| f()));
        let result = std::panic::catch_unwind(run).unwrap_or_else(|_| Err(take_panic_message()));
        match result {
            Ok(()) => 0,
            Err(reason) => {
                let mut bytes = reason.into_bytes();
                bytes.truncate(4000); // below PIPE_BUF: one write, never blocks
                let _ = write(w, &bytes);
                1
            }
        }
    })?;
    drop(pipe.w);
    let status = child.wait(CHILD_LIMIT)?;
    let mut reason = Vec::new();
    set_nonblocking(pipe.r.as_raw_fd(), true)?;
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = read(pipe.r.as_raw_fd(), &mut chunk) {
        reason.extend_from_slice(&chunk[..n]);
    }
    match status {
        Some(0) => Ok(()),
        Some(_) if !reason.is_empty() => Err(format!(
            "{what}, as uid {NOBODY}: {}",
            String::from_utf8_lossy(&reason)
        )),
        Some(st) => Err(format!(
            "{what}: the unprivileged child {}",
            describe_status(st)
        )),
        None => Err(format!(
            "{what}: the unprivileged child still runs after {} s",
            CHILD_LIMIT.as_secs()
        )),
    }
}

/// The test runs as root with CAP_NET_ADMIN: what it checks means nothing
/// otherwise.
fn expect_net_admin() -> TestResult {
    let caps = cap_eff()?;
    ensure!(
        caps & CAP_NET_ADMIN_BIT != 0,
        "the test itself runs without CAP_NET_ADMIN (CapEff {caps:#x})"
    );
    Ok(())
}

/// SET_RCVBUF of `ask` must leave the receive buffer at `got`.
fn expect_rcvbuf(ep: &Endpoint, ask: u32, got: u32, who: &str) -> TestResult {
    okay(ep.set_rcvbuf(ask), &format!("{who}: SET_RCVBUF({ask})"))?;
    expect_ep(
        &ep_stats(ep)?,
        &[("rcvbuf", got.into())],
        &format!("{who}: after SET_RCVBUF({ask})"),
    )
}

/// Payload lengths charged 131072 + 65536 + 16384 = 212992, the default
/// `rmem_max`.
const FILL_RMEM_MAX: [usize; 3] = [MAX_DATAGRAM, 40_000, 10_000];
const _: () = assert!(
    rx_truesize(FILL_RMEM_MAX[0]) + rx_truesize(FILL_RMEM_MAX[1]) + rx_truesize(FILL_RMEM_MAX[2])
        == RMEM_MAX_DEFAULT as usize
);

/// Without CAP_NET_ADMIN, SET_RCVBUF above `rmem_max` (212992 by default)
/// gives `rmem_max`, at or below it what was asked; out-of-range values are
/// still EINVAL. The clamped limit is enforced: three datagrams charged
/// 212992 together fill it, an empty one more is dropped. A lower
/// `rmem_max` (SET_LIMITS) clamps the next SET_RCVBUF to it. Root gets
/// everything up to RCVBUF_MAX, whatever `rmem_max` is.
pub fn unprivileged_rcvbuf_clamped() -> TestResult {
    expect_net_admin()?;
    let root = open_dev_nonblocking()?;
    let _restore = NicRestore(&root);
    let lim = limits(&root)?;
    ensure!(
        lim.rmem_max == RMEM_MAX_DEFAULT,
        "GET_LIMITS rmem_max is {}, expected the default {RMEM_MAX_DEFAULT}",
        lim.rmem_max
    );
    let rmem = lim.rmem_max;
    for v in [RCVBUF_MIN, rmem + 1, RCVBUF_MAX] {
        expect_rcvbuf(&root, v, v, "root")?;
    }

    as_nobody("SET_RCVBUF", || {
        let ep = open_dev_nonblocking()?;
        for (ask, got) in [
            (RCVBUF_MAX, rmem),
            (rmem + 1, rmem),
            (RCVBUF_MIN, RCVBUF_MIN),
            (rmem, rmem),
            (rmem - 1, rmem - 1),
            (4096, 4096),
        ] {
            expect_rcvbuf(&ep, ask, got, "nobody")?;
        }
        for bad in [0, RCVBUF_MIN - 1, RCVBUF_MAX + 1, u32::MAX] {
            expect_io_errno(
                ep.set_rcvbuf(bad),
                libc::EINVAL,
                &format!("nobody: SET_RCVBUF({bad})"),
            )?;
        }
        expect_ep(
            &ep_stats(&ep)?,
            &[("rcvbuf", 4096)],
            "nobody: after the refused SET_RCVBUFs",
        )?;

        // Asked for 16 MiB, got 212992, and 212992 is what holds.
        expect_rcvbuf(&ep, RCVBUF_MAX, rmem, "nobody")?;
        let mut tx = Paced::new(&ep)?;
        let sent: Vec<Vec<u8>> = FILL_RMEM_MAX
            .iter()
            .enumerate()
            .map(|(i, &n)| pattern(i as u32, n))
            .collect();
        for d in &sent {
            tx.send(d, &format!("nobody: write of {} bytes", d.len()))?;
        }
        tx.send(&[], "nobody: write of 0 bytes with rmem_max charged")?;
        settle(&ep)?;
        expect_ep(
            &ep_stats(&ep)?,
            &[
                ("queued", 3),
                ("queued_bytes", rmem.into()),
                ("rx_drops", 1),
            ],
            "nobody: rcvbuf clamped to rmem_max, after 65535, 40000, 10000 and 0 bytes",
        )?;
        for (i, d) in sent.iter().enumerate() {
            expect_datagram(ep.as_raw_fd(), d, &format!("nobody: datagram #{i}"))?;
        }
        Ok(())
    })?;

    // A lower rmem_max clamps lower; it does not touch the root's buffer.
    let low = 65536;
    okay(
        root.set_limits(&Limits {
            rmem_max: low,
            ..lim
        }),
        "SET_LIMITS rmem_max 65536",
    )?;
    expect_ep(
        &ep_stats(&root)?,
        &[("rcvbuf", RCVBUF_MAX.into())],
        "root, after rmem_max was lowered",
    )?;
    as_nobody("SET_RCVBUF with rmem_max 65536", || {
        let ep = open_dev_nonblocking()?;
        for (ask, got) in [
            (RCVBUF_MAX, low),
            (rmem, low),
            (low + 1, low),
            (low, low),
            (4096, 4096),
        ] {
            expect_rcvbuf(&ep, ask, got, "nobody")?;
        }
        Ok(())
    })?;
    expect_rcvbuf(&root, rmem, rmem, "root with rmem_max 65536")?;
    okay(root.set_limits(&lim), "SET_LIMITS back to the defaults")?;
    let back = limits(&root)?;
    ensure!(
        (back.rmem_max, back.rx_mem_max) == (lim.rmem_max, lim.rx_mem_max),
        "GET_LIMITS after restoring them: {back:?}, expected {lim:?}"
    );
    Ok(())
}

/// Without CAP_NET_ADMIN, GEN_START, GEN_STOP, SET_TX_DELAY, RESET_STATS,
/// SET_LOOPBACK and SET_LIMITS fail with EPERM, on the child's own endpoint
/// and on one root opened (privilege is the caller's, as for
/// `SO_RCVBUFFORCE`), and change nothing: the root's generator flow runs
/// on, the refused flow never sends, the wire delay stays 0, the counters
/// are not reset, frames still loop back, the limits are as they were.
/// GET_LIMITS, NIC_STATS, EP_STATS and RING_STATE work, and so do sending
/// and receiving.
pub fn unprivileged_admin_ioctls_eperm() -> TestResult {
    expect_net_admin()?;
    let root = open_dev_nonblocking()?;
    let _restore = NicRestore(&root);
    let rx = open_dev_nonblocking()?;
    okay(rx.set_rcvbuf(RCVBUF_MAX), "receiver: SET_RCVBUF")?;
    let rx_port = port_of(&rx)?;

    // Counters a reset would visibly take back: five echoes.
    let mut tx = Paced::new(&root)?;
    for i in 0..5 {
        tx.send(&pattern(i, 8), "root: echo")?;
    }
    for i in 0..5 {
        expect_datagram(root.as_raw_fd(), &pattern(i, 8), "root: echo")?;
    }
    settle(&root)?;
    let lim0 = limits(&root)?;
    let n0 = nic_stats(&root)?;
    // A flow for the child to try to stop: flow 0, no count, 50 per second.
    okay(
        root.gen_start(&flow(0, rx_port, 16, 50, 1, 0)),
        "root: GEN_START flow 0",
    )?;
    wait_nic(&root, ARRIVAL, "the root's flow", |s| {
        s.gen_packets > n0.gen_packets
    })?;

    let root_fd = root.as_raw_fd();
    as_nobody("the NIC-wide ioctls", || {
        let own = open_dev_nonblocking()?;
        // SAFETY: the descriptor is the root's endpoint, open in this forked
        // child too; ManuallyDrop leaves closing it to the parent.
        let opened_by_root = ManuallyDrop::new(unsafe { Endpoint::from_raw_fd(root_fd) });
        for (who, ep) in [
            ("own endpoint", &own),
            ("endpoint root opened", &*opened_by_root),
        ] {
            let what = |call: &str| format!("{call} on the {who}");
            let denied: [(&str, std::io::Result<()>); 8] = [
                (
                    "GEN_START flow 1",
                    ep.gen_start(&flow(1, rx_port, 16, 1000, 1, 1)),
                ),
                ("GEN_STOP flow 0", ep.gen_stop(0)),
                ("GEN_STOP all", ep.gen_stop(GEN_STOP_ALL)),
                ("SET_TX_DELAY 1 ms", ep.set_tx_delay_ns(1_000_000)),
                ("RESET_STATS", ep.reset_stats()),
                ("SET_LOOPBACK off", ep.set_loopback(false)),
                (
                    "SET_LIMITS",
                    ep.set_limits(&Limits {
                        rmem_max: RCVBUF_MAX,
                        rx_mem_max: u32::MAX,
                        rx_mem: 0,
                    }),
                ),
                ("SET_LIMITS to the current values", ep.set_limits(&lim0)),
            ];
            for (call, r) in denied {
                expect_io_errno(r, libc::EPERM, &what(call))?;
            }
            // Reading is for everyone.
            let l = okay(ep.limits(), &what("GET_LIMITS"))?;
            ensure!(
                (l.rmem_max, l.rx_mem_max) == (lim0.rmem_max, lim0.rx_mem_max),
                "{}: {l:?}, expected {lim0:?}",
                what("GET_LIMITS")
            );
            let n = okay(ep.nic_stats(), &what("NIC_STATS"))?;
            ensure!(
                n.tx_packets == n0.tx_packets && n.gen_packets > n0.gen_packets,
                "{}: tx_packets {} and gen_packets {}, expected {} and more than {}",
                what("NIC_STATS"),
                n.tx_packets,
                n.gen_packets,
                n0.tx_packets,
                n0.gen_packets
            );
            let r = okay(ep.ring_state(), &what("RING_STATE"))?;
            ensure!(
                r.tx_delay_ns == 0,
                "{}: tx_delay_ns {}",
                what("RING_STATE"),
                r.tx_delay_ns
            );
            let s = okay(ep.ep_stats(), &what("EP_STATS"))?;
            ensure!(
                s.port == port_of(ep)?,
                "{}: port {} of {}",
                what("EP_STATS"),
                s.port,
                port_of(ep)?
            );
        }
        // An unprivileged user's traffic goes through, looped back.
        send(own.as_raw_fd(), b"nobody", "nobody: echo")?;
        expect_datagram(own.as_raw_fd(), b"nobody", "nobody: echo")
    })?;

    // The root's flow was not stopped.
    let g = nic_stats(&root)?.gen_packets;
    wait_nic(&root, ARRIVAL, "the root's flow after the child", |s| {
        s.gen_packets > g
    })?;
    okay(root.gen_stop(0), "root: GEN_STOP flow 0")?;
    // An engine pass under way may still deliver after GEN_STOP: run one
    // more (root kicks it), which starts after that one has ended.
    engine_pass(&root)?;
    let r = ring_state(&root)?;
    ensure!(
        r.tx_delay_ns == 0,
        "RING_STATE tx_delay_ns {} after the child",
        r.tx_delay_ns
    );
    let l = limits(&root)?;
    ensure!(
        (l.rmem_max, l.rx_mem_max) == (lim0.rmem_max, lim0.rx_mem_max),
        "GET_LIMITS after the child: {l:?}, expected {lim0:?}"
    );
    // Not reset: exactly the child's echo and root's engine kick were sent
    // since n0, none lost.
    let d = nic_delta(&n0, &nic_stats(&root)?);
    expect_nic(
        &d,
        &[("tx_packets", 2), ("tx_lost", 0), ("rx_no_port", 0)],
        "after the child",
    )?;
    // Only flow 0 reached the receiver, and every datagram it generated is
    // accounted for.
    expect_flow_accounted(&drain_flows(&rx)?, 0, &d, "the receiver")?;
    // Loopback is still on.
    send(root.as_raw_fd(), b"root", "root: echo after the child")?;
    expect_datagram(root.as_raw_fd(), b"root", "root: echo after the child")?;
    settle(&root)?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&root)?),
        &[("tx_lost", 0)],
        "at the end",
    )
}

/// Puts the limits back when dropped, even when the test fails half-way.
struct LimitsRestore<'a>(&'a Endpoint, Limits);

impl Drop for LimitsRestore<'_> {
    fn drop(&mut self) {
        let _ = self.0.set_limits(&self.1);
    }
}

/// The NIC-wide budget against a user with many endpoints. Root sets
/// `rx_mem_max` to 256 KiB (SET_LIMITS refuses an `rmem_max` out of
/// range and an `rx_mem_max` below RCVBUF_MIN). The child opens eight
/// endpoints, asks each for RCVBUF_MAX (gets `rmem_max`, 212992) and sends
/// 1000-byte datagrams (1024 each) without reading: 220 to the first (208
/// fit its buffer, 12 are dropped as queue full), 60 to the second (48 fit
/// what is left of the budget, 12 are dropped as rx_mem_drops), 5 to each
/// of the others (all rx_mem_drops). GET_LIMITS rx_mem never exceeds the
/// budget and reaches it exactly; the counters match exactly. Reading one
/// datagram makes room for exactly one more; an empty datagram (8 bytes)
/// does not fit a full budget. Closing the endpoints gives all back.
pub fn unprivileged_rx_mem_budget() -> TestResult {
    const BUDGET: u32 = 256 << 10;
    const LEN: usize = 1000;
    const ENDPOINTS: usize = 8;
    expect_net_admin()?;
    let root = open_dev_nonblocking()?;
    let _restore = NicRestore(&root);
    let lim0 = limits(&root)?;
    ensure!(
        (lim0.rmem_max, lim0.rx_mem_max, lim0.rx_mem) == (RMEM_MAX_DEFAULT, RX_MEM_MAX_DEFAULT, 0),
        "GET_LIMITS {lim0:?}, expected the defaults and nothing charged (nothing is queued anywhere)"
    );
    let _limits = LimitsRestore(&root, lim0);
    for (bad, name) in [
        (
            Limits {
                rmem_max: RCVBUF_MIN - 1,
                ..lim0
            },
            "rmem_max below RCVBUF_MIN",
        ),
        (
            Limits {
                rmem_max: RCVBUF_MAX + 1,
                ..lim0
            },
            "rmem_max above RCVBUF_MAX",
        ),
        (
            Limits {
                rx_mem_max: RCVBUF_MIN - 1,
                ..lim0
            },
            "rx_mem_max below RCVBUF_MIN",
        ),
    ] {
        expect_io_errno(
            root.set_limits(&bad),
            libc::EINVAL,
            &format!("SET_LIMITS with {name}"),
        )?;
    }
    okay(
        root.set_limits(&Limits {
            rx_mem_max: BUDGET,
            ..lim0
        }),
        "SET_LIMITS rx_mem_max 256 KiB",
    )?;
    let lim = limits(&root)?;
    ensure!(
        (lim.rmem_max, lim.rx_mem_max, lim.rx_mem) == (RMEM_MAX_DEFAULT, BUDGET, 0),
        "GET_LIMITS after SET_LIMITS: {lim:?}"
    );

    as_nobody("filling the receive memory budget", || {
        let max = u64::from(BUDGET);
        let t = rx_truesize(LEN) as u64;
        let per_ep = u64::from(RMEM_MAX_DEFAULT) / t; // 208
        let second = (max - per_ep * t) / t; // 48
        ensure!(
            per_ep * t + second * t == max,
            "test design: the budget is no multiple of {t}"
        );
        let eps: Vec<Endpoint> = (0..ENDPOINTS)
            .map(|_| open_dev_nonblocking())
            .collect::<Result<_, _>>()?;
        let ports: Vec<u32> = eps.iter().map(port_of).collect::<Result<_, _>>()?;
        for ep in &eps {
            expect_rcvbuf(ep, RCVBUF_MAX, RMEM_MAX_DEFAULT, "nobody")?;
        }
        let sender = open_dev_nonblocking()?;
        settle(&sender)?;
        let n0 = nic_stats(&sender)?;
        let mut tx = Paced::new(&sender)?;
        let mut tag = 0u32;
        let mut send_to = |tx: &mut Paced, to: usize, len: usize| -> TestResult {
            tag += 1;
            tx.send_to(
                ports[to],
                &pattern(tag, len),
                &format!("nobody: {len} bytes to endpoint #{to}"),
            )?;
            let mem = limits(&sender)?.rx_mem;
            ensure!(
                mem <= max,
                "GET_LIMITS rx_mem {mem} is over rx_mem_max {max}"
            );
            Ok(())
        };
        let expect_mem = |want: u64, what: &str| -> TestResult {
            settle(&sender)?;
            let mem = limits(&sender)?.rx_mem;
            ensure!(
                mem == want,
                "{what}: GET_LIMITS rx_mem {mem}, expected {want}"
            );
            Ok(())
        };

        for _ in 0..per_ep + 12 {
            send_to(&mut tx, 0, LEN)?;
        }
        expect_mem(per_ep * t, "after 220 datagrams to endpoint #0")?;
        for _ in 0..second + 12 {
            send_to(&mut tx, 1, LEN)?;
        }
        expect_mem(max, "after 60 datagrams to endpoint #1")?;
        for to in 2..ENDPOINTS {
            for _ in 0..5 {
                send_to(&mut tx, to, LEN)?;
            }
        }
        expect_mem(max, "after 5 datagrams to each other endpoint")?;
        let others = 5 * (ENDPOINTS as u64 - 2);
        expect_ep(
            &ep_stats(&eps[0])?,
            &[
                ("rcvbuf", RMEM_MAX_DEFAULT.into()),
                ("queued", per_ep),
                ("queued_bytes", per_ep * t),
                ("rx_drops", 12),
            ],
            "endpoint #0",
        )?;
        expect_ep(
            &ep_stats(&eps[1])?,
            &[
                ("queued", second),
                ("queued_bytes", second * t),
                ("rx_drops", 12),
            ],
            "endpoint #1",
        )?;
        for (i, ep) in eps.iter().enumerate().skip(2) {
            expect_ep(
                &ep_stats(ep)?,
                &[("queued", 0), ("queued_bytes", 0), ("rx_drops", 5)],
                &format!("endpoint #{i}"),
            )?;
        }
        expect_nic(
            &nic_delta(&n0, &nic_stats(&sender)?),
            &[
                ("tx_packets", per_ep + 12 + second + 12 + others),
                ("rx_packets", per_ep + second),
                ("rx_queue_full", 12),
                ("rx_mem_drops", 12 + others),
                ("rx_missed", 0),
            ],
            "with the budget used up",
        )?;

        // One read frees 1024: room for one more, not two.
        let mut buf = vec![0u8; LEN];
        okay(eps[1].recv(&mut buf), "nobody: read on endpoint #1")?;
        expect_mem(max - t, "after one read")?;
        send_to(&mut tx, 2, LEN)?;
        send_to(&mut tx, 2, LEN)?;
        expect_mem(max, "after one read and two datagrams more")?;
        // Not even an empty datagram fits a full budget.
        send_to(&mut tx, 3, 0)?;
        expect_mem(max, "after an empty datagram")?;
        expect_ep(
            &ep_stats(&eps[2])?,
            &[("queued", 1), ("rx_drops", 6)],
            "endpoint #2 at the end",
        )?;
        expect_ep(
            &ep_stats(&eps[3])?,
            &[("queued", 0), ("rx_drops", 6)],
            "endpoint #3 at the end",
        )?;
        expect_nic(
            &nic_delta(&n0, &nic_stats(&sender)?),
            &[
                ("rx_packets", per_ep + second + 1),
                ("rx_queue_full", 12),
                ("rx_mem_drops", 12 + others + 2),
            ],
            "at the end",
        )?;

        // Closing gives everything back.
        drop(eps);
        let mem = limits(&sender)?.rx_mem;
        ensure!(
            mem == 0,
            "GET_LIMITS rx_mem {mem} after the endpoints were closed, expected 0"
        );
        Ok(())
    })?;
    let l = limits(&root)?;
    ensure!(
        l.rx_mem == 0,
        "GET_LIMITS rx_mem {} after the child exited, expected 0",
        l.rx_mem
    );
    Ok(())
}

/// Reads every datagram queued on `ep` (generated ones, at most 64 bytes):
/// their (flow, sequence number) pairs.
fn drain_flows(ep: &Endpoint) -> Result<Vec<(u32, u64)>, String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match ep.recv_from(&mut buf, true) {
            Ok(info) => {
                ensure!(
                    info.len >= 12 && info.src_port == 0,
                    "not a generated datagram: {info:?}"
                );
                let flow = u32::from_le_bytes(buf[..4].try_into().unwrap());
                let seq = u64::from_le_bytes(buf[4..12].try_into().unwrap());
                out.push((flow, seq));
            }
            Err(e) if raw(&e) == libc::EAGAIN => return Ok(out),
            Err(e) => return Err(format!("RECVFROM: {}", io_name(&e))),
        }
    }
}

/// `got` (from [`drain_flows`]) is datagrams of `flow` only, in sequence,
/// and they and the drops in the NIC counters' change `d` add up to the
/// datagrams generated.
fn expect_flow_accounted(
    got: &[(u32, u64)],
    flow: u32,
    d: &simnic::NicStats,
    what: &str,
) -> TestResult {
    ensure!(
        got.iter().all(|&(f, _)| f == flow) && got.windows(2).all(|w| w[1].1 > w[0].1),
        "{what}: expected flow {flow} only, in sequence; got {got:?}"
    );
    let dropped = d.rx_queue_full + d.rx_missed;
    ensure!(
        got.len() as u64 + dropped == d.gen_packets,
        "{what}: got {} datagrams, {dropped} were dropped (queue full {}, missed {}), but {} were generated",
        got.len(),
        d.rx_queue_full,
        d.rx_missed,
        d.gen_packets
    );
    Ok(())
}

/// Closing the endpoint that started a flow stops it: a flow of a million
/// datagrams started by A stops generating once A is closed. A flow
/// belongs to the last endpoint that started it: flow 1 started by B and
/// restarted by D runs on after B is closed, while flow 2, started by C,
/// stops when C is; flow 1 stops when D stops it.
pub fn gen_flows_stop_with_owner() -> TestResult {
    let rx = open_dev_nonblocking()?;
    // Sends itself a datagram to make the engine run a pass (an engine pass
    // already under way may deliver a few bursts of a flow stopped
    // meanwhile: the kicked pass starts after it ended).
    let kick = open_dev_nonblocking()?;
    let _restore = NicRestore(&rx);
    okay(rx.set_rcvbuf(RCVBUF_MAX), "receiver: SET_RCVBUF")?;
    let port = port_of(&rx)?;
    settle(&rx)?;
    let n0 = nic_stats(&rx)?;

    let a = open_dev_nonblocking()?;
    okay(
        a.gen_start(&flow(0, port, 16, 200, 1, 1_000_000)),
        "A: GEN_START flow 0",
    )?;
    wait_nic(&rx, ARRIVAL, "flow 0", |s| {
        s.gen_packets >= n0.gen_packets + 5
    })?;
    drop(a);
    expect_generator_stopped(&rx, &kick, "after A, which started flow 0, was closed")?;
    settle(&rx)?;
    let d = nic_delta(&n0, &nic_stats(&rx)?);
    expect_flow_accounted(&drain_flows(&rx)?, 0, &d, "the receiver of flow 0")?;

    let b = open_dev_nonblocking()?;
    let c = open_dev_nonblocking()?;
    let d = open_dev_nonblocking()?;
    okay(
        b.gen_start(&flow(1, port, 16, 100, 1, 0)),
        "B: GEN_START flow 1",
    )?;
    okay(
        d.gen_start(&flow(1, port, 16, 100, 1, 0)),
        "D: GEN_START flow 1 (restart)",
    )?;
    okay(
        c.gen_start(&flow(2, port, 16, 100, 1, 0)),
        "C: GEN_START flow 2",
    )?;
    let mut seen = std::collections::BTreeSet::new();
    while !(seen.contains(&1) && seen.contains(&2)) {
        ensure!(
            wait_readable(rx.as_raw_fd(), ARRIVAL)?,
            "flows 1 and 2: only flows {seen:?} arrived within {} s",
            ARRIVAL.as_secs()
        );
        seen.extend(drain_flows(&rx)?.into_iter().map(|(f, _)| f));
    }
    drop(b);
    drop(c);
    // Whatever flow 2 made before C closed is delivered by the end of the
    // kicked pass and read away here.
    engine_pass(&kick)?;
    let before = drain_flows(&rx)?;
    ensure!(
        before.iter().all(|&(f, _)| f == 1 || f == 2),
        "flows other than 1 and 2 arrived: {before:?}"
    );
    // Flow 1 must go on (a must-happen wait, hence generous).
    let g = nic_stats(&rx)?.gen_packets;
    wait_nic(&rx, ARRIVAL, "flow 1 after B and C were closed", |s| {
        s.gen_packets > g
    })?;
    ensure!(
        wait_readable(rx.as_raw_fd(), ARRIVAL)?,
        "flow 1 generated, but nothing arrived within {} s",
        ARRIVAL.as_secs()
    );
    let after = drain_flows(&rx)?;
    ensure!(
        after.iter().all(|&(f, _)| f == 1) && after.windows(2).all(|w| w[1].1 > w[0].1),
        "after B and C were closed, expected flow 1 only, in sequence; got {after:?}"
    );
    okay(d.gen_stop(1), "D: GEN_STOP flow 1")?;
    expect_generator_stopped(&rx, &kick, "after GEN_STOP of flow 1")?;
    drop(d);
    Ok(())
}

/// Puts `max_user_watches` back to its default when dropped.
struct WatchesRestore(MiniEpoll);

impl Drop for WatchesRestore {
    fn drop(&mut self) {
        let _ = self
            .0
            .set_max_user_watches(MINI_EPOLL_MAX_USER_WATCHES_DEFAULT);
    }
}

/// mini-epoll items are bounded per user, not per instance
/// (`max_user_watches`, as for epoll): an item pins its target's file, and
/// any user may open /dev/simnic-epoll many times. With the bound lowered
/// to 8 (root, `CAP_SYS_ADMIN`), an unprivileged user adds 8 items across
/// two instances, and the ninth gives `ENOSPC` in either; a DEL or closing
/// an instance gives its watches back. Root's own count is separate, and
/// the unprivileged user may not change the bound (`EPERM`).
pub fn unprivileged_user_watches_bounded() -> TestResult {
    expect_net_admin()?;
    let admin = WatchesRestore(okay(MiniEpoll::open(), "root: open /dev/simnic-epoll")?);
    let info = okay(admin.0.info(), "root: INFO")?;
    ensure!(
        info.max_user_watches == MINI_EPOLL_MAX_USER_WATCHES_DEFAULT,
        "max_user_watches is {} before the test, expected the default {MINI_EPOLL_MAX_USER_WATCHES_DEFAULT}",
        info.max_user_watches
    );
    okay(
        admin.0.set_max_user_watches(8),
        "root: SET_LIMITS(max_user_watches 8)",
    )?;
    // Root holds 3 of its own, which do not count against the other user.
    let root_targets: Vec<Endpoint> = (0..3)
        .map(|_| open_dev_nonblocking())
        .collect::<Result<_, _>>()?;
    for (i, t) in root_targets.iter().enumerate() {
        okay(
            admin.0.ctl(
                MINI_EPOLL_CTL_ADD,
                t.as_raw_fd(),
                libc::EPOLLIN as u32,
                i as u64,
            ),
            "root: ADD",
        )?;
    }
    as_nobody("user watches", || {
        let add = |mux: &MiniEpoll, t: &Endpoint| {
            mux.ctl(MINI_EPOLL_CTL_ADD, t.as_raw_fd(), libc::EPOLLIN as u32, 0)
        };
        let targets: Vec<Endpoint> = (0..10)
            .map(|_| open_dev_nonblocking())
            .collect::<Result<_, _>>()?;
        let (a, b) = (
            okay(MiniEpoll::open(), "open")?,
            okay(MiniEpoll::open(), "open")?,
        );
        for t in &targets[..5] {
            okay(add(&a, t), "ADD to the first instance")?;
        }
        for t in &targets[5..8] {
            okay(add(&b, t), "ADD to the second instance")?;
        }
        let info = okay(b.info(), "INFO")?;
        ensure!(
            info.user_watches == 8 && info.items == 3,
            "after 5 + 3 ADDs: user_watches {}, items {} (expected 8 and 3)",
            info.user_watches,
            info.items
        );
        expect_io_errno(
            add(&a, &targets[8]),
            libc::ENOSPC,
            "the ninth ADD, first instance",
        )?;
        expect_io_errno(
            add(&b, &targets[8]),
            libc::ENOSPC,
            "the ninth ADD, second instance",
        )?;
        expect_io_errno(
            b.set_max_user_watches(1000),
            libc::EPERM,
            "SET_LIMITS without CAP_SYS_ADMIN",
        )?;
        // A DEL gives one back.
        okay(
            b.ctl(MINI_EPOLL_CTL_DEL, targets[5].as_raw_fd(), 0, 0),
            "DEL",
        )?;
        okay(add(&b, &targets[8]), "ADD after a DEL")?;
        expect_io_errno(add(&b, &targets[9]), libc::ENOSPC, "ADD at the bound again")?;
        // Closing an instance gives back all of its.
        drop(a);
        let c = okay(MiniEpoll::open(), "open")?;
        for t in &targets[..5] {
            okay(add(&c, t), "ADD after the first instance was closed")?;
        }
        let info = okay(c.info(), "INFO")?;
        ensure!(
            info.user_watches == 8,
            "after closing an instance of 5 and adding 5: user_watches {}, expected 8",
            info.user_watches
        );
        Ok(())
    })?;
    let info = okay(admin.0.info(), "root: INFO")?;
    ensure!(
        info.user_watches == 3,
        "root's watches are {} after the other user's test, expected its own 3",
        info.user_watches
    );
    drop(root_targets);
    Ok(())
}
