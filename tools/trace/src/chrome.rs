// SPDX-License-Identifier: GPL-2.0

//! The timeline in the Chrome trace-event format (JSON), which Perfetto's
//! UI (ui.perfetto.dev, "Open trace file") and chrome://tracing open: one
//! process for the figure, one thread per lane (in the figure's order), a
//! track for the two phases, complete events (`"ph": "X"`) for the spans,
//! zero-length slices for the steps, and flow events (`"s"`/`"f"`) for the
//! arrows. Times are microseconds since the first event shown, as in the
//! SVG; nothing is elided.

use serde_json::{json, Value};

use crate::timeline::{SpanKind, Timeline, LANES};

/// The pid of the one process in the JSON.
const PID: u32 = 1;
/// The tid of the phases' track (the lanes are 1..=LANES).
const PHASES_TID: usize = LANES + 1;

fn us(t: &Timeline, ns: u64) -> f64 {
    (ns.saturating_sub(t.t0)) as f64 / 1e3
}

fn cat(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Syscall => "syscall",
        SpanKind::Asleep => "sched,asleep",
        SpanKind::Runnable => "sched,runnable",
        SpanKind::HardIrq => "irq",
        SpanKind::Softirq => "softirq",
        SpanKind::Poll => "simnic",
        SpanKind::Engine => "simnic,hardware",
    }
}

/// The JSON document for `t`; `command` names what ran.
pub fn render(t: &Timeline, command: &str) -> Value {
    let mut ev: Vec<Value> = Vec::new();
    ev.push(json!({
        "ph": "M", "pid": PID, "name": "process_name",
        "args": {"name": format!("simnic {}: {}", t.model, command)}
    }));
    for (i, (name, _)) in t.lanes.iter().enumerate() {
        ev.push(json!({"ph": "M", "pid": PID, "tid": i + 1, "name": "thread_name", "args": {"name": name}}));
        ev.push(json!({"ph": "M", "pid": PID, "tid": i + 1, "name": "thread_sort_index", "args": {"sort_index": i + 1}}));
    }
    ev.push(json!({"ph": "M", "pid": PID, "tid": PHASES_TID, "name": "thread_name", "args": {"name": "phases of the input operation"}}));
    ev.push(json!({"ph": "M", "pid": PID, "tid": PHASES_TID, "name": "thread_sort_index", "args": {"sort_index": 0}}));
    for p in &t.phases {
        ev.push(json!({
            "ph": "X", "pid": PID, "tid": PHASES_TID, "cat": "phase",
            "name": format!("phase {}", p.number),
            "ts": us(t, p.start), "dur": us(t, p.end) - us(t, p.start),
            "args": {"what": p.label}
        }));
    }
    // Outer spans before inner ones, so that the viewer nests them.
    let mut spans: Vec<_> = t.spans.iter().collect();
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end), s.depth));
    for s in spans {
        let name = match (s.label.as_str(), s.kind) {
            ("", SpanKind::Asleep) => "asleep",
            ("", SpanKind::Runnable) => "runnable",
            (l, _) => l,
        };
        ev.push(json!({
            "ph": "X", "pid": PID, "tid": s.lane + 1, "cat": cat(s.kind), "name": name,
            "ts": us(t, s.start), "dur": us(t, s.end) - us(t, s.start),
            "args": {"detail": s.detail}
        }));
    }
    for m in &t.marks {
        ev.push(json!({
            "ph": "X", "pid": PID, "tid": m.lane + 1, "cat": "step", "name": m.label,
            "ts": us(t, m.t), "dur": 0.0,
            "args": {"trace line": m.detail}
        }));
    }
    for (id, a) in t.arrows.iter().enumerate() {
        ev.push(json!({
            "ph": "s", "pid": PID, "tid": a.from.0 + 1, "id": id + 1, "cat": "flow",
            "name": a.label, "ts": us(t, a.from.1)
        }));
        ev.push(json!({
            "ph": "f", "bp": "e", "pid": PID, "tid": a.to.0 + 1, "id": id + 1, "cat": "flow",
            "name": a.label, "ts": us(t, a.to.1)
        }));
    }
    json!({
        "traceEvents": ev,
        "displayTimeUnit": "ns",
        "otherData": {
            "model": t.model,
            "title": t.title,
            "command": command,
            "time origin": "the first event shown, in the trace's CLOCK_MONOTONIC",
            "t0 ns": t.t0,
        }
    })
}
