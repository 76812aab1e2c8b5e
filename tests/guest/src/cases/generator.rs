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
        ("flow GEN_FLOWS", GenFlow { flow: GEN_FLOWS as u32, ..base }),
        ("flow u32::MAX", GenFlow { flow: u32::MAX, ..base }),
        ("dst_port 0", GenFlow { dst_port: 0, ..base }),
        ("dst_port 65536", GenFlow { dst_port: 65536, ..base }),
        ("payload_len 65536", GenFlow { payload_len: MAX_DATAGRAM as u32 + 1, ..base }),
        ("rate_pps 0", GenFlow { rate_pps: 0, ..base }),
        ("rate_pps 10000001", GenFlow { rate_pps: 10_000_001, ..base }),
        ("burst 0", GenFlow { burst: 0, ..base }),
        ("burst 4097", GenFlow { burst: 4097, ..base }),
        ("reserved 1", GenFlow { reserved: 1, ..base }),
        ("reserved 0x80000000", GenFlow { reserved: 0x8000_0000, ..base }),
    ];
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    for (name, f) in bad {
        expect_io_errno(ep.gen_start(&f), libc::EINVAL, &format!("GEN_START with {name}"))?;
    }
    for bad_flow in [GEN_FLOWS as u32, 1000, GEN_STOP_ALL - 1] {
        expect_io_errno(ep.gen_stop(bad_flow), libc::EINVAL, &format!("GEN_STOP({bad_flow})"))?;
    }
    okay(ep.gen_stop(GEN_FLOWS as u32 - 1), "GEN_STOP of a stopped flow")?;
    okay(ep.gen_stop(GEN_STOP_ALL), "GEN_STOP(all) with nothing running")?;
    sleep_ms(100);
    settle(&ep)?;
    expect_nic(&nic_delta(&n0, &nic_stats(&ep)?), &[("gen_packets", 0)], "after the refused GEN_STARTs")?;
    expect_errno(read(ep.as_raw_fd(), &mut [0u8; 64]), libc::EAGAIN, "read after the refused GEN_STARTs")?;

    // The limits: last flow, largest payload, top rate; one datagram each.
    let good = [
        ("flow GEN_FLOWS - 1", GenFlow { flow: GEN_FLOWS as u32 - 1, ..base }),
        ("payload_len 65535", GenFlow { flow: 1, payload_len: MAX_DATAGRAM as u32, ..base }),
        ("rate_pps 10000000", GenFlow { flow: 2, rate_pps: 10_000_000, ..base }),
        ("burst 4096", GenFlow { flow: 3, burst: 4096, ..base }),
    ];
    for (name, f) in good {
        okay(ep.gen_start(&f), &format!("GEN_START with {name}"))?;
        expect_generated(&ep, f.flow, 0, f.payload_len as usize)?;
    }
    // dst_port 65535: nobody is there.
    let probe = open_dev_nonblocking()?;
    okay(probe.bind(65535), "BIND(65535) on a probe endpoint")?;
    drop(probe);
    okay(ep.gen_start(&GenFlow { dst_port: 65535, ..base }), "GEN_START with dst_port 65535")?;
    wait_nic(&ep, ARRIVAL, "the datagram to port 65535", |s| s.rx_no_port > n0.rx_no_port)?;
    settle(&ep)?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[("gen_packets", 5), ("rx_packets", 4), ("rx_no_port", 1)],
        "after five one-datagram flows",
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
    okay(ep.gen_start(&flow(3, port, 32, 1000, 1, 100)), "GEN_START of 100 datagrams")?;
    for seq in 0..100 {
        expect_generated(&ep, 3, seq, 32)?;
    }
    okay(ep.gen_start(&flow(5, port, 6, 1000, 3, 3)), "GEN_START of 3 datagrams of 6 bytes")?;
    for seq in 0..3 {
        expect_generated(&ep, 5, seq, 6)?;
    }
    okay(ep.gen_start(&flow(6, port, 0, 1000, 2, 2)), "GEN_START of 2 empty datagrams")?;
    for seq in 0..2 {
        expect_generated(&ep, 6, seq, 0)?;
    }
    // Finished flows send no more.
    sleep_ms(200);
    settle(&ep)?;
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[("gen_packets", 105), ("rx_packets", 105), ("rx_missed", 0), ("rx_queue_full", 0), ("tx_packets", 0)],
        "after flows of 100, 3 and 2 datagrams",
    )?;
    expect_io_errno(ep.recv_from(&mut [0u8; 64], true), libc::EAGAIN, "RECVFROM after the counted flows")?;
    expect_ep(&ep_stats(&ep)?, &[("rx_packets", 105), ("rx_drops", 0)], "the receiver")
}

/// Receives the `n` datagrams of a flow and returns when the last one was
/// read, after `t0`.
fn receive_all(ep: &Endpoint, flow_id: u32, n: u64, len: usize, t0: Instant) -> Result<Duration, String> {
    for seq in 0..n {
        expect_generated(ep, flow_id, seq, len)?;
    }
    Ok(t0.elapsed())
}

/// The rate is honoured: at 200 datagrams per second, the 40th cannot
/// come before 39 intervals of 5 ms have passed, and in bursts of 10 at
/// 100 per second the 5th burst not before 400 ms. Nor is it far slower
/// (a generous bound: the guest is emulated).
pub fn generator_rate() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let _restore = NicRestore(&ep);
    let port = port_of(&ep)?;
    okay(ep.set_rcvbuf(RCVBUF_MAX), "SET_RCVBUF")?;
    settle(&ep)?;

    let t0 = Instant::now();
    okay(ep.gen_start(&flow(1, port, 20, 200, 1, 40)), "GEN_START 40 at 200/s")?;
    let took = receive_all(&ep, 1, 40, 20, t0)?;
    ensure!(
        took >= Duration::from_millis(195),
        "40 datagrams at 200/s all arrived within {} ms, less than the 195 ms the rate allows",
        took.as_millis()
    );
    ensure!(took < Duration::from_secs(5), "40 datagrams at 200/s took {} ms", took.as_millis());

    let t1 = Instant::now();
    okay(ep.gen_start(&flow(2, port, 20, 100, 10, 50)), "GEN_START 50 at 100/s in bursts of 10")?;
    let took2 = receive_all(&ep, 2, 50, 20, t1)?;
    ensure!(
        took2 >= Duration::from_millis(400),
        "5 bursts of 10 at 100/s all arrived within {} ms, less than the 400 ms the rate allows",
        took2.as_millis()
    );
    ensure!(took2 < Duration::from_secs(5), "5 bursts of 10 at 100/s took {} ms", took2.as_millis());
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
fn stop_and_check(ep: &Endpoint, flow_id: u32, burst: u64) -> TestResult {
    okay(ep.gen_stop(flow_id), &format!("GEN_STOP({flow_id:#x})"))?;
    let g0 = nic_stats(ep)?.gen_packets;
    sleep_ms(100);
    let g1 = nic_stats(ep)?.gen_packets;
    ensure!(
        g1 - g0 <= 4 * burst,
        "the generator made {} datagrams in the 100 ms after GEN_STOP({flow_id:#x}), more than \
         the 4 bursts of {burst} a pass under way may owe",
        g1 - g0
    );
    sleep_ms(300);
    let g2 = nic_stats(ep)?.gen_packets;
    ensure!(
        g1 == g2,
        "the generator still made {} datagrams between 100 and 400 ms after GEN_STOP({flow_id:#x})",
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
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    let drops0 = ep_stats(&ep)?.rx_drops;
    okay(ep.gen_start(&flow(2, port, 16, 500, 1, 0)), "GEN_START of an endless flow at 500/s")?;
    for seq in 0..10 {
        expect_generated(&ep, 2, seq, 16)?;
    }
    stop_and_check(&ep, 2, 1)?;
    let mut seq = 10u64;
    let mut buf = [0u8; 64];
    while let Ok(n) = read(fd, &mut buf) {
        check_data(&buf[..n], &gen_payload(2, seq, 16), &format!("datagram {seq} after GEN_STOP"))?;
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
    okay(ep.gen_start(&flow(0, port, 16, 200, 1, 0)), "GEN_START flow 0")?;
    okay(ep.gen_start(&flow(7, port, 16, 200, 1, 0)), "GEN_START flow 7")?;
    let mut seen = [false; 2];
    let deadline = Instant::now() + ARRIVAL;
    while !(seen[0] && seen[1]) {
        ensure!(Instant::now() < deadline, "flows 0 and 7 did not both deliver within {} s", ARRIVAL.as_secs());
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
    stop_and_check(&ep, GEN_STOP_ALL, 1)?;
    while read(fd, &mut buf).is_ok() {}
    settle(&ep)?;
    sleep_ms(100);
    expect_errno(read(fd, &mut buf), libc::EAGAIN, "read 400 ms after GEN_STOP(all), drained")
}
