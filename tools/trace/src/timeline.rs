// SPDX-License-Identifier: GPL-2.0

//! From a trace to a timeline: finds the datagram the receiver copied, the
//! steps it took (Documentation/nic.rst), the two phases of the input
//! operation and the wake-ups, and lays them out on lanes, one per
//! execution context.
//!
//! Everything here comes from the trace's lines; nothing is assumed. A step
//! that is missing is an error, not a gap in the figure.

use std::collections::BTreeSet;

use crate::models::{Copy, Model, Wait};
use crate::parse::{Context, Kind, Line};

/// The lanes, top to bottom: the datagram goes up from the sender to the
/// receiver.
pub const RECEIVER: usize = 0;
/// Softirq context (the NAPI-style poll on the BH workqueue).
pub const SOFTIRQ: usize = 1;
/// Hard-irq context (irq_work, IPIs).
pub const HARDIRQ: usize = 2;
/// The simulated hardware: the engine, in the sender's context (inline
/// model) or in the `simnic-hw` thread.
pub const HARDWARE: usize = 3;
/// The sending process.
pub const SENDER: usize = 4;
/// Number of lanes.
pub const LANES: usize = 5;

/// How a span is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    /// A system call, named by it.
    Syscall,
    /// Off the CPU, asleep (prev_state S, D or I).
    Asleep,
    /// Off the CPU but runnable (preempted, or woken and not yet running).
    Runnable,
    /// A hard interrupt handler (irq_work, an IPI).
    HardIrq,
    /// A softirq.
    Softirq,
    /// The NAPI-style poll inside the softirq.
    Poll,
    /// The hardware engine at work.
    Engine,
}

/// A time span on a lane.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub lane: usize,
    pub start: u64,
    pub end: u64,
    pub kind: SpanKind,
    /// What to write on it.
    pub label: String,
    /// What to show on hover (arguments, return value, CPU).
    pub detail: String,
    /// Nesting level on its lane (0 outermost).
    pub depth: u8,
}

/// An instant on a lane: one trace event.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub lane: usize,
    pub t: u64,
    /// Short name (`data_ready`).
    pub label: String,
    /// The trace line's event and fields.
    pub detail: String,
}

/// What an arrow shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrowKind {
    /// A step of the datapath handing over to another context.
    Datapath,
    /// The receiver's wake-up (or its signal).
    Wakeup,
}

/// An arrow from one lane's instant to another's.
#[derive(Clone, Debug, PartialEq)]
pub struct Arrow {
    pub from: (usize, u64),
    pub to: (usize, u64),
    pub kind: ArrowKind,
    pub label: String,
}

/// Phase 1 or 2 of the input operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    pub number: u8,
    pub start: u64,
    pub end: u64,
    /// What starts and ends it, in words.
    pub label: String,
}

/// One figure's content.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    pub model: String,
    pub title: String,
    /// The first event shown: time 0 of the figure.
    pub t0: u64,
    /// The last instant shown.
    pub end: u64,
    /// Each lane's name and what it holds.
    pub lanes: Vec<(String, String)>,
    pub spans: Vec<Span>,
    pub marks: Vec<Mark>,
    pub arrows: Vec<Arrow>,
    pub phases: Vec<Phase>,
    /// The receiver's, the sender's and the hardware's pids, and whether
    /// the hardware ran inline.
    pub reader: i32,
    pub sender: i32,
    pub inline: bool,
    /// The window's trace lines, indices into the parsed trace: what a
    /// snippet keeps.
    pub lines: (usize, usize),
    /// The instants that matter to the datagram's path (every span and
    /// step of the receiver, the interrupt contexts and the hardware, the
    /// send call): long gaps between them are what the figure cuts.
    pub anchors: Vec<u64>,
}

/// A system call of one task, from its entry to its exit; an end that is
/// not in the trace is at 0 (before) or `u64::MAX` (after).
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub name: String,
    pub args: String,
    pub ret: Option<i64>,
    pub start: u64,
    pub end: u64,
}

/// Every system call of task `pid`, in order.
pub fn syscalls(lines: &[Line], pid: i32) -> Vec<Call> {
    let mut out: Vec<Call> = Vec::new();
    let mut open: Option<Call> = None;
    for l in lines.iter().filter(|l| l.pid == pid) {
        match l.kind {
            Kind::SysEnter { name, args } => {
                // A call that never returned (exit_group, execve's old
                // image) ends where the next one starts.
                if let Some(mut c) = open.take() {
                    c.end = l.ts;
                    out.push(c);
                }
                open = Some(Call {
                    name: name.to_string(),
                    args: args.to_string(),
                    ret: None,
                    start: l.ts,
                    end: u64::MAX,
                });
            }
            Kind::SysExit { name, ret } => match open.take() {
                Some(mut c) if c.name == name => {
                    c.end = l.ts;
                    c.ret = Some(ret);
                    out.push(c);
                }
                other => {
                    if let Some(mut c) = other {
                        c.end = l.ts;
                        out.push(c);
                    }
                    out.push(Call {
                        name: name.to_string(),
                        args: String::new(),
                        ret: Some(ret),
                        start: 0,
                        end: l.ts,
                    });
                }
            },
            Kind::Event { .. } => {}
        }
    }
    out.extend(open);
    out
}

/// The spans task `pid` spent off the CPU: asleep until woken, then
/// runnable until it runs; preempted (runnable) when it left running.
pub fn off_cpu(lines: &[Line], pid: i32) -> Vec<(u64, u64, SpanKind, String)> {
    let mut out = Vec::new();
    // (since, asleep?, state text)
    let mut off: Option<(u64, bool, String)> = None;
    let mut woken: Option<u64> = None;
    let mut seen_any = false;
    for l in lines {
        if l.is("sched_switch") {
            let (prev, next) = l.fields().split_once("==>").unwrap_or((l.fields(), ""));
            let prev_pid = crate::parse::field(prev, "prev_pid").and_then(|p| p.parse().ok());
            let next_pid = crate::parse::field(next, "next_pid").and_then(|p| p.parse().ok());
            if prev_pid == Some(pid) {
                let state = crate::parse::field(prev, "prev_state").unwrap_or("?");
                let asleep = !state.starts_with('R');
                off = Some((l.ts, asleep, state.to_string()));
                woken = None;
                seen_any = true;
            } else if next_pid == Some(pid) {
                // Switched in without a switch-out in the trace: off the
                // CPU since before it, in a state it does not tell.
                let (since, asleep, state) =
                    off.take()
                        .unwrap_or((0, !seen_any, "unknown: before the trace".to_string()));
                seen_any = true;
                match woken.take() {
                    Some(w) if asleep => {
                        out.push((
                            since,
                            w,
                            SpanKind::Asleep,
                            format!("asleep (prev_state {state})"),
                        ));
                        out.push((
                            w,
                            l.ts,
                            SpanKind::Runnable,
                            "woken, waiting for the CPU".into(),
                        ));
                    }
                    _ if asleep => out.push((
                        since,
                        l.ts,
                        SpanKind::Asleep,
                        format!("asleep (prev_state {state})"),
                    )),
                    _ => out.push((
                        since,
                        l.ts,
                        SpanKind::Runnable,
                        format!("preempted (prev_state {state})"),
                    )),
                }
            }
        } else if l.is("sched_wakeup") && l.num("pid") == Some(i64::from(pid)) {
            woken = Some(l.ts);
        }
    }
    if let Some((since, asleep, state)) = off {
        let kind = if asleep {
            SpanKind::Asleep
        } else {
            SpanKind::Runnable
        };
        out.push((
            since,
            u64::MAX,
            kind,
            format!("off the CPU (prev_state {state})"),
        ));
    }
    out
}

/// The short name of a simnic event for the figure.
fn short(event: &str) -> &str {
    event.strip_prefix("simnic_").unwrap_or(event)
}

/// The pids of the sample and of every process it forked.
fn process_tree(lines: &[Line], root: Option<i32>) -> BTreeSet<i32> {
    let mut tree = BTreeSet::new();
    if let Some(root) = root {
        tree.insert(root);
    }
    for l in lines.iter().filter(|l| l.is("sched_process_fork")) {
        if let (Some(parent), Some(child)) = (l.num("pid"), l.num("child_pid")) {
            if tree.contains(&(parent as i32)) {
                tree.insert(child as i32);
            }
        }
    }
    tree
}

/// Finds a line at or after `from` (before `to`) that `pred` accepts.
fn find_fwd(lines: &[Line], from: usize, to: usize, pred: impl Fn(&Line) -> bool) -> Option<usize> {
    (from..to.min(lines.len())).find(|&i| pred(&lines[i]))
}

/// Finds the last line before `before` that `pred` accepts.
fn find_back(lines: &[Line], before: usize, pred: impl Fn(&Line) -> bool) -> Option<usize> {
    (0..before.min(lines.len()))
        .rev()
        .find(|&i| pred(&lines[i]))
}

/// The indices of the datagram's steps in the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Steps {
    /// The receiving task.
    pub reader: i32,
    pub xmit: usize,
    pub doorbell: usize,
    pub rx_dma: usize,
    pub irq_raise: usize,
    pub intr: usize,
    pub poll_start: usize,
    pub deliver: usize,
    /// `simnic_data_ready` (none when the datagram went to an AIO read:
    /// nothing is queued, nobody is woken through the endpoint's queue).
    pub data_ready: Option<usize>,
    /// `simnic_wake`: the entries `data_ready`'s wake-up woke.
    pub wake: Option<usize>,
    pub poll_end: Option<usize>,
    /// `signal_generate` for the receiver (signal-driven I/O).
    pub signal: Option<usize>,
    /// `sched_wakeup` of the receiver caused by the datagram.
    pub wakeup: Option<usize>,
    /// `sched_switch` to the receiver after that wake-up.
    pub switch_in: Option<usize>,
    /// `signal_deliver` in the receiver (its handler is set up).
    pub signal_deliver: Option<usize>,
    /// `simnic_recv_copy` in the receiver (none when the kernel copied
    /// the datagram in its receive path: AIO, the mmap ring).
    pub recv_copy: Option<usize>,
    /// The exit of the receiver's first system call to return after the
    /// delivery (for AIO and the mmap ring: the wait telling it).
    pub returned: Option<usize>,
}

/// Finds the first datagram that the sample's receiver (a task of the
/// sample's process tree) got, that another process sent (samples that
/// send to themselves first, to show a point, do not count), and whose
/// wait phase is in the trace; returns its steps and phases. The datagram
/// is found by where `model`'s phase 2 leaves its mark: the receiver's
/// `simnic_recv_copy`, or (AIO, the mmap ring: no receiver's context
/// copies) the delivery's outcome, the receiver then being the sample.
pub fn datagram(
    lines: &[Line],
    sample_pid: Option<i32>,
    model: &Model,
) -> Result<(Steps, [(u64, u64); 2]), String> {
    let tree = process_tree(lines, sample_pid);
    let mut first_err = None;
    for (i, l) in lines.iter().enumerate() {
        let reader = match (model.copy, delivered_outcome(model.copy)) {
            (_, None) => {
                if !l.is("simnic_recv_copy") || !(tree.is_empty() || tree.contains(&l.pid)) {
                    continue;
                }
                l.pid
            }
            (_, Some(outcome)) => {
                if !l.is("simnic_deliver") || !l.fields().ends_with(outcome) {
                    continue;
                }
                match sample_pid {
                    Some(p) => p,
                    None => {
                        first_err
                            .get_or_insert("no sample pid in the trace's metadata".to_string());
                        continue;
                    }
                }
            }
        };
        let found = steps(lines, i, reader, model.copy).and_then(|s| {
            if lines[s.xmit].pid == reader {
                return Err("sent by the receiver itself".to_string());
            }
            Ok((s, phases(lines, &s, model)?))
        });
        match found {
            Ok(found) => return Ok(found),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(
        first_err.unwrap_or_else(|| match delivered_outcome(model.copy) {
            None => "no simnic_recv_copy of the sample in the trace: was the datagram received?"
                .to_string(),
            Some(o) => {
                format!("no simnic_deliver ... {o} in the trace: was the datagram received?")
            }
        }),
    )
}

/// The `simnic_deliver` outcome that ends the datagram's path when no
/// receiver's context copies it.
fn delivered_outcome(copy: Copy) -> Option<&'static str> {
    match copy {
        Copy::Syscall | Copy::TaskWork => None,
        Copy::Softirq => Some("to an aio read"),
        Copy::Ring => Some("into the mmap ring"),
    }
}

/// Walks back from line `at` (the receiver's `simnic_recv_copy`, or the
/// `simnic_deliver` that ends the path for `copy`) through its datagram's
/// steps; `reader` is the receiving task.
pub fn steps(lines: &[Line], at: usize, reader: i32, copy: Copy) -> Result<Steps, String> {
    let by_recv_copy = delivered_outcome(copy).is_none();
    let (port, deliver, recv_copy) = if by_recv_copy {
        let port = lines[at]
            .num("port")
            .ok_or("simnic_recv_copy without port=")?;
        let deliver = find_back(lines, at, |l| {
            l.is("simnic_deliver") && l.num("dst") == Some(port) && l.fields().ends_with("queued")
        })
        .ok_or_else(|| {
            format!(
                "no simnic_deliver ... queued before the receiver's simnic_recv_copy (port {port})"
            )
        })?;
        (port, deliver, Some(at))
    } else {
        let port = lines[at].num("dst").ok_or("simnic_deliver without dst=")?;
        (port, at, None)
    };
    let missing =
        |what: &str| format!("no {what} before the datagram's delivery (port {port}, line {at})");
    // The receiver's first return from a system call after the delivery:
    // its wake-up, if any, comes before.
    let returned = find_fwd(lines, deliver, lines.len(), |l| {
        l.pid == reader && matches!(l.kind, Kind::SysExit { .. })
    });
    let limit = recv_copy.or(returned).unwrap_or(lines.len());
    let data_ready = find_fwd(lines, deliver, limit, |l| {
        l.is("simnic_data_ready") && l.num("port") == Some(port)
    });
    if data_ready.is_none() && copy != Copy::Softirq {
        return Err(format!(
            "no simnic_data_ready after the delivery (port {port}, line {at})"
        ));
    }
    let wake = data_ready.and_then(|d| {
        find_fwd(lines, d, limit, |l| {
            l.is("simnic_wake") && l.num("port") == Some(port)
        })
    });
    let cpu = lines[deliver].cpu;
    let poll_start = find_back(lines, deliver, |l| {
        l.is("simnic_napi_poll_start") && l.cpu == cpu
    })
    .ok_or_else(|| missing("simnic_napi_poll_start"))?;
    let poll_end = find_fwd(lines, data_ready.unwrap_or(deliver), lines.len(), |l| {
        l.is("simnic_napi_poll_end") && l.cpu == cpu
    });
    let intr = find_back(lines, poll_start, |l| l.is("simnic_intr"))
        .ok_or_else(|| missing("simnic_intr"))?;
    let irq_raise = find_back(lines, intr, |l| {
        l.is("simnic_irq_raise") && l.fields().ends_with("raised")
    })
    .ok_or_else(|| missing("simnic_irq_raise ... raised"))?;
    let rx_dma = find_back(lines, irq_raise, |l| {
        l.is("simnic_hw_rx_dma") && l.num("dst") == Some(port)
    })
    .ok_or_else(|| missing("simnic_hw_rx_dma"))?;
    let xmit = find_back(lines, rx_dma, |l| {
        l.is("simnic_xmit") && l.num("dst") == Some(port)
    })
    .ok_or_else(|| missing("simnic_xmit"))?;
    let sender = lines[xmit].pid;
    let doorbell = find_fwd(lines, xmit, rx_dma, |l| {
        l.is("simnic_doorbell") && l.pid == sender
    })
    .ok_or_else(|| missing("simnic_doorbell after the simnic_xmit"))?;

    let reader_i = i64::from(reader);
    let signal = data_ready.and_then(|d| {
        find_fwd(lines, d, limit, |l| {
            l.is("signal_generate") && l.num("pid") == Some(reader_i)
        })
    });
    let woke_by_data = data_ready.is_some_and(|d| lines[d].fields().ends_with("wake-up"));
    // The signal's wake-up (complete_signal -> signal_wake_up) happens
    // inside __send_signal_locked, whose signal_generate event is traced
    // at its end: on another CPU the woken receiver's sched_wakeup can
    // come first. So the wake-up is looked for from data_ready on. An AIO
    // read's completion (aio_complete, right after the delivery) wakes
    // the receiver's io_getevents() without data_ready.
    let wake_from = if copy == Copy::Softirq {
        Some(deliver)
    } else {
        data_ready.filter(|_| woke_by_data || signal.is_some())
    };
    let wakeup = wake_from.and_then(|from| {
        find_fwd(lines, from, limit, |l| {
            l.is("sched_wakeup") && l.num("pid") == Some(reader_i)
        })
    });
    let switch_in = wakeup.and_then(|w| {
        find_fwd(lines, w, limit, |l| {
            l.is("sched_switch")
                && l.fields()
                    .split_once("==>")
                    .and_then(|(_, next)| crate::parse::field(next, "next_pid"))
                    == Some(reader.to_string().as_str())
        })
    });
    let signal_deliver = signal.and_then(|s| {
        find_fwd(lines, switch_in.unwrap_or(s), limit, |l| {
            l.is("signal_deliver") && l.pid == reader
        })
    });
    Ok(Steps {
        reader,
        xmit,
        doorbell,
        rx_dma,
        irq_raise,
        intr,
        poll_start,
        deliver,
        data_ready,
        wake,
        poll_end,
        signal,
        wakeup,
        switch_in,
        signal_deliver,
        recv_copy,
        returned,
    })
}

/// The two phases of the receiver's input operation, in nanoseconds.
/// Phase 1 runs from the start of the wait (see [`Wait`]) to the datagram
/// being delivered (`simnic_deliver`). Phase 2 is the copy: from
/// `simnic_recv_copy` to the return of the system call it ran in (the
/// receiver's read, or io_uring's task work in `io_uring_enter()`); for
/// AIO, from the delivery to the completion's wake-up of the receiver (or
/// the poll's end, whichever comes first), all in the softirq; for the
/// mmap ring, which has no copy call, from the return of the wait to the
/// receiver's next system call: the process reading the slot in place.
pub fn phases(lines: &[Line], steps: &Steps, model: &Model) -> Result<[(u64, u64); 2], String> {
    let reader = steps.reader;
    let calls = syscalls(lines, reader);
    let queued = lines[steps.deliver].ts;
    let start = match model.wait {
        Wait::In(names) => calls
            .iter()
            // A call whose entry is not in the trace (start 0) cannot
            // start the phase.
            .filter(|c| names.contains(&c.name.as_str()) && c.start > 0 && c.start <= queued && c.end >= queued)
            .map(|c| c.start)
            .next_back()
            .ok_or_else(|| {
                format!(
                    "the receiver (pid {reader}) was in none of {names:?} when the datagram was queued"
                )
            })?,
        Wait::Retry(name) => {
            let tried: Vec<&Call> = calls
                .iter()
                .filter(|c| c.name == name && c.start <= queued)
                .collect();
            let after_success = tried
                .iter()
                .rposition(|c| c.ret.is_some_and(|r| r >= 0))
                .map_or(0, |i| i + 1);
            tried[after_success..]
                .iter()
                .find(|c| c.ret == Some(-i64::from(libc::EAGAIN)))
                .map(|c| c.start)
                .ok_or_else(|| {
                    format!("the receiver (pid {reader}) made no {name}() that failed with EAGAIN before the datagram was queued")
                })?
        }
        Wait::Posted(name) => calls
            .iter()
            .filter(|c| {
                c.name == name && c.start > 0 && c.end < queued && c.ret.is_some_and(|r| r > 0)
            })
            .map(|c| c.start)
            .next_back()
            .ok_or_else(|| {
                format!(
                    "the receiver (pid {reader}) made no {name}() that returned before the datagram was delivered"
                )
            })?,
    };
    let p2 = match model.copy {
        Copy::Syscall | Copy::TaskWork => {
            let copied = lines[steps.recv_copy.ok_or("no simnic_recv_copy")?].ts;
            let copy_call = calls
                .iter()
                .find(|c| c.start <= copied && c.end >= copied)
                .ok_or_else(|| {
                    format!("simnic_recv_copy outside any system call of pid {reader}")
                })?;
            if copy_call.end == u64::MAX {
                return Err(format!(
                    "the receiver's {}() that copied the datagram does not return in the trace",
                    copy_call.name
                ));
            }
            (copied, copy_call.end)
        }
        Copy::Softirq => {
            // The copy is in the softirq, right after the delivery; the
            // completion in a work item, whose aio_complete() wakes the
            // receiver's io_getevents(). Without that wake-up (the
            // receiver was not waiting yet), the softirq's end.
            let end = steps
                .wakeup
                .or(steps.poll_end)
                .map(|i| lines[i].ts)
                .ok_or("neither a wake-up of the receiver nor the poll's end after the AIO read's delivery")?;
            (queued, end)
        }
        Copy::Ring => {
            let told = steps.returned.map(|i| lines[i].ts).ok_or_else(|| {
                format!(
                    "the receiver (pid {reader}) does not return from its wait after the delivery"
                )
            })?;
            let next = calls
                .iter()
                .find(|c| c.start >= told)
                .map(|c| c.start)
                .ok_or_else(|| {
                    format!("no system call of the receiver (pid {reader}) after its wait returned")
                })?;
            (told, next)
        }
    };
    Ok([(start, queued), p2])
}

/// A kworker's run: the work item that completed an AIO read.
struct Work {
    pid: i32,
    comm: String,
    start: u64,
    end: u64,
}

/// The kworker the delivery's softirq woke (`queue_work` of the AIO
/// completion), from its switch-in to its switch-out; it must run before
/// the receiver's wake-up when there is one.
fn completion_work(lines: &[Line], s: &Steps) -> Option<Work> {
    let until = s.poll_end.unwrap_or(lines.len());
    let woken = find_fwd(lines, s.deliver, until, |l| {
        l.is("sched_wakeup")
            && crate::parse::field(l.fields(), "comm").is_some_and(|c| c.starts_with("kworker/"))
    })?;
    let pid = lines[woken].num("pid")?;
    let comm = crate::parse::field(lines[woken].fields(), "comm")?.to_string();
    let switched = |side: &'static str| {
        move |l: &Line| {
            l.is("sched_switch")
                && l.fields().split_once("==>").is_some_and(|(prev, next)| {
                    let f = if side == "next" { next } else { prev };
                    crate::parse::field(f, &format!("{side}_pid")) == Some(pid.to_string().as_str())
                })
        }
    };
    let start = find_fwd(lines, woken, lines.len(), switched("next"))?;
    if s.wakeup.is_some_and(|w| w < start) {
        return None;
    }
    let end = find_fwd(lines, start, lines.len(), switched("prev"))?;
    Some(Work {
        pid: pid as i32,
        comm,
        start: lines[start].ts,
        end: lines[end].ts,
    })
}

/// The lane of the context a line fired in, if it is one of the figure's.
fn lane_of(l: &Line, reader: i32, sender: i32, hw: i32) -> Option<usize> {
    match l.context() {
        Context::HardIrq => Some(HARDIRQ),
        Context::Softirq => Some(SOFTIRQ),
        Context::Task if l.pid == reader => Some(RECEIVER),
        Context::Task if l.pid == hw && hw != sender => Some(HARDWARE),
        Context::Task if l.pid == sender => Some(SENDER),
        Context::Task => None,
    }
}

/// The name of an interrupt vector's `*_entry` event, for the figure.
fn vector_name(entry: &str) -> String {
    let base = entry.strip_suffix("_entry").unwrap_or(entry);
    match base {
        "irq_work" => "irq_work".into(),
        "reschedule" => "reschedule IPI".into(),
        other => format!("{} IPI", other.replace('_', " ")),
    }
}

/// The hard-irq span (an `irq_vectors` `*_entry`/`*_exit` pair on the same
/// CPU) around line `at`, if the trace has one.
fn irq_span(lines: &[Line], at: usize) -> Option<(u64, u64, String)> {
    let cpu = lines[at].cpu;
    let entry = find_back(lines, at, |l| {
        l.cpu == cpu && l.event().ends_with("_entry") && l.fields().starts_with("vector=")
    })?;
    let name = lines[entry].event().strip_suffix("_entry")?;
    let exit_name = format!("{name}_exit");
    let exit = find_fwd(lines, at, lines.len(), |l| l.cpu == cpu && l.is(&exit_name))?;
    // An exit of an earlier entry would mean `at` was not inside it.
    if find_fwd(lines, entry + 1, at, |l| l.cpu == cpu && l.is(&exit_name)).is_some() {
        return None;
    }
    Some((
        lines[entry].ts,
        lines[exit].ts,
        vector_name(lines[entry].event()),
    ))
}

/// The softirq span (`softirq_entry`/`softirq_exit` on the same CPU)
/// around line `at`.
fn softirq_span(lines: &[Line], at: usize) -> Option<(u64, u64, String)> {
    let cpu = lines[at].cpu;
    let entry = find_back(lines, at, |l| l.cpu == cpu && l.is("softirq_entry"))?;
    if find_fwd(lines, entry + 1, at, |l| {
        l.cpu == cpu && l.is("softirq_exit")
    })
    .is_some()
    {
        return None;
    }
    let exit = find_fwd(lines, at, lines.len(), |l| {
        l.cpu == cpu && l.is("softirq_exit")
    })?;
    let action = lines[entry]
        .fields()
        .split_once("[action=")
        .map_or("?", |(_, a)| a.trim_end_matches(']'));
    Some((lines[entry].ts, lines[exit].ts, format!("softirq {action}")))
}

/// The event and fields of a line, for hover texts.
fn describe(l: &Line) -> String {
    let what = match l.kind {
        Kind::Event { name, fields } => format!("{name}: {fields}"),
        Kind::SysEnter { name, args } => format!("sys_{name}({args})"),
        Kind::SysExit { name, ret } => format!("sys_{name} -> {ret}"),
    };
    format!("{what} [{}-{} cpu{} {}]", l.comm, l.pid, l.cpu, l.flags)
}

/// Builds the figure of `model` from a parsed trace; `sample_pid` is the
/// pid `record` started the sample as (the trace's metadata).
pub fn build(lines: &[Line], model: &Model, sample_pid: Option<i32>) -> Result<Timeline, String> {
    let (s, [p1, p2]) = datagram(lines, sample_pid, model)?;
    let reader = s.reader;
    let sender = lines[s.xmit].pid;
    let hw = lines[s.rx_dma].pid;
    let inline = hw == sender && lines[s.rx_dma].context() == Context::Task;

    let reader_calls = syscalls(lines, reader);
    let sender_calls = syscalls(lines, sender);
    let xmit_ts = lines[s.xmit].ts;
    let send_call = sender_calls
        .iter()
        .find(|c| c.start <= xmit_ts && c.end >= xmit_ts);

    // The window: from the first of the wait and the send to the last of
    // the copy's return, the poll's end and the send's return.
    let t0 = p1.0.min(send_call.map_or(xmit_ts, |c| c.start));
    let mut last = p2.1;
    if let Some(e) = s.poll_end {
        last = last.max(lines[e].ts);
    }
    // AIO: the wait that tells the receiver, after the kernel's copy.
    if let Some(r) = s.returned.filter(|_| s.recv_copy.is_none()) {
        last = last.max(lines[r].ts);
    }
    if let Some(c) = send_call {
        if c.end != u64::MAX {
            last = last.max(c.end);
        }
    }
    let end = last + (last - t0) / 50;
    let first_line = lines.iter().position(|l| l.ts >= t0).unwrap_or(0);
    let last_line = lines
        .iter()
        .rposition(|l| l.ts <= end)
        .map_or(lines.len(), |i| i + 1);

    let clip = |a: u64, b: u64| -> Option<(u64, u64)> {
        let (a, b) = (a.max(t0), b.min(end));
        (a <= b).then_some((a, b))
    };
    let mut spans = Vec::new();
    // The sender from its send call on: before it, it was starting up
    // and sleeping, which is not the datagram's story.
    let send_from = send_call.map_or(xmit_ts, |c| c.start);
    let mut push_calls = |lane: usize, calls: &[Call], pid: i32| {
        let from = if lane == SENDER { send_from } else { 0 };
        for c in calls.iter().filter(|c| c.end >= from) {
            if let Some((a, b)) = clip(c.start, c.end) {
                let ret = c.ret.map_or(String::new(), |r| {
                    if r < 0 && r > -4096 {
                        format!(" = -1 (errno {})", -r)
                    } else {
                        format!(" = {r}")
                    }
                });
                spans.push(Span {
                    lane,
                    start: a,
                    end: b,
                    kind: SpanKind::Syscall,
                    label: c.name.clone(),
                    detail: format!("pid {pid}: {}({}){ret}", c.name, c.args),
                    depth: 1,
                });
            }
        }
        for (a, b, kind, what) in off_cpu(lines, pid) {
            if let Some((a, b)) = clip(a.max(from), b) {
                spans.push(Span {
                    lane,
                    start: a,
                    end: b,
                    kind,
                    label: String::new(),
                    detail: format!("pid {pid}: {what}"),
                    depth: 0,
                });
            }
        }
    };
    push_calls(RECEIVER, &reader_calls, reader);
    push_calls(SENDER, &sender_calls, sender);

    // The hardware.
    let hw_detail;
    if inline {
        hw_detail = format!("engine inline, in the sender's context (pid {sender})");
        spans.push(Span {
            lane: HARDWARE,
            start: lines[s.doorbell].ts,
            end: lines[s.irq_raise].ts,
            kind: SpanKind::Engine,
            label: "engine (inline)".into(),
            detail: format!(
                "the hardware engine, run by pid {sender} at its doorbell (hw_inline=1)"
            ),
            depth: 1,
        });
    } else {
        hw_detail = format!("{} thread (pid {hw})", lines[s.rx_dma].comm);
        for (a, b, kind, what) in off_cpu(lines, hw) {
            if let Some((a, b)) = clip(a, b) {
                spans.push(Span {
                    lane: HARDWARE,
                    start: a,
                    end: b,
                    kind,
                    label: String::new(),
                    detail: format!("pid {hw}: {what}"),
                    depth: 0,
                });
            }
        }
        let runs_from = find_back(lines, s.rx_dma, |l| {
            l.is("sched_switch")
                && l.fields()
                    .split_once("==>")
                    .and_then(|(_, n)| crate::parse::field(n, "next_pid"))
                    == Some(hw.to_string().as_str())
        })
        .map_or(lines[s.rx_dma].ts, |i| lines[i].ts);
        spans.push(Span {
            lane: HARDWARE,
            start: runs_from.max(t0),
            end: lines[s.irq_raise].ts,
            kind: SpanKind::Engine,
            label: "engine".into(),
            detail: format!(
                "the hardware engine in its thread {} (pid {hw}, hw_inline=0)",
                lines[s.rx_dma].comm
            ),
            depth: 1,
        });
    }

    // Hard irq: the interrupt's handler, and the IPI that carried the
    // receiver's wake-up if it came in one.
    let mut irq_at = vec![s.intr];
    if let Some(w) = s.wakeup {
        if lines[w].context() == Context::HardIrq {
            irq_at.push(w);
        }
    }
    for at in irq_at {
        if let Some((a, b, name)) = irq_span(lines, at) {
            if !spans.iter().any(|sp| sp.lane == HARDIRQ && sp.start == a) {
                spans.push(Span {
                    lane: HARDIRQ,
                    start: a,
                    end: b,
                    kind: SpanKind::HardIrq,
                    label: format!("{name} cpu{}", lines[at].cpu),
                    detail: format!("{name} handler on cpu{}", lines[at].cpu),
                    depth: 0,
                });
            }
        }
    }
    // AIO: the work item that completes the read (the copy was in the
    // softirq), on the softirq's lane: a kworker the softirq woke after
    // the delivery, from its switch-in to its switch-out.
    let work = (model.copy == Copy::Softirq)
        .then(|| completion_work(lines, &s))
        .flatten();
    if let Some(w) = &work {
        if let Some((a, b)) = clip(w.start, w.end) {
            spans.push(Span {
                lane: SOFTIRQ,
                start: a,
                end: b,
                kind: SpanKind::Softirq,
                label: format!("work item, {}", w.comm),
                detail: format!(
                    "{} (pid {}): the AIO read's completion (aio_complete_rw: unpin, event, wake-up)",
                    w.comm, w.pid
                ),
                depth: 0,
            });
        }
    }
    // Softirq: the poll, inside its softirq.
    if let Some((a, b, name)) = softirq_span(lines, s.poll_start) {
        spans.push(Span {
            lane: SOFTIRQ,
            start: a,
            end: b,
            kind: SpanKind::Softirq,
            label: name.clone(),
            detail: format!("{name} on cpu{}", lines[s.poll_start].cpu),
            depth: 0,
        });
    }
    if let Some(e) = s.poll_end {
        spans.push(Span {
            lane: SOFTIRQ,
            start: lines[s.poll_start].ts,
            end: lines[e].ts,
            kind: SpanKind::Poll,
            label: "NAPI poll".into(),
            detail: format!(
                "{} ... {}",
                describe(&lines[s.poll_start]),
                describe(&lines[e])
            ),
            depth: 1,
        });
    }

    // Marks: each step where it ran.
    let mut marks = Vec::new();
    let mut steps_shown: Vec<usize> =
        vec![s.xmit, s.doorbell, s.rx_dma, s.irq_raise, s.intr, s.deliver];
    steps_shown.extend(s.data_ready);
    steps_shown.extend(s.wake);
    steps_shown.extend(s.recv_copy);
    steps_shown.extend(s.signal);
    steps_shown.extend(s.wakeup);
    steps_shown.extend(s.signal_deliver);
    for i in steps_shown {
        let l = &lines[i];
        let lane = if matches!(l.event(), "simnic_hw_rx_dma" | "simnic_irq_raise") {
            Some(HARDWARE)
        } else {
            lane_of(l, reader, sender, hw)
        };
        if let Some(lane) = lane {
            // The delivery says where the datagram went when it is not
            // the endpoint's queue.
            let label = match (l.event(), delivered_outcome(model.copy)) {
                ("simnic_deliver", Some(o)) if l.fields().ends_with(o) => match model.copy {
                    Copy::Softirq => "deliver: copied to the AIO read".to_string(),
                    _ => "deliver: into the ring slot".to_string(),
                },
                _ => short(l.event()).to_string(),
            };
            marks.push(Mark {
                lane,
                t: l.ts,
                label,
                detail: describe(l),
            });
        }
    }

    // Arrows: the hand-overs between contexts, and the wake-up.
    let mut arrows = Vec::new();
    let at = |i: usize| {
        (
            lane_of(&lines[i], reader, sender, hw).unwrap_or(SOFTIRQ),
            lines[i].ts,
        )
    };
    if !inline {
        if let Some(w) = find_fwd(lines, s.doorbell, s.rx_dma, |l| {
            l.is("sched_wakeup") && l.num("pid") == Some(i64::from(hw))
        }) {
            arrows.push(Arrow {
                from: (SENDER, lines[s.doorbell].ts),
                to: (HARDWARE, lines[w].ts),
                kind: ArrowKind::Datapath,
                label: "doorbell wakes simnic-hw".into(),
            });
        }
    }
    arrows.push(Arrow {
        from: (HARDWARE, lines[s.irq_raise].ts),
        to: (HARDIRQ, lines[s.intr].ts),
        kind: ArrowKind::Datapath,
        label: "interrupt".into(),
    });
    arrows.push(Arrow {
        from: (HARDIRQ, lines[s.intr].ts),
        to: (SOFTIRQ, lines[s.poll_start].ts),
        kind: ArrowKind::Datapath,
        label: "poll scheduled".into(),
    });
    let mut from = at(s.data_ready.unwrap_or(s.deliver));
    if let Some(w) = &work {
        arrows.push(Arrow {
            from,
            to: (SOFTIRQ, w.start),
            kind: ArrowKind::Datapath,
            label: "completion work queued".into(),
        });
        from = (SOFTIRQ, w.start);
    }
    if let Some(sig) = s.signal {
        arrows.push(Arrow {
            from,
            to: at(sig),
            kind: ArrowKind::Wakeup,
            label: format!("kill_fasync: {}", signal_name(&lines[sig])),
        });
    }
    if let Some(w) = s.wakeup {
        let to = at(w);
        if to != from {
            arrows.push(Arrow {
                from,
                to,
                kind: ArrowKind::Wakeup,
                label: if s.signal.is_some() {
                    "signal_wake_up".into()
                } else {
                    match model.copy {
                        Copy::Softirq => "aio_complete: wake-up".into(),
                        Copy::TaskWork => "io_poll_wake: task work".into(),
                        _ => "wake-up".into(),
                    }
                },
            });
        }
        from = to;
    }
    if let Some(sw) = s.switch_in {
        arrows.push(Arrow {
            from,
            to: (RECEIVER, lines[sw].ts),
            kind: ArrowKind::Wakeup,
            label: "runs".into(),
        });
    }

    let wait_name = match model.wait {
        Wait::In(_) => reader_calls
            .iter()
            .find(|c| c.start == p1.0)
            .map_or("the wait".to_string(), |c| format!("{}()", c.name)),
        Wait::Retry(name) => format!("the first {name}() = EAGAIN"),
        Wait::Posted(name) => format!("{name}() posting the read"),
    };
    let copy_name = reader_calls
        .iter()
        .find(|c| c.start <= p2.0 && c.end >= p2.0)
        .map_or("the call".to_string(), |c| format!("{}()", c.name));
    let p2_label = match model.copy {
        Copy::Syscall => format!("phase 2, copying it: recv_copy to {copy_name} returning"),
        Copy::TaskWork => format!(
            "phase 2, copying it: io_uring's task work (the read retried) in {copy_name}, recv_copy to its return"
        ),
        Copy::Softirq => {
            "phase 2, copying it: the kernel, no system call: the copy in the softirq (deliver), the completion in a work item, to its wake-up"
                .to_string()
        }
        Copy::Ring => {
            let wait = reader_calls
                .iter()
                .find(|c| c.end == p2.0)
                .map_or("the wait".to_string(), |c| format!("{}()", c.name));
            format!(
                "phase 2, no system call: the slot (filled before deliver) read in place, from {wait}'s return to the next call"
            )
        }
    };
    let phases = vec![
        Phase {
            number: 1,
            start: p1.0,
            end: p1.1,
            label: format!(
                "phase 1, waiting for the data: {wait_name} to the datagram {}",
                match model.copy {
                    Copy::Syscall | Copy::TaskWork => "queued",
                    Copy::Softirq => "delivered to the posted read",
                    Copy::Ring => "in the ring",
                }
            ),
        },
        Phase {
            number: 2,
            start: p2.0,
            end: p2.1,
            label: p2_label,
        },
    ];

    let lanes = vec![
        (
            format!("receiver (pid {reader})"),
            "user and kernel: system calls; off the CPU: asleep / runnable".to_string(),
        ),
        (
            if work.is_some() {
                "softirq, work item".to_string()
            } else {
                "softirq".to_string()
            },
            match &work {
                Some(w) => format!(
                    "BH workqueue on cpu{}: the NAPI-style poll; {}: the AIO completion",
                    lines[s.poll_start].cpu, w.comm
                ),
                None => format!(
                    "BH workqueue on cpu{}: the NAPI-style poll",
                    lines[s.poll_start].cpu
                ),
            },
        ),
        (
            "hard irq".to_string(),
            "interrupt handlers: irq_work (the NIC's interrupt), IPIs".to_string(),
        ),
        ("hardware".to_string(), hw_detail),
        (
            format!("sender (pid {sender})"),
            "its system calls; off the CPU: asleep / runnable".to_string(),
        ),
    ];
    let mut anchors: Vec<u64> = vec![t0, end, p1.0, p1.1, p2.0, p2.1];
    for sp in &spans {
        if sp.lane != SENDER || sp.kind == SpanKind::Syscall && sp.start == send_from {
            anchors.extend([sp.start, sp.end]);
        }
    }
    anchors.extend(marks.iter().map(|m| m.t));
    for a in &arrows {
        anchors.extend([a.from.1, a.to.1]);
    }
    anchors.retain(|&a| a >= t0 && a <= end);
    anchors.sort_unstable();
    anchors.dedup();
    Ok(Timeline {
        model: model.name.to_string(),
        title: model.title.to_string(),
        t0,
        end,
        lanes,
        spans,
        marks,
        arrows,
        phases,
        reader,
        sender,
        inline,
        lines: (first_line, last_line),
        anchors,
    })
}

/// "SIGIO" for signal 29, else "signal N".
fn signal_name(l: &Line) -> String {
    match l.num("sig") {
        Some(29) => "SIGIO".into(),
        Some(n) => format!("signal {n}"),
        None => "signal".into(),
    }
}
