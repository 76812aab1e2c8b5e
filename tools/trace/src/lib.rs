// SPDX-License-Identifier: GPL-2.0

//! Timeline figures of the I/O models, drawn from real traces.
//!
//! `simnic-trace record MODEL` (in the guest, [`record`]) runs the
//! model's sample for one datagram with simnic's trace events, the
//! scheduler's, the interrupt and softirq events and, for the sample's
//! processes only, the system-call events on, and writes the merged text
//! trace. `simnic-trace render` (on the host) finds the datagram's steps
//! and the two phases in it ([`timeline`]) and draws them ([`svg`],
//! [`chrome`]). Documentation/tracing.rst, "Timeline figures".

pub mod axis;
pub mod chrome;
pub mod models;
pub mod parse;
pub mod record;
pub mod svg;
pub mod timeline;

use models::Model;
use parse::META_PREFIX;
use timeline::Timeline;

/// The value of metadata `key` in a recorded trace.
pub fn meta<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    parse::metadata(text)
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The model a recorded trace is of (its `model` metadata).
pub fn model_of(text: &str) -> Result<&'static Model, String> {
    let name = meta(text, "model")
        .ok_or("no `# simnic-trace: model:` line: not from simnic-trace record")?;
    models::find(name).ok_or_else(|| format!("unknown model {name:?}"))
}

/// The name of the figure's files (`figure` metadata, else the model's).
pub fn figure_name(text: &str) -> Result<String, String> {
    Ok(match meta(text, "figure") {
        Some(f) => f.to_string(),
        None => model_of(text)?.name.to_string(),
    })
}

/// Several recorded traces in one text (`record` of several models writes
/// them one after another), each from its `model` line on.
pub fn split(text: &str) -> Vec<&str> {
    let first = format!("{META_PREFIX}model: ");
    let mut starts: Vec<usize> = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with(&first) {
            starts.push(pos);
        }
        pos += line.len();
    }
    if starts.is_empty() {
        return vec![text];
    }
    starts.push(text.len());
    starts.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

/// The part of a recorded trace the figure needs: its metadata and
/// comments, the fork events that tell the sample's processes, and every
/// line of the figure's window, unchanged. Rendering a snippet gives the
/// same figure as rendering the whole trace, so the snippets are what
/// Documentation/figures keeps and what the tests read.
pub fn snippet(text: &str) -> Result<String, String> {
    let model = model_of(text)?;
    let sample_pid = meta(text, "sample pid").and_then(|p| p.parse().ok());
    let records: Vec<&str> = text.lines().filter(|l| parse::parse(l).is_some()).collect();
    let lines = parse::parse_all(text);
    let t = timeline::build(&lines, model, sample_pid)?;
    let mut out = String::new();
    for l in text
        .lines()
        .filter(|l| l.starts_with("# simnic-trace: ") || l.starts_with("# sample| "))
    {
        out.push_str(l);
        out.push('\n');
    }
    for (i, l) in lines.iter().enumerate() {
        let inside = i >= t.lines.0 && i < t.lines.1;
        if inside || (i < t.lines.0 && l.is("sched_process_fork")) {
            out.push_str(records[i]);
            out.push('\n');
        }
    }
    Ok(out)
}

/// The timeline of a recorded trace (or of a snippet of one).
pub fn timeline(text: &str) -> Result<Timeline, String> {
    let snip = snippet(text)?;
    let model = model_of(&snip)?;
    let sample_pid = meta(&snip, "sample pid").and_then(|p| p.parse().ok());
    timeline::build(&parse::parse_all(&snip), model, sample_pid)
}

/// The caption under the SVG: what ran, where, and how to read the times.
pub fn caption(text: &str) -> String {
    let command = meta(text, "command").unwrap_or("?");
    let kernel = meta(text, "kernel").unwrap_or("?");
    let cpus = meta(text, "cpus").unwrap_or("?");
    let inline = match meta(text, "hw_inline") {
        Some("1") => "hw_inline=1: the hardware runs in the sender's context",
        Some("0") => "hw_inline=0: the hardware runs in the simnic-hw thread",
        _ => "hw_inline unknown",
    };
    format!(
        "Real trace, drawn by simnic-trace render from simnic-trace record of `{command}` in the QEMU guest \
         (Linux {kernel}, {cpus} CPUs, {inline}). Every box, tick and arrow is a trace event: simnic's, \
         sched_switch/sched_wakeup, softirq and irq_vectors entry/exit, signal_generate/deliver, and the \
         sample's system calls. Times are microseconds since the first event shown, on an emulated CPU: \
         the order and the proportions are what count. Zigzag bands cut idle time."
    )
}
