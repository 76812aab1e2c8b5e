//! Helpers for tests of the simulated NIC: errnos of the `simnic` crate's
//! calls, counter snapshots and their differences, waiting for the NIC to go
//! idle, sending without overrunning the TX ring, generator flows, and
//! putting back the NIC-wide settings a test changed.
//!
//! Delivery is asynchronous (TX ring, hardware thread, RX ring, interrupt,
//! poll), so a test that wants to know "everything sent so far has been
//! delivered or dropped" calls [`settle`] instead of sleeping.

use std::fmt::Debug;
use std::io;
use std::time::{Duration, Instant};

use simnic::{
    Endpoint, EpStats, GenFlow, Limits, NicStats, RingState, GEN_STOP_ALL, RMEM_MAX_DEFAULT,
    RX_MEM_MAX_DEFAULT,
};

use crate::sys::*;

/// The errno of a failed call of the `simnic` crate.
pub fn raw(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// "EINVAL (22)" for an errno, the error's text otherwise.
pub fn io_name(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errname(n),
        None => e.to_string(),
    }
}

/// The value of a call that must succeed, or "what: failed with ...".
pub fn okay<T>(r: io::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: failed with {}", io_name(&e)))
}

/// A call that must fail with exactly `want`.
pub fn expect_io_errno<T: Debug>(r: io::Result<T>, want: i32, what: &str) -> TestResult {
    match r {
        Err(e) if raw(&e) == want => Ok(()),
        Err(e) => Err(format!(
            "{what}: expected {}, but it failed with {}",
            errname(want),
            io_name(&e)
        )),
        Ok(v) => Err(format!(
            "{what}: expected {}, but it succeeded ({v:?})",
            errname(want)
        )),
    }
}

/// A `SysResult` from a `simnic` crate call that returns a count.
pub fn as_sys(r: io::Result<usize>) -> SysResult {
    r.map_err(|e| raw(&e))
}

pub fn nic_stats(ep: &Endpoint) -> Result<NicStats, String> {
    okay(ep.nic_stats(), "SIMNIC_IOC_NIC_STATS")
}

pub fn ep_stats(ep: &Endpoint) -> Result<EpStats, String> {
    okay(ep.ep_stats(), "SIMNIC_IOC_EP_STATS")
}

pub fn ring_state(ep: &Endpoint) -> Result<RingState, String> {
    okay(ep.ring_state(), "SIMNIC_IOC_RING_STATE")
}

/// The NIC-wide limits and the receive memory charged now.
pub fn limits(ep: &Endpoint) -> Result<Limits, String> {
    okay(ep.limits(), "SIMNIC_IOC_GET_LIMITS")
}

pub fn port_of(ep: &Endpoint) -> Result<u32, String> {
    okay(ep.port(), "SIMNIC_IOC_GET_PORT")
}

/// The NIC counters by name, in the order of the struct (and of debugfs).
pub fn nic_fields(s: &NicStats) -> [(&'static str, u64); NicStats::FIELDS] {
    s.fields()
}

/// `b - a`, counter by counter.
pub fn nic_delta(a: &NicStats, b: &NicStats) -> NicStats {
    b.wrapping_sub(a)
}

/// "irqs 1, polls 4, ..." with the nonzero counters only.
pub fn nic_summary(s: &NicStats) -> String {
    let parts: Vec<String> = nic_fields(s)
        .iter()
        .filter(|(_, v)| *v != 0)
        .map(|(n, v)| format!("{n} {v}"))
        .collect();
    if parts.is_empty() {
        "all zero".into()
    } else {
        parts.join(", ")
    }
}

/// Compares the named `fields` (a `*_fields` list) with the exact values
/// of `want`: one "name got (expected v)" per mismatch. A name `fields`
/// lacks fails, as "no `kind` named ...".
fn mismatches(
    fields: &[(&str, u64)],
    want: &[(&str, u64)],
    kind: &str,
) -> Result<Vec<String>, String> {
    let mut bad = Vec::new();
    for (name, v) in want {
        let got = fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, g)| *g)
            .ok_or_else(|| format!("no {kind} named {name}"))?;
        if got != *v {
            bad.push(format!("{name} {got} (expected {v})"));
        }
    }
    Ok(bad)
}

/// Checks named counters of `s` (usually a delta) against exact values; the
/// message lists every mismatch and all nonzero counters.
pub fn expect_nic(s: &NicStats, want: &[(&str, u64)], what: &str) -> TestResult {
    let bad = mismatches(&nic_fields(s), want, "NIC counter")?;
    ensure!(
        bad.is_empty(),
        "{what}: NIC counters {}; all changes: {}",
        bad.join(", "),
        nic_summary(s)
    );
    Ok(())
}

/// The endpoint's fields by name.
pub fn ep_fields(s: &EpStats) -> [(&'static str, u64); EpStats::FIELDS] {
    s.fields()
}

/// Checks named fields of an endpoint's stats against exact values.
pub fn expect_ep(s: &EpStats, want: &[(&str, u64)], what: &str) -> TestResult {
    let bad = mismatches(&ep_fields(s), want, "endpoint field")?;
    ensure!(
        bad.is_empty(),
        "{what}: endpoint stats {}; all: {s:?}",
        bad.join(", ")
    );
    Ok(())
}

/// The rings have nothing in flight: the hardware transmitted all the
/// driver put on the TX ring, the driver cleaned all the hardware wrote to
/// the RX ring, and no poll is pending (interrupt unmasked).
pub fn ring_idle(s: &RingState) -> bool {
    s.tx_head == s.tx_tail && s.rx_head == s.rx_next_to_clean && s.irq_masked == 0
}

/// Waits until every frame sent before the call has been delivered to its
/// endpoint or dropped and counted, and returns the idle ring state.
///
/// One snapshot is not enough: it reads the RX indices before the TX ones,
/// so a frame moved from TX to RX in between would look delivered. Two
/// idle snapshots in a row are: the first says the TX ring was empty (every
/// earlier frame on the RX ring), the second, taken later, that the RX ring
/// was then cleaned (the poll delivers under the lock the snapshot takes).
/// A running generator flow keeps the NIC busy: stop it first.
pub fn settle(ep: &Endpoint) -> Result<RingState, String> {
    let deadline = Instant::now() + ARRIVAL;
    let mut prev: Option<RingState> = None;
    loop {
        let s = ring_state(ep)?;
        if ring_idle(&s) {
            if prev == Some(s) {
                return Ok(s);
            }
            prev = Some(s);
        } else {
            prev = None;
        }
        ensure!(
            Instant::now() < deadline,
            "the NIC did not go idle within {} s; ring state {s:?}",
            ARRIVAL.as_secs()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits, by polling the endpoint's counters (so without sleeping on its
/// wait queue), until `queued` datagrams are waiting on it.
pub fn wait_queued(ep: &Endpoint, queued: u32, what: &str) -> Result<EpStats, String> {
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let s = ep_stats(ep)?;
        if s.queued >= queued {
            return Ok(s);
        }
        ensure!(
            Instant::now() < deadline,
            "{what}: {} of {queued} datagrams queued after {} s ({s:?})",
            s.queued,
            ARRIVAL.as_secs()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until the NIC counters satisfy `done` (for at most `limit`).
pub fn wait_nic(
    ep: &Endpoint,
    limit: Duration,
    what: &str,
    done: impl Fn(&NicStats) -> bool,
) -> Result<NicStats, String> {
    let deadline = Instant::now() + limit;
    loop {
        let s = nic_stats(ep)?;
        if done(&s) {
            return Ok(s);
        }
        ensure!(
            Instant::now() < deadline,
            "{what}: not reached within {} ms; NIC counters: {}",
            limit.as_millis(),
            nic_summary(&s)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// TX (and RX) descriptors a frame of `len` payload bytes takes: the 8-byte
/// header plus the payload, in 2048-byte buffers.
pub fn descs(len: usize) -> u32 {
    (simnic::FrameHeader::SIZE + len).div_ceil(2048).max(1) as u32
}

/// Sends through one endpoint without ever filling the TX ring (so a send
/// never fails with ENOBUFS): after half a ring's worth of descriptors it
/// waits for the NIC to deliver them ([`settle`]). Any send error fails.
pub struct Paced<'a> {
    ep: &'a Endpoint,
    window: u32,
    used: u32,
}

impl<'a> Paced<'a> {
    pub fn new(ep: &'a Endpoint) -> Result<Self, String> {
        let s = ring_state(ep)?;
        Ok(Self {
            ep,
            window: (s.tx_size - 1) / 2,
            used: 0,
        })
    }

    fn make_room(&mut self, len: usize) -> TestResult {
        let need = descs(len);
        if self.used + need > self.window {
            settle(self.ep)?;
            self.used = 0;
        }
        self.used += need;
        Ok(())
    }

    /// write(2) of one datagram to the default destination.
    pub fn send(&mut self, data: &[u8], what: &str) -> TestResult {
        use std::os::fd::AsRawFd;
        self.make_room(data.len())?;
        send(self.ep.as_raw_fd(), data, what)
    }

    /// SIMNIC_IOC_SENDTO of one datagram.
    pub fn send_to(&mut self, port: u32, data: &[u8], what: &str) -> TestResult {
        self.make_room(data.len())?;
        expect_count(as_sys(self.ep.send_to(port, data)), data.len(), what)
    }
}

/// A generator flow configuration.
pub fn flow(flow: u32, dst_port: u32, payload_len: u32, rate_pps: u32, burst: u32, count: u64) -> GenFlow {
    GenFlow {
        flow,
        dst_port,
        payload_len,
        rate_pps,
        burst,
        reserved: 0,
        count,
    }
}

/// The payload of datagram `seq` of generator flow `flow`: the flow (u32
/// LE), the sequence number (u64 LE), zeros, cut at `len` bytes.
pub fn gen_payload(flow: u32, seq: u64, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len.max(12));
    v.extend_from_slice(&flow.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    v.resize(len.max(12), 0);
    v.truncate(len);
    v
}

/// The NIC-wide limits simnic.ko starts with (`SIMNIC_IOC_SET_LIMITS`;
/// `rx_mem` is ignored there).
pub const DEFAULT_LIMITS: Limits = Limits {
    rmem_max: RMEM_MAX_DEFAULT,
    rx_mem_max: RX_MEM_MAX_DEFAULT,
    rx_mem: 0,
};

/// Puts back the NIC-wide settings a test may change (generator flows, wire
/// delay, the memory limits, the loopback switch) when dropped, also when
/// the test fails or panics half-way.
pub struct NicRestore<'a>(pub &'a Endpoint);

impl Drop for NicRestore<'_> {
    fn drop(&mut self) {
        let _ = self.0.gen_stop(GEN_STOP_ALL);
        let _ = self.0.set_tx_delay_ns(0);
        let _ = self.0.set_limits(&DEFAULT_LIMITS);
        let _ = self.0.set_loopback(true);
    }
}

/// The same, for the test runner between tests: opens the device if it is
/// there and puts back what a killed test may have left running or set.
pub fn restore_nic() {
    if let Ok(ep) = Endpoint::open_nonblocking() {
        drop(NicRestore(&ep));
    }
}

#[cfg(test)]
mod tests {
    //! The expectations on counters, checked on the host without a device.
    use super::*;

    #[test]
    fn counter_expectations_list_every_mismatch() {
        let s = NicStats {
            irqs: 1,
            polls: 4,
            ..Default::default()
        };
        assert_eq!(
            expect_nic(&s, &[("irqs", 1), ("polls", 4), ("wakeups", 0)], "n"),
            Ok(())
        );
        assert_eq!(
            expect_nic(&s, &[("irqs", 2), ("polls", 4), ("wakeups", 1)], "n"),
            Err(
                "n: NIC counters irqs 1 (expected 2), wakeups 0 (expected 1); \
                 all changes: irqs 1, polls 4"
                    .to_string()
            )
        );
        assert_eq!(
            expect_nic(&s, &[("irqs", 2), ("irq", 1)], "n"),
            Err("no NIC counter named irq".to_string())
        );

        let e = EpStats {
            queued: 2,
            rx_drops: 1,
            ..Default::default()
        };
        assert_eq!(
            expect_ep(&e, &[("queued", 2), ("rx_drops", 1)], "e"),
            Ok(())
        );
        assert_eq!(
            expect_ep(&e, &[("queued", 3), ("rx_drops", 1)], "e"),
            Err(format!(
                "e: endpoint stats queued 2 (expected 3); all: {e:?}"
            ))
        );
        assert_eq!(
            expect_ep(&e, &[("queue", 2)], "e"),
            Err("no endpoint field named queue".to_string())
        );
    }
}
