//! Where a datagram's time goes: the latency ping-pong on simnic endpoints
//! with the module's trace events (`events/simnic/`) and the scheduler's
//! `sched_wakeup`/`sched_switch` on, read back from tracefs and cut into the
//! steps of Documentation/nic.rst, once per hardware execution model
//! (module parameter `hw_inline`, the module reloaded for each).
//!
//! Tracing slows every step down a little (each event is a ring-buffer
//! write); the untraced one-way latency of the same model, measured just
//! before, says by how much.

use crate::latency::{self, LatencyResult, Link};
use crate::progress::Progress;
use crate::stats::Summary;
use crate::sys::Pinning;
use std::fs;
use std::io;
use std::process::Command;

use simnic_trace::parse::{parse, Line};

const TRACEFS: &str = "/sys/kernel/tracing";

/// The steps, each from the event named first to the one named second.
pub const STEPS: [(&str, &str, &str); 10] = [
    ("simnic_xmit", "simnic_doorbell", "TX ring write, doorbell"),
    (
        "simnic_doorbell",
        "simnic_hw_rx_dma",
        "doorbell to hardware DMA (the hop to the engine)",
    ),
    (
        "simnic_hw_rx_dma",
        "simnic_irq_raise",
        "DMA done to interrupt raised",
    ),
    (
        "simnic_irq_raise",
        "simnic_intr",
        "interrupt delivery (irq_work self-IPI)",
    ),
    (
        "simnic_intr",
        "simnic_napi_poll_start",
        "handler to softirq poll",
    ),
    (
        "simnic_napi_poll_start",
        "simnic_deliver",
        "poll: TX clean, RX copy, demux",
    ),
    (
        "simnic_deliver",
        "simnic_data_ready",
        "queue on the endpoint",
    ),
    ("simnic_data_ready", "sched_wakeup", "wake-up of the reader"),
    ("sched_wakeup", "sched_switch", "reader runnable to running"),
    (
        "sched_switch",
        "simnic_recv_copy",
        "reader: back from the wait, dequeue, copy",
    ),
];

/// One hardware execution model's results.
pub struct ModelResult {
    pub model: &'static str,
    /// Untraced one-way latency.
    pub untraced: LatencyResult,
    /// Traced one-way latency (the same ping-pong, events on).
    pub traced: LatencyResult,
    /// Per step of [`STEPS`]: nanoseconds, one sample per datagram.
    pub steps: Vec<Vec<u64>>,
    /// First event (`simnic_xmit`) to the last (`simnic_recv_copy`).
    pub total: Vec<u64>,
    /// Datagrams in the trace whose chain of events was incomplete.
    pub incomplete: usize,
}

impl ModelResult {
    pub fn step(&self, i: usize) -> Summary {
        Summary::of(&self.steps[i])
    }
}

pub struct BreakdownResult {
    pub pin: Pinning,
    pub udp: LatencyResult,
    pub models: Vec<ModelResult>,
}

fn tracefs_write(file: &str, value: &str) -> io::Result<()> {
    fs::write(format!("{TRACEFS}/{file}"), value)
        .map_err(|e| io::Error::new(e.kind(), format!("{TRACEFS}/{file}: {e}")))
}

/// Reloads simnic.ko with `params` (the guest has it at `$SIMNIC_KO`).
pub fn reload_module(params: &[&str]) -> io::Result<()> {
    let ko = std::env::var("SIMNIC_KO").unwrap_or_else(|_| "/lib/modules/simnic.ko".into());
    let run = |cmd: &mut Command, what: &str| -> io::Result<()> {
        let out = cmd.output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "{what}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    };
    run(Command::new("rmmod").arg("simnic"), "rmmod simnic")?;
    run(
        Command::new("insmod").arg(&ko).args(params),
        &format!("insmod {ko} {}", params.join(" ")),
    )
}

// The trace lines are parsed by simnic-trace's parser (tools/trace), the
// one the timeline figures use.

/// Cuts the trace into datagrams (one in flight at a time in a
/// ping-pong) and times each step; `reader_pids` are the threads that
/// read (both sides of the ping-pong read).
fn analyse(trace: &str, reader_pids: &[i32], out: &mut ModelResult) {
    let lines: Vec<Line> = trace.lines().filter_map(parse).collect();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].event() != "simnic_xmit" {
            i += 1;
            continue;
        }
        // Walk forward, taking the first of each step's events after the
        // previous one; a datagram ends at its simnic_recv_copy.
        let mut at = Vec::with_capacity(STEPS.len() + 1);
        at.push(lines[i].ts);
        let mut j = i + 1;
        let mut ok = true;
        for (_, to, _) in STEPS.iter() {
            let found = lines[j..].iter().position(|l| {
                l.event() == *to
                    && match *to {
                        "sched_wakeup" => reader_pids
                            .iter()
                            .any(|p| l.fields().contains(&format!(" pid={p} "))),
                        "sched_switch" => reader_pids.iter().any(|p| {
                            l.fields()
                                .split("==>")
                                .nth(1)
                                .is_some_and(|n| n.contains(&format!(" next_pid={p} ")))
                        }),
                        _ => true,
                    }
            });
            match found {
                Some(k) if !lines[j..j + k].iter().any(|l| l.event() == "simnic_xmit") => {
                    at.push(lines[j + k].ts);
                    j += k + 1;
                }
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            for (s, w) in at.windows(2).enumerate() {
                out.steps[s].push(w[1].saturating_sub(w[0]));
            }
            out.total.push(at[at.len() - 1] - at[0]);
            i = j;
        } else {
            out.incomplete += 1;
            i += 1;
        }
    }
}

/// Runs the breakdown: UDP once as the reference, then per model an
/// untraced and a traced ping-pong of `rounds` round trips.
pub fn run(
    rounds: usize,
    warmup: usize,
    payload: usize,
    pin: Pinning,
    progress: &Progress,
) -> io::Result<BreakdownResult> {
    let mut udp = LatencyResult::default();
    progress.phase(&format!("breakdown: UDP reference, {pin}"));
    latency::ping_pong(
        Link::udp()?,
        payload,
        rounds,
        warmup,
        pin,
        progress,
        &mut udp,
    )?;
    let mut models = Vec::new();
    for (model, params) in [("inline", ["hw_inline=1"]), ("thread", ["hw_inline=0"])] {
        reload_module(&params)?;
        let mut m = ModelResult {
            model,
            untraced: LatencyResult::default(),
            traced: LatencyResult::default(),
            steps: vec![Vec::new(); STEPS.len()],
            total: Vec::new(),
            incomplete: 0,
        };
        progress.phase(&format!("breakdown: {model} model, untraced, {pin}"));
        latency::ping_pong(
            Link::simnic()?,
            payload,
            rounds,
            warmup,
            pin,
            progress,
            &mut m.untraced,
        )?;
        progress.phase(&format!("breakdown: {model} model, traced, {pin}"));
        tracefs_write("tracing_on", "0")?;
        tracefs_write("trace", "")?;
        tracefs_write("trace_clock", "mono")?;
        tracefs_write("buffer_size_kb", "16384")?;
        tracefs_write("events/simnic/enable", "1")?;
        tracefs_write("events/sched/sched_wakeup/enable", "1")?;
        tracefs_write("events/sched/sched_switch/enable", "1")?;
        tracefs_write("tracing_on", "1")?;
        let r = latency::ping_pong(
            Link::simnic()?,
            payload,
            rounds,
            warmup,
            pin,
            progress,
            &mut m.traced,
        );
        tracefs_write("tracing_on", "0")?;
        let trace = fs::read_to_string(format!("{TRACEFS}/trace"));
        for f in [
            "events/simnic/enable",
            "events/sched/sched_wakeup/enable",
            "events/sched/sched_switch/enable",
        ] {
            tracefs_write(f, "0")?;
        }
        tracefs_write("trace", "")?;
        r?;
        let readers = m.traced.reader_tids.clone();
        analyse(&trace?, &readers, &mut m);
        models.push(m);
    }
    reload_module(&[])?;
    Ok(BreakdownResult { pin, udp, models })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "\
# tracer: nop
          sender-100     [000] .....   10.000001000: simnic_xmit: src=1 dst=2 len=16 descs=1
          sender-100     [000] .....   10.000002000: simnic_doorbell: tail=1
          sender-100     [000] .....   10.000004000: simnic_hw_rx_dma: descs=1 dst=2 len=24
          sender-100     [000] .....   10.000005000: simnic_irq_raise: rx=1 tx_done=1 raised
          sender-100     [000] d.h..   10.000008000: simnic_intr: masked
          sender-100     [000] ..s..   10.000009000: simnic_napi_poll_start: budget=64
          sender-100     [000] ..s..   10.000011000: simnic_deliver: dst=2 len=16 queued
          sender-100     [000] ..s..   10.000012000: simnic_data_ready: port=2 wake-up
          sender-100     [000] d.s..   10.000013000: sched_wakeup: comm=other pid=7 prio=120 target_cpu=000
          sender-100     [000] d.s..   10.000014000: sched_wakeup: comm=pong pid=101 prio=120 target_cpu=000
          sender-100     [000] ..s..   10.000015000: simnic_napi_poll_end: work=1 budget=64 irq unmasked
          sender-100     [000] d....   10.000020000: sched_switch: prev_comm=sender prev_pid=100 prev_prio=120 prev_state=S ==> next_comm=pong next_pid=101 next_prio=120
          pong-101       [000] .....   10.000023000: simnic_recv_copy: port=2 len=16 copied=16
";

    fn empty() -> ModelResult {
        ModelResult {
            model: "t",
            untraced: LatencyResult::default(),
            traced: LatencyResult::default(),
            steps: vec![Vec::new(); STEPS.len()],
            total: Vec::new(),
            incomplete: 0,
        }
    }

    #[test]
    fn one_datagram_cut_into_steps() {
        let mut m = empty();
        analyse(TRACE, &[101], &mut m);
        assert_eq!(m.incomplete, 0);
        assert_eq!(m.total, vec![22_000]);
        let got: Vec<u64> = m.steps.iter().map(|s| s[0]).collect();
        // The wake-up of pid 7 is not the reader's; the reader's is at 14 us.
        assert_eq!(
            got,
            vec![1000, 2000, 1000, 3000, 1000, 2000, 1000, 2000, 6000, 3000]
        );
    }

    #[test]
    fn a_missing_step_is_counted_not_timed() {
        let mut m = empty();
        let t: String = TRACE
            .lines()
            .filter(|l| !l.contains("simnic_intr"))
            .map(|l| format!("{l}\n"))
            .collect();
        analyse(&t, &[101], &mut m);
        assert_eq!(m.incomplete, 1);
        assert!(m.total.is_empty());
    }

    #[test]
    fn parse_reads_timestamps_to_the_nanosecond() {
        let l = parse("  a b-1  [001] d.h..  123.000456789: simnic_intr: masked").unwrap();
        assert_eq!(l.ts, 123_000_456_789);
        assert_eq!(l.event(), "simnic_intr");
        assert_eq!(l.fields(), "masked");
        assert!(parse("# tracer: nop").is_none());
    }
}
