//! Pending errors, as a connected UDP socket gets them: a datagram from a
//! connected endpoint that reaches no bound port gives the sender
//! `ECONNREFUSED` on its next read, once, with `POLLERR` until then (an ICMP
//! port unreachable and `sk_err` for UDP; simnic's poll finds the unbound
//! port itself). Compared with UDP on 127.0.0.1 in the same run.

use std::os::fd::AsRawFd;
use std::time::Instant;

use crate::cases::sigio::unbound_port;
use crate::net::*;
use crate::sys::*;
use crate::udp::*;

const WRITABLE: libc::c_short = libc::POLLOUT | libc::POLLWRNORM;

/// Waits until poll reports `POLLERR` (the datagram crossed the NIC).
fn wait_pollerr(fd: i32, what: &str) -> TestResult {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, rev) = poll_one(fd, libc::POLLIN, 100)?;
        if rev & libc::POLLERR != 0 {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{what}: no POLLERR within {} s (revents {})",
            WAIT.as_secs(),
            poll_names(rev)
        );
    }
}

/// The error sequence of a connected sender, UDP then simnic: POLLERR,
/// one read with ECONNREFUSED, then EAGAIN and no POLLERR. simnic counts it
/// in `port_unreach` and shows it in `EpStats::error` until read.
pub fn econnrefused_once_like_udp() -> TestResult {
    let udp = udp_socket()?;
    let closed = unused_udp_port()?;
    udp.connect(("127.0.0.1", closed))
        .map_err(|e| format!("UDP connect: {e}"))?;
    udp.set_nonblocking(true).map_err(|e| e.to_string())?;
    udp.send(b"u").map_err(|e| format!("UDP send: {e}"))?;
    let ufd = udp.as_raw_fd();
    wait_pollerr(ufd, "UDP")?;
    let mut buf = [0u8; 8];
    let udp_seq = [read(ufd, &mut buf), read(ufd, &mut buf)];
    ensure!(
        udp_seq == [Err(libc::ECONNREFUSED), Err(libc::EAGAIN)],
        "UDP reference: reads after the error gave {udp_seq:?}"
    );

    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let port = unbound_port()?;
    okay(ep.connect(port), "CONNECT to an unbound port")?;
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    send(fd, b"s", "write to the unbound port")?;
    wait_pollerr(fd, "simnic")?;
    expect_poll(fd, libc::POLLERR | WRITABLE, "error pending")?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("error", libc::ECONNREFUSED as u64)],
        "error pending",
    )?;
    let seq = [read(fd, &mut buf), read(fd, &mut buf)];
    ensure!(
        seq == udp_seq,
        "simnic: reads after the error gave {seq:?}, UDP {udp_seq:?}"
    );
    expect_poll(fd, WRITABLE, "error read")?;
    expect_ep(&ep_stats(&ep)?, &[("error", 0)], "error read")?;
    settle(&ep)?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[
            ("tx_packets", 1),
            ("rx_no_port", 1),
            ("port_unreach", 1),
            ("rx_packets", 0),
        ],
        "one datagram to an unbound port",
    )
}

/// A reader blocked in a child wakes with ECONNREFUSED when the error
/// arrives (`sk_error_report` wakes the queue).
pub fn econnrefused_wakes_blocked_reader() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let port = unbound_port()?;
    okay(ep.connect(port), "CONNECT to an unbound port")?;
    let pipe = Pipe::new()?;
    let report = pipe.w.as_raw_fd();
    let mut child = Child::spawn(move || {
        let start = Instant::now();
        if !Report::ready(0).send(report) {
            return 2;
        }
        let r = read(fd, &mut [0u8; 16]);
        i32::from(!Report::done(0, r, start, &[]).send(report))
    })?;
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    reports.expect(Kind::Ready, WAIT, "child start")?;
    child.wait_sleeping(WAIT, "read on an empty endpoint")?;
    let asleep = child.voluntary_switches()?;
    // Must not return, nor below be woken: the windows make a failure quick;
    // the child's state and switch count catch one a stall hid from them.
    reports.expect_none(QUIET, "the read returned before the send")?;
    // From another descriptor of the same endpoint: its port, its connection.
    let ep2 = open_dev_nonblocking()?;
    okay(ep2.connect(port), "CONNECT of a second endpoint")?;
    send(ep2.as_raw_fd(), b"other", "the other endpoint's write")?;
    wait_pollerr(ep2.as_raw_fd(), "the other endpoint")?;
    reports.expect_none(QUIET, "the reader woke for another endpoint's error")?;
    child.expect_still_asleep(asleep, "the reader, after another endpoint's error")?;
    send(fd, b"x", "the reader's endpoint's write")?;
    let done = reports.expect(Kind::Done, WAIT, "the blocked read")?;
    ensure!(
        done.ret == -1 && done.errno == libc::ECONNREFUSED,
        "the blocked read {}, expected ECONNREFUSED",
        done.outcome()
    );
    child.expect_exit0(WAIT, "reader")
}

/// No error for an unconnected sender (UDP: only connected sockets get
/// ICMP errors), nor for a connected one whose datagram went elsewhere
/// than its connected port (SENDTO to another unbound port).
pub fn econnrefused_only_connected_port() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let a = unbound_port()?;
    let b = {
        let probe = open_dev()?;
        let p = port_of(&probe)?;
        ensure!(p != a, "two probes got the same port {p}");
        drop(probe);
        p
    };
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    okay(ep.send_to(a, b"u"), "SENDTO an unbound port, unconnected")?;
    okay(ep.connect(b), "CONNECT")?;
    okay(
        ep.send_to(a, b"v"),
        "SENDTO an unbound port other than the connected one",
    )?;
    settle(&ep)?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[("rx_no_port", 2), ("port_unreach", 0)],
        "two datagrams nobody was connected to",
    )?;
    expect_poll(fd, WRITABLE, "no error pending")?;
    expect_errno(read(fd, &mut [0u8; 8]), libc::EAGAIN, "read")
}
