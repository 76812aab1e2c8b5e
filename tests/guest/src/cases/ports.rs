//! Ports and addressing: the ephemeral port open() binds, BIND, GET_PORT,
//! CONNECT, SENDTO and RECVFROM (the sender's port, the truncation flag and
//! the full length), FIONREAD, and frames for a port nobody is bound to.

use std::os::fd::AsRawFd;

use simnic::{Endpoint, EPHEMERAL_PORT_FIRST, MAX_DATAGRAM};

use crate::net::*;
use crate::sys::*;

fn ephemeral(port: u32) -> bool {
    (u32::from(EPHEMERAL_PORT_FIRST)..=65535).contains(&port)
}

/// Receives one datagram with RECVFROM (waiting for it) into a buffer of
/// `room` bytes; returns the bytes and what the driver said.
fn recv_from(
    ep: &Endpoint,
    room: usize,
    what: &str,
) -> Result<(Vec<u8>, simnic::RecvInfo), String> {
    wait_arrival(ep.as_raw_fd(), what)?;
    let mut buf = vec![0u8; room];
    let info = okay(ep.recv_from(&mut buf, true), &format!("{what}: RECVFROM"))?;
    buf.truncate(info.len);
    Ok((buf, info))
}

/// open() binds every endpoint to its own free port in the ephemeral
/// range, which GET_PORT and EP_STATS report; BIND(0) moves it to another
/// free ephemeral port and frees the old one; closing frees the port.
pub fn ports_ephemeral() -> TestResult {
    let eps: Vec<Endpoint> = (0..3)
        .map(|_| open_dev_nonblocking())
        .collect::<Result<_, _>>()?;
    let mut ports = Vec::new();
    for (i, ep) in eps.iter().enumerate() {
        let p = port_of(ep)?;
        ensure!(
            ephemeral(p),
            "endpoint {i} was bound to port {p} by open(), outside {EPHEMERAL_PORT_FIRST}..=65535"
        );
        expect_ep(
            &ep_stats(ep)?,
            &[("port", p.into())],
            &format!("endpoint {i}"),
        )?;
        ensure!(
            !ports.contains(&p),
            "endpoints {ports:?} and {i} share port {p}"
        );
        ports.push(p);
    }
    let old = ports[0];
    okay(eps[0].bind(0), "BIND(0)")?;
    let new = port_of(&eps[0])?;
    ensure!(
        ephemeral(new),
        "BIND(0) gave port {new}, not an ephemeral one"
    );
    ensure!(
        !ports.contains(&new),
        "BIND(0) gave port {new}, which an endpoint had ({ports:?})"
    );
    okay(
        eps[1].bind(old),
        &format!("BIND({old}), the port endpoint 0 left"),
    )?;
    ensure!(
        port_of(&eps[1])? == old,
        "endpoint 1 is not on port {old} after binding it"
    );

    // Datagrams follow the bindings.
    let mut tx = Paced::new(&eps[2])?;
    tx.send_to(new, b"to new", "SENDTO endpoint 0's new port")?;
    tx.send_to(old, b"to old", "SENDTO endpoint 0's old port")?;
    expect_datagram(eps[0].as_raw_fd(), b"to new", "endpoint 0 on its new port")?;
    expect_datagram(
        eps[1].as_raw_fd(),
        b"to old",
        "endpoint 1 on the port it took over",
    )?;

    let freed = ports[2];
    drop(eps);
    let ep = open_dev_nonblocking()?;
    okay(
        ep.bind(freed),
        &format!("BIND({freed}) after its endpoint was closed"),
    )?;
    Ok(())
}

/// BIND: EADDRINUSE for a port another endpoint has (which keeps it),
/// EINVAL above 65535 (the port unchanged), success for the endpoint's own
/// port, 1 and 65535; a rebind frees the old port, so datagrams for it are
/// dropped as for no port (rx_no_port) until another endpoint binds it.
pub fn bind_errors_and_rebind() -> TestResult {
    let a = open_dev_nonblocking()?;
    let b = open_dev_nonblocking()?;
    let c = open_dev_nonblocking()?;
    let pb = port_of(&b)?;
    okay(a.bind(5001), "a: BIND(5001)")?;
    ensure!(
        port_of(&a)? == 5001,
        "a is on port {} after BIND(5001)",
        port_of(&a)?
    );
    expect_io_errno(b.bind(5001), libc::EADDRINUSE, "b: BIND(5001), a's port")?;
    ensure!(
        port_of(&b)? == pb,
        "b moved to port {} after a refused BIND",
        port_of(&b)?
    );
    okay(a.bind(5001), "a: BIND(5001) again, its own port")?;
    for bad in [65536, 100_000, u32::MAX] {
        expect_io_errno(a.bind(bad), libc::EINVAL, &format!("a: BIND({bad})"))?;
        ensure!(
            port_of(&a)? == 5001,
            "a left port 5001 after a refused BIND({bad})"
        );
    }

    // b still receives on its port, a on 5001.
    let mut tx = Paced::new(&c)?;
    tx.send_to(pb, b"to b", "SENDTO b")?;
    tx.send_to(5001, b"to a", "SENDTO 5001")?;
    expect_datagram(b.as_raw_fd(), b"to b", "b after its refused BIND")?;
    expect_datagram(a.as_raw_fd(), b"to a", "a on 5001")?;

    // Rebinding frees the old port.
    okay(a.bind(5002), "a: BIND(5002)")?;
    settle(&c)?;
    let n0 = nic_stats(&c)?;
    tx.send_to(5001, b"to nobody", "SENDTO 5001 after a left it")?;
    tx.send_to(5002, b"to a again", "SENDTO 5002")?;
    expect_datagram(a.as_raw_fd(), b"to a again", "a on 5002")?;
    settle(&c)?;
    expect_errno(
        read(a.as_raw_fd(), &mut [0u8; 64]),
        libc::EAGAIN,
        "a after the datagram for its old port",
    )?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&c)?),
        &[("rx_no_port", 1), ("rx_packets", 1), ("tx_packets", 2)],
        "after datagrams to a's old and new port",
    )?;
    okay(b.bind(5001), "b: BIND(5001) after a left it")?;
    tx.send_to(5001, b"to b on 5001", "SENDTO 5001 with b on it")?;
    expect_datagram(b.as_raw_fd(), b"to b on 5001", "b on 5001")?;

    // The ends of the range.
    okay(a.bind(65535), "a: BIND(65535)")?;
    okay(c.bind(1), "c: BIND(1)")?;
    ensure!(
        port_of(&a)? == 65535 && port_of(&c)? == 1,
        "a or c not on the port it bound"
    );
    let mut tx = Paced::new(&c)?;
    tx.send_to(65535, b"to 65535", "SENDTO 65535")?;
    expect_datagram(a.as_raw_fd(), b"to 65535", "a on 65535")?;
    let (_, info) = {
        let mut tx = Paced::new(&a)?;
        tx.send_to(1, b"to 1", "SENDTO 1")?;
        recv_from(&c, 64, "c on port 1")?
    };
    ensure!(
        info.src_port == 65535,
        "c got a datagram from port {}, expected 65535",
        info.src_port
    );
    Ok(())
}

/// SENDTO delivers to the endpoint bound to the port, and RECVFROM there
/// reports the sender's port and the full length; nothing reaches the
/// sender itself. SENDTO to port 0 or above 65535 fails with EINVAL and
/// sends nothing. The endpoints count what they sent and received.
pub fn send_to_and_recv_from() -> TestResult {
    let a = open_dev_nonblocking()?;
    let b = open_dev_nonblocking()?;
    let (pa, pb) = (port_of(&a)?, port_of(&b)?);
    let hello = b"hello b, this is a";
    expect_count(as_sys(a.send_to(pb, hello)), hello.len(), "a: SENDTO b")?;
    let (got, info) = recv_from(&b, 100, "b")?;
    check_data(&got, hello, "b's datagram from a")?;
    ensure!(
        info == simnic::RecvInfo { len: hello.len(), dgram_len: hello.len(), src_port: pa, truncated: false },
        "RECVFROM at b: {info:?}, expected len {0}, dgram_len {0}, src_port {pa} (a), not truncated",
        hello.len()
    );
    expect_count(as_sys(b.send_to(pa, b"hi a")), 4, "b: SENDTO a")?;
    let (got, info) = recv_from(&a, 100, "a")?;
    check_data(&got, b"hi a", "a's reply from b")?;
    ensure!(
        info.src_port == pb,
        "RECVFROM at a: src_port {}, expected {pb} (b)",
        info.src_port
    );

    // The source port is the sender's port at the time it sends.
    okay(a.bind(5100), "a: BIND(5100)")?;
    expect_count(
        as_sys(a.send_to(pb, b"from 5100")),
        9,
        "a: SENDTO b from port 5100",
    )?;
    let (_, info) = recv_from(&b, 100, "b")?;
    ensure!(
        info.src_port == 5100,
        "RECVFROM at b: src_port {}, expected 5100",
        info.src_port
    );

    // An empty datagram, and one of the largest size.
    expect_count(as_sys(a.send_to(pb, b"")), 0, "a: SENDTO b of 0 bytes")?;
    let (got, info) = recv_from(&b, 100, "b: the empty datagram")?;
    ensure!(
        got.is_empty() && info.dgram_len == 0 && !info.truncated,
        "the empty datagram came back as {info:?}"
    );
    let big = pattern(5, MAX_DATAGRAM);
    expect_count(
        as_sys(a.send_to(pb, &big)),
        MAX_DATAGRAM,
        "a: SENDTO b of 65535 bytes",
    )?;
    let (got, info) = recv_from(&b, MAX_DATAGRAM, "b: the 65535-byte datagram")?;
    check_data(&got, &big, "the 65535-byte datagram")?;
    ensure!(
        !info.truncated && info.dgram_len == MAX_DATAGRAM,
        "RECVFROM of 65535 bytes: {info:?}"
    );

    settle(&a)?;
    let n0 = nic_stats(&a)?;
    for bad in [0, 65536, u32::MAX] {
        expect_io_errno(
            a.send_to(bad, b"x"),
            libc::EINVAL,
            &format!("SENDTO port {bad}"),
        )?;
    }
    settle(&a)?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&a)?),
        &[("tx_packets", 0), ("rx_no_port", 0)],
        "after the refused SENDTOs",
    )?;
    expect_io_errno(
        a.recv_from(&mut [0u8; 8], true),
        libc::EAGAIN,
        "a: RECVFROM with nothing for a",
    )?;
    expect_io_errno(
        b.recv_from(&mut [0u8; 8], true),
        libc::EAGAIN,
        "b: RECVFROM after reading all",
    )?;
    // O_NONBLOCK on the file also makes RECVFROM without DONTWAIT fail.
    expect_io_errno(
        b.recv_from(&mut [0u8; 8], false),
        libc::EAGAIN,
        "b: RECVFROM (no DONTWAIT) on an O_NONBLOCK file",
    )?;

    let len = (hello.len() + 9 + MAX_DATAGRAM) as u64;
    expect_ep(
        &ep_stats(&a)?,
        &[
            ("tx_packets", 4),
            ("tx_bytes", len),
            ("rx_packets", 1),
            ("rx_bytes", 4),
        ],
        "a",
    )?;
    expect_ep(
        &ep_stats(&b)?,
        &[
            ("tx_packets", 1),
            ("tx_bytes", 4),
            ("rx_packets", 4),
            ("rx_bytes", len),
        ],
        "b",
    )
}

/// CONNECT sets where write() sends: after CONNECT(b's port) a's writes
/// reach b (with a's port as source) and not a; CONNECT(0) restores the
/// default, a's own port. CONNECT above 65535 fails with EINVAL and
/// changes nothing. A blocking RECVFROM waits for its datagram.
pub fn connect_default_destination() -> TestResult {
    let a = open_dev_nonblocking()?;
    let b = open_dev()?;
    let (pa, pb) = (port_of(&a)?, port_of(&b)?);
    okay(a.connect(pb), "a: CONNECT(b)")?;
    send(a.as_raw_fd(), b"via connect", "a: write after CONNECT(b)")?;
    let mut buf = [0u8; 64];
    // b is blocking: this RECVFROM sleeps until the datagram arrives.
    let info = okay(b.recv_from(&mut buf, false), "b: blocking RECVFROM")?;
    check_data(&buf[..info.len], b"via connect", "b's datagram")?;
    ensure!(
        info.src_port == pa,
        "b's datagram came from port {}, expected {pa}",
        info.src_port
    );
    settle(&a)?;
    expect_errno(
        read(a.as_raw_fd(), &mut buf),
        libc::EAGAIN,
        "a after writing to b",
    )?;

    for bad in [65536, u32::MAX] {
        expect_io_errno(a.connect(bad), libc::EINVAL, &format!("a: CONNECT({bad})"))?;
    }
    send(
        a.as_raw_fd(),
        b"still to b",
        "a: write after the refused CONNECTs",
    )?;
    let info = okay(b.recv_from(&mut buf, false), "b: blocking RECVFROM")?;
    check_data(&buf[..info.len], b"still to b", "b's second datagram")?;

    okay(a.connect(0), "a: CONNECT(0)")?;
    send(a.as_raw_fd(), b"echo again", "a: write after CONNECT(0)")?;
    expect_datagram(
        a.as_raw_fd(),
        b"echo again",
        "a's own datagram after CONNECT(0)",
    )?;
    settle(&a)?;
    expect_io_errno(
        b.recv_from(&mut buf, true),
        libc::EAGAIN,
        "b after a's CONNECT(0)",
    )?;

    // The destination is a port, not an endpoint: whoever binds it gets it.
    okay(a.connect(5200), "a: CONNECT(5200)")?;
    okay(b.bind(5200), "b: BIND(5200)")?;
    send(a.as_raw_fd(), b"to 5200", "a: write to 5200")?;
    let info = okay(b.recv_from(&mut buf, false), "b: blocking RECVFROM on 5200")?;
    check_data(&buf[..info.len], b"to 5200", "b's datagram on 5200")?;
    Ok(())
}

/// RECVFROM with a short buffer copies its head, sets SIMNIC_MSG_TRUNC,
/// reports the full length and discards the rest (counted in
/// rx_truncated); an exact buffer is no truncation. A zero-length buffer
/// truncates any nonempty datagram.
pub fn recv_from_truncation() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let port = port_of(&ep)?;
    let (long, exact, tiny) = (pattern(1, 100), pattern(2, 50), pattern(3, 5));
    let mut tx = Paced::new(&ep)?;
    for d in [&long, &exact, &tiny] {
        tx.send(d, &format!("write of {} bytes", d.len()))?;
    }
    tx.send(&[], "write of 0 bytes")?;
    wait_queued(&ep, 4, "the four datagrams")?;

    let (got, info) = recv_from(&ep, 10, "100 bytes into 10")?;
    check_data(&got, &long[..10], "the head of the 100-byte datagram")?;
    ensure!(
        info == simnic::RecvInfo { len: 10, dgram_len: 100, src_port: port, truncated: true },
        "RECVFROM of 100 bytes into 10: {info:?}, expected len 10, dgram_len 100, src_port {port}, truncated"
    );
    expect_ep(
        &ep_stats(&ep)?,
        &[("rx_truncated", 1), ("queued", 3)],
        "after the truncated RECVFROM",
    )?;
    let (got, info) = recv_from(&ep, 50, "50 bytes into 50")?;
    check_data(
        &got,
        &exact,
        "the 50-byte datagram (the rest of the 100 discarded)",
    )?;
    ensure!(
        !info.truncated && info.dgram_len == 50,
        "RECVFROM of 50 bytes into 50: {info:?}"
    );
    let (got, info) = recv_from(&ep, 0, "5 bytes into 0")?;
    ensure!(
        got.is_empty() && info.truncated && info.dgram_len == 5,
        "RECVFROM of 5 bytes into 0: {info:?}, expected len 0, dgram_len 5, truncated"
    );
    let (_, info) = recv_from(&ep, 0, "0 bytes into 0")?;
    ensure!(
        !info.truncated && info.dgram_len == 0,
        "RECVFROM of 0 bytes into 0: {info:?}"
    );
    expect_ep(
        &ep_stats(&ep)?,
        &[
            ("rx_truncated", 2),
            ("rx_packets", 4),
            ("queued", 0),
            ("queued_bytes", 0),
        ],
        "after the four RECVFROMs",
    )
}

/// FIONREAD gives the payload length of the next datagram without
/// consuming it (0 when nothing is queued, and for an empty datagram).
pub fn fionread_next_length() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let pending = |what: &str| okay(ep.pending_len(), &format!("FIONREAD {what}"));
    ensure!(
        pending("empty")? == 0,
        "FIONREAD on an empty endpoint: {}",
        pending("empty")?
    );
    let mut tx = Paced::new(&ep)?;
    tx.send(&pattern(1, 1234), "write of 1234 bytes")?;
    tx.send(&pattern(2, 10), "write of 10 bytes")?;
    tx.send(&[], "write of 0 bytes")?;
    tx.send(&pattern(3, MAX_DATAGRAM), "write of 65535 bytes")?;
    wait_queued(&ep, 4, "the four datagrams")?;
    for (want, len) in [(1234, 1234), (10, 10), (0, 0), (MAX_DATAGRAM, MAX_DATAGRAM)] {
        let got = pending("with datagrams queued")?;
        ensure!(
            got == want,
            "FIONREAD with a {len}-byte datagram next: {got}"
        );
        ensure!(
            pending("again")? == want,
            "a second FIONREAD changed its answer"
        );
        let q = ep_stats(&ep)?.queued;
        let n = read(fd, &mut vec![0u8; MAX_DATAGRAM + 1])
            .map_err(|e| format!("read: {}", errname(e)))?;
        ensure!(
            n == len,
            "read after FIONREAD said {want}: {n} bytes, expected {len}"
        );
        ensure!(
            ep_stats(&ep)?.queued == q - 1,
            "FIONREAD consumed a datagram"
        );
    }
    ensure!(
        pending("drained")? == 0,
        "FIONREAD on a drained endpoint: {}",
        pending("drained")?
    );
    Ok(())
}

/// Frames for a port no endpoint is bound to cross the NIC and are dropped
/// by the demux and counted in rx_no_port, one per frame, whether sent with
/// SENDTO or made by the generator; the sender gets no error. Once an
/// endpoint binds the port, they are delivered.
pub fn rx_no_port_counted() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    // 4321 is free: binding it succeeds; closing frees it again.
    {
        let probe = open_dev_nonblocking()?;
        okay(probe.bind(4321), "BIND(4321) on a probe endpoint")?;
    }
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    let mut tx = Paced::new(&ep)?;
    tx.send_to(4321, &pattern(1, 10), "SENDTO 4321 (10 bytes)")?;
    tx.send_to(4321, &[], "SENDTO 4321 (0 bytes)")?;
    tx.send_to(
        4321,
        &pattern(2, 3000),
        "SENDTO 4321 (3000 bytes, 2 descriptors)",
    )?;
    settle(&ep)?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[
            ("tx_packets", 3),
            ("tx_bytes", 3010),
            ("rx_descs", 4),
            ("rx_no_port", 3),
            ("rx_packets", 0),
            ("rx_queue_full", 0),
            ("rx_errors", 0),
        ],
        "after three SENDTOs to port 4321",
    )?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("tx_packets", 3), ("rx_packets", 0), ("rx_drops", 0)],
        "the sender",
    )?;

    okay(
        ep.gen_start(&flow(0, 4321, 16, 1, 20, 20)),
        "GEN_START of 20 datagrams to 4321",
    )?;
    wait_nic(&ep, ARRIVAL, "20 generated datagrams", |s| {
        s.gen_packets - n0.gen_packets >= 20
    })?;
    settle(&ep)?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[("gen_packets", 20), ("rx_no_port", 23), ("rx_packets", 0)],
        "after 20 generated datagrams to port 4321",
    )?;

    let rx = open_dev_nonblocking()?;
    okay(rx.bind(4321), "BIND(4321)")?;
    tx.send_to(
        4321,
        b"now someone listens",
        "SENDTO 4321 with an endpoint on it",
    )?;
    expect_datagram(
        rx.as_raw_fd(),
        b"now someone listens",
        "the endpoint on 4321",
    )?;
    settle(&ep)?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[("rx_no_port", 23), ("rx_packets", 1)],
        "after a datagram to port 4321 with an endpoint on it",
    )
}
