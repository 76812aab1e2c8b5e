//! The NIC's traffic generator (GEN_START/GEN_STOP): argument checks, the
//! exact count, the payload (flow u32 LE, sequence u64 LE from 0, zeros),
//! source port 0, the rate, and stopping.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use simnic::{Endpoint, GenFlow, GEN_FLOWS, GEN_STOP_ALL, MAX_DATAGRAM, RCVBUF_MAX};

use crate::net::*;
use crate::sys::*;

/// Receives one generated datagram (waiting up to ARRIVAL) and checks it
/// is datagram `seq` of `flow_id`, `len` bytes, from source port 0.
fn expect_generated(ep: &Endpoint, flow_id: u32, seq: u64, len: usize) -> TestResult {
    let what = format!("flow {flow_id}, datagram {seq}");
    wait_arrival(ep.as_raw_fd(), &what)?;
    let mut buf = vec![0u8; len + 1];
    let info = okay(ep.recv_from(&mut buf, true), &format!("{what}: RECVFROM"))?;
    check_data(&buf[..info.len], &gen_payload(flow_id, seq, len), &what)?;
    ensure!(
        info.src_port == 0 && info.dgram_len == len && !info.truncated,
        "{what}: RECVFROM says {info:?}, expected source port 0 and {len} bytes"
    );
    Ok(())
}

/// GEN_START refuses (EINVAL) a flow index of GEN_FLOWS or more, a
/// destination port of 0 or above 65535, a payload above 65535 bytes, a
/// rate of 0 or above 10 000 000 per second, a burst of 0 or above 4096
/// and a nonzero reserved field, and starts nothing. GEN_STOP refuses a flow index out of
/// range but accepts a stopped flow and "all". The limits themselves are
/// accepted and generate.
pub fn generator_bad_args() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    let port = port_of(&ep)?;
    okay(ep.set_rcvbuf(RCVBUF_MAX), "SET_RCVBUF")?;
    let base = flow(0, port, 16, 1000, 1, 1);
    let bad: [(&str, GenFlow); 11] = [
        (
            "flow GEN_FLOWS",
            GenFlow {
                flow: GEN_FLOWS as u32,
                ..base
            },
        ),
        (
            "flow u32::MAX",
            GenFlow {
                flow: u32::MAX,
                ..base
            },
        ),
        (
            "dst_port 0",
            GenFlow {
                dst_port: 0,
                ..base
            },
        ),
        (
            "dst_port 65536",
            GenFlow {
                dst_port: 65536,
                ..base
            },
        ),
        (
            "payload_len 65536",
            GenFlow {
                payload_len: MAX_DATAGRAM as u32 + 1,
                ..base
            },
        ),
        (
            "rate_pps 0",
            GenFlow {
                rate_pps: 0,
                ..base
            },
        ),
        (
            "rate_pps 10000001",
            GenFlow {
                rate_pps: 10_000_001,
                ..base
            },
        ),
        ("burst 0", GenFlow { burst: 0, ..base }),
        (
            "burst 4097",
            GenFlow {
                burst: 4097,
                ..base
            },
        ),
        (
            "reserved 1",
            GenFlow {
                reserved: 1,
                ..base
            },
        ),
        (
            "reserved 0x80000000",
            GenFlow {
                reserved: 0x8000_0000,
                ..base
            },
        ),
    ];
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    for (name, f) in bad {
        expect_io_errno(
            ep.gen_start(&f),
            libc::EINVAL,
            &format!("GEN_START with {name}"),
        )?;
    }
    for bad_flow in [GEN_FLOWS as u32, 1000, GEN_STOP_ALL - 1] {
        expect_io_errno(
            ep.gen_stop(bad_flow),
            libc::EINVAL,
            &format!("GEN_STOP({bad_flow})"),
        )?;
    }
    okay(
        ep.gen_stop(GEN_FLOWS as u32 - 1),
        "GEN_STOP of a stopped flow",
    )?;
    okay(
        ep.gen_stop(GEN_STOP_ALL),
        "GEN_STOP(all) with nothing running",
    )?;
    // A flow a refused GEN_START had set up anyway would be due at once (a
    // count of 1 at 1000/s): the engine's next pass would make its datagram.
    let kick = open_dev_nonblocking()?;
    engine_pass(&kick)?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[("gen_packets", 0), ("tx_packets", 1), ("rx_packets", 1)],
        "after the refused GEN_STARTs and an engine pass",
    )?;
    expect_errno(
        read(ep.as_raw_fd(), &mut [0u8; 64]),
        libc::EAGAIN,
        "read after the refused GEN_STARTs",
    )?;

    // The limits: last flow, largest payload, top rate; one datagram each.
    let good = [
        (
            "flow GEN_FLOWS - 1",
            GenFlow {
                flow: GEN_FLOWS as u32 - 1,
                ..base
            },
        ),
        (
            "payload_len 65535",
            GenFlow {
                flow: 1,
                payload_len: MAX_DATAGRAM as u32,
                ..base
            },
        ),
        (
            "rate_pps 10000000",
            GenFlow {
                flow: 2,
                rate_pps: 10_000_000,
                ..base
            },
        ),
        (
            "burst 4096",
            GenFlow {
                flow: 3,
                burst: 4096,
                ..base
            },
        ),
    ];
    for (name, f) in good {
        okay(ep.gen_start(&f), &format!("GEN_START with {name}"))?;
        expect_generated(&ep, f.flow, 0, f.payload_len as usize)?;
    }
    // dst_port 65535: nobody is there.
    let probe = open_dev_nonblocking()?;
    okay(probe.bind(65535), "BIND(65535) on a probe endpoint")?;
    drop(probe);
    okay(
        ep.gen_start(&GenFlow {
            dst_port: 65535,
            ..base
        }),
        "GEN_START with dst_port 65535",
    )?;
    wait_nic(&ep, ARRIVAL, "the datagram to port 65535", |s| {
        s.rx_no_port > n0.rx_no_port
    })?;
    settle(&ep)?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[("gen_packets", 5), ("rx_packets", 5), ("rx_no_port", 1)],
        "after five one-datagram flows (and the engine kick)",
    )
}

/// A flow with a count sends exactly that many datagrams when the receiver
/// keeps up: each from source port 0 with the flow index (u32 LE) and its
/// sequence number (u64 LE, 0, 1, ...) then zeros, cut at the payload
/// length (also below 12 bytes, and 0); then it stops by itself.
pub fn generator_count_and_payload() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    let port = port_of(&ep)?;
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    okay(
        ep.gen_start(&flow(3, port, 32, 1000, 1, 100)),
        "GEN_START of 100 datagrams",
    )?;
    for seq in 0..100 {
        expect_generated(&ep, 3, seq, 32)?;
    }
    okay(
        ep.gen_start(&flow(5, port, 6, 1000, 3, 3)),
        "GEN_START of 3 datagrams of 6 bytes",
    )?;
    for seq in 0..3 {
        expect_generated(&ep, 5, seq, 6)?;
    }
    okay(
        ep.gen_start(&flow(6, port, 0, 1000, 2, 2)),
        "GEN_START of 2 empty datagrams",
    )?;
    for seq in 0..2 {
        expect_generated(&ep, 6, seq, 0)?;
    }
    // Finished flows send no more: QUIET later, one that did not end
    // would owe bursts (its interval is at most 2 ms), and the engine pass
    // makes them.
    sleep_ms(QUIET.as_millis() as u64);
    let kick = open_dev_nonblocking()?;
    engine_pass(&kick)?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[
            ("gen_packets", 105),
            ("rx_packets", 106),
            ("rx_missed", 0),
            ("rx_queue_full", 0),
            ("tx_packets", 1),
        ],
        "after flows of 100, 3 and 2 datagrams (and the engine kick)",
    )?;
    expect_io_errno(
        ep.recv_from(&mut [0u8; 64], true),
        libc::EAGAIN,
        "RECVFROM after the counted flows",
    )?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("rx_packets", 105), ("rx_drops", 0)],
        "the receiver",
    )
}

/// Reads every datagram queued on `ep` (non-blocking) and returns the
/// sequence numbers, checking each is a `len`-byte datagram of `flow_id`
/// from source port 0 with its payload intact.
fn drain_flow(ep: &Endpoint, flow_id: u32, len: usize) -> Result<Vec<u64>, String> {
    let mut seqs = Vec::new();
    let mut buf = vec![0u8; len + 1];
    loop {
        let info = match ep.recv_from(&mut buf, true) {
            Ok(info) => info,
            Err(e) if raw(&e) == libc::EAGAIN => return Ok(seqs),
            Err(e) => {
                return Err(format!(
                    "RECVFROM after {} datagrams: {}",
                    seqs.len(),
                    io_name(&e)
                ))
            }
        };
        let d = &buf[..info.len];
        ensure!(
            info.src_port == 0 && info.dgram_len == len && d.len() >= 12,
            "datagram #{}: {info:?}, expected {len} bytes from source port 0",
            seqs.len()
        );
        ensure!(
            u32::from_le_bytes(d[..4].try_into().unwrap()) == flow_id,
            "datagram #{} is not of flow {flow_id}: {d:?}",
            seqs.len()
        );
        let seq = u64::from_le_bytes(d[4..12].try_into().unwrap());
        check_data(
            d,
            &gen_payload(flow_id, seq, len),
            &format!("datagram #{} (seq {seq})", seqs.len()),
        )?;
        seqs.push(seq);
    }
}

/// The high-rate path of the generator: at 10 000 000 datagrams per second
/// in bursts of 16, a burst is due every 1.6 us, far more often than the
/// engine runs, so each engine pass owes many bursts and sends them as one
/// batch, capped at `MAX_CATCH_UP` = 4 bursts (64 datagrams). A flow of 200
/// then arrives whole: exactly 200 generated, no more once the count is
/// reached, sequence numbers 0 to 199 each once and in order, nothing
/// dropped (200 fit the RX ring and the receive queue however the passes
/// fall), and at least 4 engine passes (a pacer that sent everything owed
/// at once would need fewer whenever the engine ran late).
pub fn generator_high_rate_batches() -> TestResult {
    const COUNT: u64 = 200;
    const BURST: u32 = 16;
    const CAP: u64 = 4 * BURST as u64;
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    let port = port_of(&ep)?;
    okay(ep.set_rcvbuf(RCVBUF_MAX), "SET_RCVBUF")?;
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    okay(
        ep.gen_start(&flow(4, port, 16, 10_000_000, BURST, COUNT)),
        "GEN_START 200 at 10^7/s in bursts of 16",
    )?;
    wait_nic(&ep, ARRIVAL, "the flow's 200 datagrams", |s| {
        s.gen_packets - n0.gen_packets >= COUNT
    })?;
    settle(&ep)?;
    let seqs = drain_flow(&ep, 4, 16)?;
    let want: Vec<u64> = (0..COUNT).collect();
    ensure!(
        seqs == want,
        "read {} datagrams with sequence numbers {:?}..., expected 0 to {} in order",
        seqs.len(),
        &seqs[..seqs.len().min(20)],
        COUNT - 1
    );
    let d = nic_delta(&n0, &nic_stats(&ep)?);
    expect_nic(
        &d,
        &[
            ("gen_packets", COUNT),
            ("rx_packets", COUNT),
            ("rx_descs", COUNT),
            ("tx_packets", 0),
        ],
        "after the high-rate flow",
    )?;
    ensure!(
        simnic::nic_dropped(&d) == 0,
        "a flow of {COUNT} datagrams that fits the RX ring and the queue lost some: {}",
        nic_summary(&d)
    );
    ensure!(
        d.hw_runs >= COUNT.div_ceil(CAP),
        "the engine made {COUNT} datagrams in {} passes: more than {CAP} (4 bursts) in one pass",
        d.hw_runs
    );
    expect_ep(
        &ep_stats(&ep)?,
        &[("rx_packets", COUNT), ("rx_drops", 0), ("queued", 0)],
        "the receiver",
    )?;
    println!(
        "# generator_high_rate_batches: {COUNT} datagrams in {} engine passes, {} interrupts, {} polls",
        d.hw_runs, d.irqs, d.polls
    );
    Ok(())
}

/// A batch larger than the RX ring: the largest burst (4096) at the top
/// rate. The engine writes a pass's batch before it raises the interrupt,
/// so with the NIC idle before the flow, the first burst alone fills the
/// ring's free descriptors and the rest of it is missed (`rx_missed`). A
/// count of two bursts is then accounted exactly: every generated datagram
/// is delivered or counted in one drop counter (missed, or the receive
/// queue full), the delivered ones are read back in sequence order with
/// gaps only where frames were dropped, and the first ring's worth (0 up to
/// the free descriptors) arrives whole and in order.
pub fn generator_batch_overflows_rx_ring() -> TestResult {
    const BURST: u32 = 4096;
    const COUNT: u64 = 2 * BURST as u64;
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    let port = port_of(&ep)?;
    okay(ep.set_rcvbuf(RCVBUF_MAX), "SET_RCVBUF")?;
    let r = settle(&ep)?;
    let room = u64::from(r.rx_tail.wrapping_sub(r.rx_head) & (r.rx_size - 1));
    ensure!(
        room < u64::from(BURST) && room <= simnic::RX_QUEUE_SLOTS as u64,
        "an RX ring with {room} free descriptors: this test needs fewer than a burst of {BURST} and at most a receive queue's {}",
        simnic::RX_QUEUE_SLOTS
    );
    let n0 = nic_stats(&ep)?;
    let e0 = ep_stats(&ep)?;
    okay(
        ep.gen_start(&flow(6, port, 16, 10_000_000, BURST, COUNT)),
        "GEN_START 2 bursts of 4096 at 10^7/s",
    )?;
    wait_nic(&ep, ARRIVAL, "the flow's datagrams", |s| {
        s.gen_packets - n0.gen_packets >= COUNT
    })?;
    settle(&ep)?;
    let seqs = drain_flow(&ep, 6, 16)?;
    let d = nic_delta(&n0, &nic_stats(&ep)?);
    let e = ep_stats(&ep)?.wrapping_sub(&e0);
    expect_nic(
        &d,
        &[
            ("gen_packets", COUNT),
            ("tx_packets", 0),
            ("rx_packets", seqs.len() as u64),
            ("rx_no_port", 0),
            ("rx_errors", 0),
        ],
        "after two bursts of 4096",
    )?;
    ensure!(
        simnic::frames_unaccounted(&d) == 0,
        "{COUNT} datagrams generated, {} delivered and {} dropped ({}): {} unaccounted",
        d.rx_packets,
        simnic::nic_dropped(&d),
        nic_summary(&d),
        simnic::frames_unaccounted(&d)
    );
    ensure!(
        d.rx_missed >= u64::from(BURST) - room,
        "a batch of {BURST} into an idle ring with {room} free descriptors: only {} missed",
        d.rx_missed
    );
    ensure!(
        e.rx_packets == d.rx_packets && e.rx_drops == d.rx_queue_full + d.rx_mem_drops + d.rx_closed,
        "the endpoint counted {} received and {} dropped; the NIC {} delivered and {} dropped at the queue",
        e.rx_packets,
        e.rx_drops,
        d.rx_packets,
        d.rx_queue_full + d.rx_mem_drops + d.rx_closed
    );
    let first: Vec<u64> = (0..room).collect();
    ensure!(
        seqs.len() as u64 >= room && seqs[..room as usize] == first[..],
        "the first {room} datagrams read are {:?}..., expected 0 to {} (the ring's worth of the first batch)",
        &seqs[..seqs.len().min(20)],
        room - 1
    );
    if let Some(w) = seqs.windows(2).find(|w| w[1] <= w[0] || w[1] >= COUNT) {
        return Err(format!(
            "sequence {} read after {}: out of order, repeated or past the count",
            w[1], w[0]
        ));
    }
    println!(
        "# generator_batch_overflows_rx_ring: {COUNT} generated, {} delivered, {} missed, {} queue full, {} passes",
        d.rx_packets, d.rx_missed, d.rx_queue_full, d.hw_runs
    );
    Ok(())
}

/// Receives the `n` datagrams of a flow and returns when the last one was
/// read, after `t0`.
fn receive_all(
    ep: &Endpoint,
    flow_id: u32,
    n: u64,
    len: usize,
    t0: Instant,
) -> Result<Duration, String> {
    for seq in 0..n {
        expect_generated(ep, flow_id, seq, len)?;
    }
    Ok(t0.elapsed())
}

/// The rate is honoured: at 200 datagrams per second, the 40th cannot
/// come before 39 intervals of 5 ms have passed, and in bursts of 10 at
/// 100 per second the 5th burst not before 400 ms. Nor is it stuck or
/// orders of magnitude slower: each flow is done within `WAIT` (a bound a
/// stalled emulated guest cannot reach; the rate's precision is the host
/// tests' business, `pacer_tests.rs`).
pub fn generator_rate() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    let port = port_of(&ep)?;
    okay(ep.set_rcvbuf(RCVBUF_MAX), "SET_RCVBUF")?;
    settle(&ep)?;

    let t0 = Instant::now();
    okay(
        ep.gen_start(&flow(1, port, 20, 200, 1, 40)),
        "GEN_START 40 at 200/s",
    )?;
    let took = receive_all(&ep, 1, 40, 20, t0)?;
    ensure!(
        took >= Duration::from_millis(195),
        "40 datagrams at 200/s all arrived within {} ms, less than the 195 ms the rate allows",
        took.as_millis()
    );
    ensure!(
        took < WAIT,
        "40 datagrams at 200/s took {} ms",
        took.as_millis()
    );

    let t1 = Instant::now();
    okay(
        ep.gen_start(&flow(2, port, 20, 100, 10, 50)),
        "GEN_START 50 at 100/s in bursts of 10",
    )?;
    let took2 = receive_all(&ep, 2, 50, 20, t1)?;
    ensure!(
        took2 >= Duration::from_millis(400),
        "5 bursts of 10 at 100/s all arrived within {} ms, less than the 400 ms the rate allows",
        took2.as_millis()
    );
    ensure!(
        took2 < WAIT,
        "5 bursts of 10 at 100/s took {} ms",
        took2.as_millis()
    );
    println!(
        "# generator_rate: 40 at 200/s in {} ms (ideal 195), 5 x 10 at 100/s in {} ms (ideal 400)",
        took.as_millis(),
        took2.as_millis()
    );
    Ok(())
}

/// Stops a flow (or all) and checks that the generator stops: at most what
/// one pass of the hardware engine already under way makes after the call
/// returns (it may owe `MAX_CATCH_UP` = 4 bursts), then nothing at all.
/// Engine passes are forced with `kick` ([`engine_pass`]), so the check
/// does not depend on the engine running in a time window: the first pass
/// starts after the one under way ended, and runs no stopped flow; the
/// second comes `QUIET` later, when a flow still running would owe bursts
/// (its interval is at most 5 ms) and make them.
fn stop_and_check(ep: &Endpoint, kick: &Endpoint, flow_id: u32, burst: u64) -> TestResult {
    okay(ep.gen_stop(flow_id), &format!("GEN_STOP({flow_id:#x})"))?;
    let g0 = nic_stats(ep)?.gen_packets;
    engine_pass(kick)?;
    let g1 = nic_stats(ep)?.gen_packets;
    ensure!(
        g1 - g0 <= 4 * burst,
        "the generator made {} datagrams after GEN_STOP({flow_id:#x}) returned, more than \
         the 4 bursts of {burst} a pass under way may owe",
        g1 - g0
    );
    sleep_ms(QUIET.as_millis() as u64);
    engine_pass(kick)?;
    let g2 = nic_stats(ep)?.gen_packets;
    ensure!(
        g1 == g2,
        "the generator still made {} datagrams in engine passes after GEN_STOP({flow_id:#x})",
        g2 - g1
    );
    settle(ep)?;
    Ok(())
}

/// GEN_STOP stops a running flow: the generator makes no more datagrams
/// (but for a pass already under way), those made were delivered in
/// sequence, and nothing arrives afterwards. GEN_STOP(all) stops every
/// flow.
pub fn generator_stop() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    let fd = ep.as_raw_fd();
    let port = port_of(&ep)?;
    okay(ep.set_rcvbuf(RCVBUF_MAX), "SET_RCVBUF")?;
    let kick = open_dev_nonblocking()?;
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    let drops0 = ep_stats(&ep)?.rx_drops;
    okay(
        ep.gen_start(&flow(2, port, 16, 500, 1, 0)),
        "GEN_START of an endless flow at 500/s",
    )?;
    for seq in 0..10 {
        expect_generated(&ep, 2, seq, 16)?;
    }
    stop_and_check(&ep, &kick, 2, 1)?;
    let mut seq = 10u64;
    let mut buf = [0u8; 64];
    while let Ok(n) = read(fd, &mut buf) {
        check_data(
            &buf[..n],
            &gen_payload(2, seq, 16),
            &format!("datagram {seq} after GEN_STOP"),
        )?;
        seq += 1;
    }
    let d = nic_delta(&n0, &nic_stats(&ep)?);
    let dropped = ep_stats(&ep)?.rx_drops - drops0;
    ensure!(
        seq + dropped + d.rx_missed == d.gen_packets && dropped + d.rx_missed == 0,
        "{seq} datagrams read, {dropped} dropped, {} missed, but {} generated",
        d.rx_missed,
        d.gen_packets
    );

    // Two flows, one GEN_STOP(all).
    okay(
        ep.gen_start(&flow(0, port, 16, 200, 1, 0)),
        "GEN_START flow 0",
    )?;
    okay(
        ep.gen_start(&flow(7, port, 16, 200, 1, 0)),
        "GEN_START flow 7",
    )?;
    let mut seen = [false; 2];
    let deadline = Instant::now() + ARRIVAL;
    while !(seen[0] && seen[1]) {
        ensure!(
            Instant::now() < deadline,
            "flows 0 and 7 did not both deliver within {} s",
            ARRIVAL.as_secs()
        );
        wait_arrival(fd, "flows 0 and 7")?;
        if let Ok(n) = read(fd, &mut buf) {
            ensure!(n == 16, "a {n}-byte datagram from flows of 16");
            match u32::from_le_bytes(buf[..4].try_into().unwrap()) {
                0 => seen[0] = true,
                7 => seen[1] = true,
                f => return Err(format!("a datagram of flow {f}, which was not started")),
            }
        }
    }
    stop_and_check(&ep, &kick, GEN_STOP_ALL, 1)?;
    while read(fd, &mut buf).is_ok() {}
    settle(&ep)?;
    expect_errno(
        read(fd, &mut buf),
        libc::EAGAIN,
        "read after GEN_STOP(all) and two engine passes, drained",
    )
}
