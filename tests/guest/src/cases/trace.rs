//! The module's trace events (`events/simnic/` in tracefs): one datagram
//! sent to a blocked reader fires every step's event, in the order the
//! datagram takes the steps, with the fields that describe it.

use std::fs;
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::sys::*;

const TRACEFS: &str = "/sys/kernel/tracing";
const SEC: Duration = Duration::from_secs(1);

/// The steps of one datagram up to `data_ready`'s wake-up, in order
/// (Documentation/nic.rst), each with a field its line must show. What
/// follows `data_ready` runs on two CPUs at once (the poll's end, the
/// woken reader's copy) and is checked against `data_ready` only.
fn expected(port: u32, len: usize) -> Vec<(&'static str, String)> {
    vec![
        (
            "simnic_xmit",
            format!("src={port} dst={port} len={len} descs=1"),
        ),
        ("simnic_doorbell", "tail=".into()),
        (
            "simnic_hw_rx_dma",
            format!("descs=1 dst={port} len={}", len + 8),
        ),
        ("simnic_irq_raise", "raised".into()),
        ("simnic_intr", "simnic_intr: masked".into()),
        ("simnic_napi_poll_start", "budget=".into()),
        ("simnic_deliver", format!("dst={port} len={len} queued")),
        ("simnic_data_ready", format!("port={port} wake-up")),
    ]
}

/// After `data_ready`, in any order: the reader copies on its CPU while
/// the softirq, on another, finishes the wake-up's walk (`simnic_wake` is
/// traced when it returns) and the poll; only those two are ordered
/// (checked apart).
fn after_data_ready(port: u32, len: usize) -> Vec<(&'static str, String)> {
    vec![
        // The reader's `autoremove_wake_function`: one entry woken.
        ("simnic_wake", format!("port={port} woken=1")),
        ("simnic_napi_poll_end", "work=".into()),
        (
            "simnic_recv_copy",
            format!("port={port} len={len} copied={len}"),
        ),
    ]
}

pub(crate) fn tracefs_write(file: &str, value: &str) -> TestResult {
    // Turning events on or off (`enable`, `set_event`, triggers, tracers)
    // rewrites the tracepoints' call sites; only the files below do not.
    if !matches!(
        file,
        "trace" | "tracing_on" | "trace_clock" | "buffer_size_kb"
    ) {
        tracefs_allowed()?;
    }
    fs::write(format!("{TRACEFS}/{file}"), value)
        .map_err(|e| format!("writing {value:?} to {TRACEFS}/{file}: {e}"))
}

/// Tracing off again, and the buffer emptied, whatever the test did.
pub(crate) struct TraceSession;

impl TraceSession {
    pub(crate) fn start() -> Result<Self, String> {
        if fs::metadata(format!("{TRACEFS}/events/simnic")).is_err() {
            return Err(format!(
                "{TRACEFS}/events/simnic missing: no simnic trace events in this kernel"
            ));
        }
        tracefs_write("tracing_on", "0")?;
        tracefs_write("trace", "")?;
        tracefs_write("events/simnic/enable", "1")?;
        tracefs_write("tracing_on", "1")?;
        Ok(TraceSession)
    }
}

impl Drop for TraceSession {
    fn drop(&mut self) {
        let _ = tracefs_write("tracing_on", "0");
        let _ = tracefs_write("events/simnic/enable", "0");
        let _ = tracefs_write("trace", "");
    }
}

/// Every `events/simnic/` event fires once for one datagram sent by this
/// process to itself while a child is blocked reading, in the order of
/// the datagram's walk, on the lines the reader's and the sender's ports.
/// A step traced out of place, one missing, or a field that lies (a wrong
/// port, length or outcome) fails.
pub fn trace_events_one_datagram_in_order() -> TestResult {
    const MSG: &[u8] = b"traced datagram";
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let port = ep.port().map_err(|e| format!("GET_PORT: {e}"))?;
    let session = TraceSession::start()?;
    let pipe = Pipe::new()?;
    let report = pipe.w.as_raw_fd();
    let mut child = Child::spawn(move || {
        let mut buf = [0u8; 64];
        if !Report::ready(0).send(report) {
            return 2;
        }
        let start = std::time::Instant::now();
        let r = read(fd, &mut buf);
        i32::from(!Report::done(0, r, start, &buf).send(report))
    })?;
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    reports.expect(Kind::Ready, 10 * SEC, "reader start")?;
    child.wait_sleeping(10 * SEC, "reader blocked on the empty endpoint")?;
    send(fd, MSG, "the traced datagram")?;
    let done = reports.expect(Kind::Done, 10 * SEC, "the blocked reader's read")?;
    ensure!(
        done.ret == MSG.len() as i64,
        "blocked read {}",
        done.outcome()
    );
    child.expect_exit0(10 * SEC, "reader")?;
    tracefs_write("tracing_on", "0")?;
    let trace = fs::read_to_string(format!("{TRACEFS}/trace"))
        .map_err(|e| format!("reading the trace: {e}"))?;
    drop(session);

    let lines: Vec<&str> = trace.lines().filter(|l| !l.starts_with('#')).collect();
    let mut at = 0;
    for (event, field) in expected(port, MSG.len()) {
        let tag = format!("{event}:");
        let Some(i) = lines[at..].iter().position(|l| l.contains(&tag)) else {
            return Err(format!(
                "no {event} after line {at} of the trace (want one showing {field:?}); trace:\n{}",
                lines.join("\n")
            ));
        };
        let line = lines[at + i];
        ensure!(
            line.contains(&field),
            "{event} line lacks {field:?}: {line}\ntrace:\n{}",
            lines.join("\n")
        );
        at += i + 1;
    }
    for (event, field) in after_data_ready(port, MSG.len()) {
        let tag = format!("{event}:");
        let Some(line) = lines[at..].iter().find(|l| l.contains(&tag)) else {
            return Err(format!(
                "no {event} after simnic_data_ready; trace:\n{}",
                lines.join("\n")
            ));
        };
        ensure!(
            line.contains(&field),
            "{event} line lacks {field:?}: {line}\ntrace:\n{}",
            lines.join("\n")
        );
    }
    // On the softirq's CPU the walk ends before the poll does.
    let pos = |tag: &str| lines.iter().position(|l| l.contains(tag));
    ensure!(
        pos("simnic_wake:") < pos("simnic_napi_poll_end:"),
        "simnic_wake after simnic_napi_poll_end:\n{}",
        lines.join("\n")
    );
    // Exactly one datagram: one of each per-datagram event.
    for event in [
        "simnic_xmit",
        "simnic_hw_rx_dma",
        "simnic_deliver",
        "simnic_data_ready",
        "simnic_wake",
        "simnic_recv_copy",
    ] {
        let n = lines
            .iter()
            .filter(|l| l.contains(&format!("{event}:")))
            .count();
        ensure!(
            n == 1,
            "{n} {event} events for one datagram:\n{}",
            lines.join("\n")
        );
    }
    Ok(())
}

/// A disabled event records nothing: the same traffic with `events/simnic`
/// off leaves the buffer empty (the events are real tracepoints with an
/// enable switch, not unconditional printing).
pub fn trace_events_off_record_nothing() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    {
        let _session = TraceSession::start()?;
        tracefs_write("events/simnic/enable", "0")?;
        send(fd, b"untraced", "a datagram with the events off")?;
        expect_datagram(fd, b"untraced", "the datagram")?;
        tracefs_write("tracing_on", "0")?;
        let trace = fs::read_to_string(format!("{TRACEFS}/trace"))
            .map_err(|e| format!("reading the trace: {e}"))?;
        let n = trace.lines().filter(|l| l.contains("simnic_")).count();
        ensure!(
            n == 0,
            "{n} simnic events recorded with the events disabled:\n{trace}"
        );
    }
    Ok(())
}

/// The trace so far, with tracing stopped.
pub(crate) fn read_trace() -> Result<String, String> {
    tracefs_write("tracing_on", "0")?;
    fs::read_to_string(format!("{TRACEFS}/trace")).map_err(|e| format!("reading the trace: {e}"))
}
