// SPDX-License-Identifier: GPL-2.0

//! `simnic-trace record`, in the guest: runs a model's sample with the
//! trace events on and writes the merged trace.
//!
//! Two ftrace buffers, both on the `mono` clock (CLOCK_MONOTONIC, the one
//! the samples print):
//!
//! * the top-level one, unfiltered by task: simnic's events fire in
//!   softirq, hard-irq and other tasks' contexts, the scheduler's too;
//!   the softirq events only for the vectors the poll can run in
//!   (`HI` 0 and `TASKLET` 6: the BH workqueues), to leave out the timer
//!   and RCU ones;
//! * an instance (`instances/simnic-trace`) for the system-call events
//!   only, filtered to this process and the processes it forks
//!   (`set_event_pid` with `options/event-fork`): the sample and its
//!   sender, not the rest of the guest.
//!
//! The two are merged by timestamp; at an equal timestamp (the text has
//! microseconds) a system call's entry goes before the other buffer's
//! events and its exit after them, which is the only order they can have
//! happened in.

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};

use crate::models::Model;
use crate::parse::{self, Kind, META_PREFIX};

/// Where tracefs is mounted in the guest.
pub const TRACEFS: &str = "/sys/kernel/tracing";
/// The instance holding the system-call events.
const INSTANCE: &str = "instances/simnic-trace";

/// Events of the top-level buffer (under `events/`), with their filter.
const EVENTS: &[(&str, Option<&str>)] = &[
    ("simnic", None),
    ("sched/sched_switch", None),
    ("sched/sched_wakeup", None),
    ("sched/sched_process_fork", None),
    ("signal/signal_generate", None),
    ("signal/signal_deliver", None),
    ("irq/softirq_entry", Some("vec == 0 || vec == 6")),
    ("irq/softirq_exit", Some("vec == 0 || vec == 6")),
    ("irq_vectors/irq_work_entry", None),
    ("irq_vectors/irq_work_exit", None),
    ("irq_vectors/reschedule_entry", None),
    ("irq_vectors/reschedule_exit", None),
    ("irq_vectors/call_function_single_entry", None),
    ("irq_vectors/call_function_single_exit", None),
    ("irq_vectors/call_function_entry", None),
    ("irq_vectors/call_function_exit", None),
];

fn path(file: &str) -> String {
    format!("{TRACEFS}/{file}")
}

fn write(file: &str, value: &str) -> Result<(), String> {
    fs::write(path(file), value).map_err(|e| format!("writing {value:?} to {}: {e}", path(file)))
}

fn read(file: &str) -> Result<String, String> {
    fs::read_to_string(path(file)).map_err(|e| format!("reading {}: {e}", path(file)))
}

/// Tracing set up; dropping it turns everything off again and removes the
/// instance, whatever happened in between.
struct Session {
    events: Vec<String>,
}

impl Session {
    fn start() -> Result<Session, String> {
        if fs::metadata(path("events/simnic")).is_err() {
            return Err(format!(
                "{} missing: this kernel has no simnic trace events (is tracefs mounted?)",
                path("events/simnic")
            ));
        }
        let mut s = Session { events: Vec::new() };
        write("tracing_on", "0")?;
        write("trace", "")?;
        write("trace_clock", "mono")?;
        write("buffer_size_kb", "8192")?;
        for (event, filter) in EVENTS {
            let dir = format!("events/{event}");
            if fs::metadata(path(&dir)).is_err() {
                // The irq_vectors events are x86's; a missing one only
                // costs the figure that box.
                continue;
            }
            if let Some(f) = filter {
                write(&format!("{dir}/filter"), f)?;
            }
            write(&format!("{dir}/enable"), "1")?;
            s.events.push(dir);
        }
        if fs::metadata(path(INSTANCE)).is_ok() {
            fs::remove_dir(path(INSTANCE)).map_err(|e| format!("rmdir {}: {e}", path(INSTANCE)))?;
        }
        fs::create_dir(path(INSTANCE)).map_err(|e| format!("mkdir {}: {e}", path(INSTANCE)))?;
        write(&format!("{INSTANCE}/tracing_on"), "0")?;
        write(&format!("{INSTANCE}/trace_clock"), "mono")?;
        write(&format!("{INSTANCE}/buffer_size_kb"), "4096")?;
        write(&format!("{INSTANCE}/options/event-fork"), "1")?;
        write(
            &format!("{INSTANCE}/set_event_pid"),
            &std::process::id().to_string(),
        )?;
        write(&format!("{INSTANCE}/events/syscalls/enable"), "1")?;
        Ok(s)
    }

    fn on(&self, on: bool) -> Result<(), String> {
        let v = if on { "1" } else { "0" };
        // The syscall buffer first on and last off, so that it holds the
        // entry and exit of every call around the other's events.
        if on {
            write(&format!("{INSTANCE}/tracing_on"), v)?;
            write("tracing_on", v)
        } else {
            write("tracing_on", v)?;
            write(&format!("{INSTANCE}/tracing_on"), v)
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.on(false);
        for dir in &self.events {
            let _ = write(&format!("{dir}/enable"), "0");
            let _ = write(&format!("{dir}/filter"), "0");
        }
        let _ = write(&format!("{INSTANCE}/events/syscalls/enable"), "0");
        let _ = fs::remove_dir(path(INSTANCE));
        let _ = write("trace", "");
        let _ = write("trace_clock", "local");
    }
}

/// Fails if a buffer lost events (`entries-in-buffer/entries-written:
/// X/Y` with X < Y): a trace with holes would draw a wrong figure.
fn check_complete(trace: &str, which: &str) -> Result<(), String> {
    let Some(line) = trace
        .lines()
        .find(|l| l.contains("entries-in-buffer/entries-written:"))
    else {
        return Ok(());
    };
    let counts = line
        .split_once("entries-written:")
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .next()
        .unwrap_or("");
    if let Some((kept, written)) = counts.split_once('/') {
        if kept != written {
            return Err(format!(
                "the {which} buffer lost events ({kept} of {written} kept)"
            ));
        }
    }
    Ok(())
}

/// Merges the two buffers' texts by timestamp (see the module's
/// documentation for equal timestamps); comments are dropped.
pub fn merge(events: &str, syscalls: &str) -> Vec<String> {
    let a: Vec<(&str, parse::Line)> = events
        .lines()
        .filter_map(|l| Some((l, parse::parse(l)?)))
        .collect();
    let b: Vec<(&str, parse::Line)> = syscalls
        .lines()
        .filter_map(|l| Some((l, parse::parse(l)?)))
        .collect();
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let take_b = match (a.get(i), b.get(j)) {
            (None, _) => true,
            (_, None) => false,
            (Some((_, la)), Some((_, lb))) => {
                lb.ts < la.ts || (lb.ts == la.ts && matches!(lb.kind, Kind::SysEnter { .. }))
            }
        };
        if take_b {
            out.push(b[j].0.to_string());
            j += 1;
        } else {
            out.push(a[i].0.to_string());
            i += 1;
        }
    }
    out
}

/// A `# simnic-trace: key: value` line.
fn meta_line(key: &str, value: &str) -> String {
    format!("{META_PREFIX}{key}: {value}\n")
}

/// Where tools/vm/run puts the module in the guest.
const MODULE_KO: &str = "/lib/modules/simnic.ko";

/// Unloads simnic.ko and loads it again with `params` (as the guest's
/// init did, with none), then waits until /dev/simnic is there.
fn reload(params: &str) -> Result<(), String> {
    let run = |argv: &[&str]| -> Result<(), String> {
        let out = Command::new(argv[0])
            .args(&argv[1..])
            .output()
            .map_err(|e| format!("{}: {e}", argv[0]))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed ({}): {}",
                argv.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    run(&["rmmod", "simnic"])?;
    let mut argv = vec!["insmod", MODULE_KO];
    argv.extend(params.split_whitespace());
    run(&argv)?;
    for _ in 0..250 {
        if fs::metadata("/dev/simnic").is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Err(format!(
        "/dev/simnic did not appear within 5 s of insmod {params}"
    ))
}

/// Runs `model`'s sample traced and writes the trace to `out`, under the
/// figure name `figure`. A model with module parameters has simnic.ko
/// reloaded with them first, and with none afterwards, whatever happened.
pub fn record(model: &Model, figure: &str, out: &mut dyn Write) -> Result<(), String> {
    if model.params.is_empty() {
        return record_loaded(model, figure, out);
    }
    reload(model.params)?;
    let r = record_loaded(model, figure, out);
    match (r, reload("")) {
        (r, Ok(())) => r,
        (Ok(()), Err(e)) => Err(e),
        (Err(r), Err(e)) => Err(format!("{r} (and restoring the default load: {e})")),
    }
}

fn record_loaded(model: &Model, figure: &str, out: &mut dyn Write) -> Result<(), String> {
    let session = Session::start()?;
    let log = format!("/tmp/simnic-trace-{}.out", std::process::id());
    let log_file = fs::File::create(&log).map_err(|e| format!("{log}: {e}"))?;
    let log_err = log_file.try_clone().map_err(|e| format!("{log}: {e}"))?;
    session.on(true)?;
    let child = Command::new(model.command[0])
        .args(&model.command[1..])
        // No wait-queue view thread: the timeline is the sample's calls.
        .env("SIMNIC_WQ_VIEW", "0")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .spawn();
    let status = child.and_then(|mut c| Ok((c.id(), c.wait()?)));
    session.on(false)?;
    let (pid, status) = status.map_err(|e| format!("{}: {e}", model.command[0]))?;
    let output = fs::read_to_string(&log).unwrap_or_default();
    let _ = fs::remove_file(&log);
    if !status.success() {
        return Err(format!(
            "{} failed ({status}); its output:\n{output}",
            model.command.join(" ")
        ));
    }
    let events = read("trace")?;
    let syscalls = read(&format!("{INSTANCE}/trace"))?;
    drop(session);
    check_complete(&events, "events")?;
    check_complete(&syscalls, "system-call")?;

    let mut text = String::new();
    text.push_str(&meta_line("model", model.name));
    text.push_str(&meta_line("figure", figure));
    text.push_str(&meta_line("command", &model.command.join(" ")));
    text.push_str(&meta_line("sample pid", &pid.to_string()));
    text.push_str(&meta_line("recorder pid", &std::process::id().to_string()));
    let param = |p: &str| {
        fs::read_to_string(format!("/sys/module/simnic/parameters/{p}"))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|_| "?".into())
    };
    text.push_str(&meta_line("hw_inline", &param("hw_inline")));
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    text.push_str(&meta_line("kernel", kernel.trim()));
    let cpus = fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    text.push_str(&meta_line("cpus", &cpus.to_string()));
    text.push_str(&meta_line("clock", "mono (CLOCK_MONOTONIC), microseconds"));
    for l in output.lines() {
        text.push_str("# sample| ");
        text.push_str(l);
        text.push('\n');
    }
    for l in merge(&events, &syscalls) {
        text.push_str(&l);
        text.push('\n');
    }
    out.write_all(text.as_bytes())
        .map_err(|e| format!("writing the trace: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_orders_by_time_entries_first_exits_last() {
        let events = "\
# tracer: nop
 s-2 [001] ..s3.   1.000010: simnic_deliver: dst=7 len=1 queued
 r-1 [000] ...1.   1.000020: simnic_recv_copy: port=7 len=1 copied=1
";
        let calls = "\
 r-1 [000] ...2.   1.000005: sys_read(fd: 3, buf: 1, count: 10)
 r-1 [000] ...2.   1.000020: sys_read -> 0x1
 r-1 [000] ...2.   1.000020: sys_write(fd: 1, buf: 1, count: 1)
";
        let m = merge(events, calls);
        let names: Vec<String> = m
            .iter()
            .map(|l| {
                let p = parse::parse(l).unwrap();
                match p.kind {
                    Kind::SysEnter { name, .. } => format!("enter {name}"),
                    Kind::SysExit { name, .. } => format!("exit {name}"),
                    Kind::Event { name, .. } => name.to_string(),
                }
            })
            .collect();
        assert_eq!(
            names,
            [
                "enter read",
                "simnic_deliver",
                "simnic_recv_copy",
                "exit read",
                "enter write"
            ]
        );
    }

    #[test]
    fn lost_events_are_an_error() {
        assert!(check_complete("# entries-in-buffer/entries-written: 10/10   #P:2", "x").is_ok());
        assert!(check_complete("# entries-in-buffer/entries-written: 9/10   #P:2", "x").is_err());
    }
}
