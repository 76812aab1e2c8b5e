//! `simnic-trace record` (tools/trace), the recorder of the timeline
//! figures: run for the blocking model, its trace must hold the blocking
//! read's two phases as they happened, from both of its buffers (the
//! system calls, filtered to the sample's processes, and the unfiltered
//! simnic and scheduler events) merged in the right order.

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

use simnic_trace::parse::{self, Kind, Line};

use crate::sys::*;

/// The sample and the processes it forked, from the trace's metadata and
/// its `sched_process_fork` events.
fn process_tree(lines: &[Line], root: i32) -> BTreeSet<i32> {
    let mut tree = BTreeSet::from([root]);
    for l in lines.iter().filter(|l| l.is("sched_process_fork")) {
        if let (Some(p), Some(c)) = (l.num("pid"), l.num("child_pid")) {
            if tree.contains(&(p as i32)) {
                tree.insert(c as i32);
            }
        }
    }
    tree
}

/// `simnic-trace record blocking` records, in this order: the receiver's
/// `read()` entry, `simnic_data_ready` for its port saying someone waits,
/// `sched_wakeup` of the receiver, `simnic_recv_copy` in the receiver, and
/// the exit of that same `read()` returning the datagram's length. The
/// system-call events are the sample's own (and the recorder's), none of
/// other processes; the scheduler's come from every context.
pub fn trace_timeline_blocking_read() -> TestResult {
    crate::sys::tracefs_allowed()?;
    let out = "/tmp/trace-timeline-blocking.trace";
    let r = Command::new("simnic-trace")
        .args(["record", "blocking", "-o", out])
        .output()
        .map_err(|e| format!("running simnic-trace record: {e}"))?;
    ensure!(
        r.status.success(),
        "simnic-trace record blocking: {}\n{}{}",
        r.status,
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    let text = fs::read_to_string(out).map_err(|e| format!("{out}: {e}"))?;
    let _ = fs::remove_file(out);
    let meta = |key: &str| -> Result<i32, String> {
        parse::metadata(&text)
            .into_iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| format!("no `{key}` in the trace's metadata"))
    };
    let sample = meta("sample pid")?;
    let recorder = meta("recorder pid")?;
    let lines = parse::parse_all(&text);
    let tree = process_tree(&lines, sample);
    ensure!(
        tree.len() >= 2,
        "no fork of the sender by pid {sample} in the trace"
    );
    let dump = || {
        lines
            .iter()
            .filter(|l| {
                !l.is("sched_switch")
                    || tree
                        .iter()
                        .any(|p| l.fields().contains(&format!("pid={p} ")))
            })
            .map(|l| format!("{l:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    };

    // The system-call buffer is the sample's: nothing from other tasks.
    let calls: Vec<&Line> = lines
        .iter()
        .filter(|l| matches!(l.kind, Kind::SysEnter { .. } | Kind::SysExit { .. }))
        .collect();
    ensure!(!calls.is_empty(), "no system-call events in the trace");
    if let Some(l) = calls
        .iter()
        .find(|l| !tree.contains(&l.pid) && l.pid != recorder)
    {
        return Err(format!(
            "system call of pid {} ({}), not the sample's: {l:?}",
            l.pid, l.comm
        ));
    }
    // The other buffer is not filtered by task: the idle task switches.
    ensure!(
        lines.iter().any(|l| l.is("sched_switch") && l.pid == 0),
        "no sched_switch from the idle task: the scheduler's events were filtered"
    );

    let copy = lines
        .iter()
        .position(|l| l.is("simnic_recv_copy") && tree.contains(&l.pid))
        .ok_or_else(|| format!("no simnic_recv_copy in the sample; trace:\n{}", dump()))?;
    let reader = lines[copy].pid;
    let port = lines[copy]
        .num("port")
        .ok_or("simnic_recv_copy without port")?;
    let is_read = |l: &Line, enter: bool| {
        l.pid == reader
            && match l.kind {
                Kind::SysEnter { name, .. } => enter && name == "read",
                Kind::SysExit { name, .. } => !enter && name == "read",
                _ => false,
            }
    };
    let entry = lines[..copy]
        .iter()
        .rposition(|l| is_read(l, true))
        .ok_or_else(|| {
            format!(
                "no read() entry of the receiver {reader} before its copy:\n{}",
                dump()
            )
        })?;
    let ready = (entry..copy)
        .find(|&i| lines[i].is("simnic_data_ready") && lines[i].num("port") == Some(port))
        .ok_or_else(|| {
            format!(
                "no simnic_data_ready port={port} between the read() entry and the copy:\n{}",
                dump()
            )
        })?;
    ensure!(
        lines[ready].fields().ends_with("wake-up"),
        "data_ready found nobody waiting although the receiver was in read(): {:?}",
        lines[ready]
    );
    let pid_field = Some(i64::from(reader));
    let wakeup = (ready..copy)
        .find(|&i| lines[i].is("sched_wakeup") && lines[i].num("pid") == pid_field)
        .ok_or_else(|| {
            format!(
                "no sched_wakeup of {reader} between data_ready and the copy:\n{}",
                dump()
            )
        })?;
    ensure!(
        !lines[entry..copy].iter().any(|l| is_read(l, false)),
        "the read() that copied is not the one that waited:\n{}",
        dump()
    );
    let exit = (copy..lines.len())
        .find(|&i| is_read(&lines[i], false))
        .ok_or_else(|| {
            format!(
                "the receiver's read() does not return after the copy:\n{}",
                dump()
            )
        })?;
    let len = lines[copy]
        .num("len")
        .ok_or("simnic_recv_copy without len")?;
    ensure!(
        lines[exit].kind
            == Kind::SysExit {
                name: "read",
                ret: len
            },
        "read() returned {:?}, the datagram had {len} bytes",
        lines[exit].kind
    );
    ensure!(
        lines[entry].ts <= lines[ready].ts
            && lines[ready].ts <= lines[wakeup].ts
            && lines[wakeup].ts <= lines[copy].ts
            && lines[copy].ts <= lines[exit].ts,
        "timestamps out of order: {:?} {:?} {:?} {:?} {:?}",
        lines[entry],
        lines[ready],
        lines[wakeup],
        lines[copy],
        lines[exit]
    );
    // And the figure can be drawn from it: every step is there.
    simnic_trace::timeline(&text).map_err(|e| format!("the figure's steps: {e}"))?;
    Ok(())
}
