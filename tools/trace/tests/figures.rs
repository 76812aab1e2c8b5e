// SPDX-License-Identifier: GPL-2.0

//! The figures' extraction on real traces, recorded in the guest with
//! `simnic-trace record` (tests/data: two whole recordings and the
//! snippets `render` kept of four). The expected instants were read off
//! the trace lines by hand: a phase cut at the wrong event, a wake-up
//! arrow from the wrong context or a missing step fails.

use std::path::Path;

use simnic_trace::parse::{self, Kind};
use simnic_trace::timeline::{self, ArrowKind, HARDIRQ, RECEIVER, SOFTIRQ};
use simnic_trace::{chrome, models, snippet, split, svg, timeline as build};

fn data(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `SECS.MICROS` in nanoseconds.
fn ns(text: &str) -> u64 {
    let (s, us) = text.split_once('.').unwrap();
    s.parse::<u64>().unwrap() * 1_000_000_000 + us.parse::<u64>().unwrap() * 1_000
}

fn phases(t: &timeline::Timeline) -> [(u64, u64); 2] {
    assert_eq!(t.phases.len(), 2);
    assert_eq!((t.phases[0].number, t.phases[1].number), (1, 2));
    [
        (t.phases[0].start, t.phases[0].end),
        (t.phases[1].start, t.phases[1].end),
    ]
}

fn wakeups(t: &timeline::Timeline) -> Vec<((usize, u64), (usize, u64))> {
    t.arrows
        .iter()
        .filter(|a| a.kind == ArrowKind::Wakeup)
        .map(|a| (a.from, a.to))
        .collect()
}

#[test]
fn every_record_line_parses() {
    for name in ["blocking-full.trace", "epoll-full.trace"] {
        let text = data(name);
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            assert!(parse::parse(line).is_some(), "{name}: not parsed: {line}");
        }
        let calls = parse::parse_all(&text)
            .iter()
            .filter(|l| matches!(l.kind, Kind::SysEnter { .. }))
            .count();
        assert!(calls > 50, "{name}: only {calls} system-call entries");
    }
}

#[test]
fn blocking_read_phases_and_wakeup() {
    let t = build(&data("blocking-full.trace")).unwrap();
    assert_eq!((t.reader, t.sender, t.inline), (313, 314, true));
    // Phase 1: the read() entry to simnic_deliver (queued); phase 2:
    // simnic_recv_copy to that read()'s exit.
    assert_eq!(
        phases(&t),
        [
            (ns("60.227907"), ns("60.545410")),
            (ns("60.574694"), ns("60.575113"))
        ]
    );
    // data_ready in the softirq -> sched_wakeup of pid 313, which came in
    // an IPI on cpu0 (hard irq) -> sched_switch to it.
    assert_eq!(
        wakeups(&t),
        [
            ((SOFTIRQ, ns("60.545453")), (HARDIRQ, ns("60.548382"))),
            ((HARDIRQ, ns("60.548382")), (RECEIVER, ns("60.549962")))
        ]
    );
    // The figure starts at its first event, the read() entry.
    assert_eq!(t.t0, ns("60.227907"));
}

#[test]
fn snippet_keeps_the_figure() {
    let full = data("blocking-full.trace");
    let snip = snippet(&full).unwrap();
    assert!(
        snip.len() < full.len() / 4,
        "the snippet is not much smaller: {}",
        snip.len()
    );
    // The snippet of a snippet is itself, and both draw the same figure.
    assert_eq!(snippet(&snip).unwrap(), snip);
    assert_eq!(build(&full).unwrap(), build(&snip).unwrap());
    // The committed snippet is this one.
    assert_eq!(snip, data("blocking.trace"));
}

#[test]
fn nonblocking_phase_one_starts_at_the_first_eagain() {
    let t = build(&data("nonblocking.trace")).unwrap();
    assert_eq!(
        phases(&t),
        [
            (ns("71.600618"), ns("71.619905")),
            (ns("71.623918"), ns("71.624168"))
        ]
    );
    // Nobody waits: data_ready wakes no one, the next read() finds it.
    assert!(wakeups(&t).is_empty(), "{:?}", t.arrows);
}

#[test]
fn sigio_wakeup_goes_through_the_signal() {
    let t = build(&data("sigio.trace")).unwrap();
    assert_eq!(
        phases(&t),
        [
            (ns("96.553968"), ns("96.604880")),
            (ns("96.635516"), ns("96.635820"))
        ]
    );
    // data_ready (nobody waits) -> kill_fasync's signal_generate, both in
    // the softirq; data_ready -> signal_wake_up's sched_wakeup (an IPI) ->
    // the switch.
    assert_eq!(
        wakeups(&t),
        [
            ((SOFTIRQ, ns("96.604895")), (SOFTIRQ, ns("96.605503"))),
            ((SOFTIRQ, ns("96.604895")), (HARDIRQ, ns("96.606788"))),
            ((HARDIRQ, ns("96.606788")), (RECEIVER, ns("96.607247")))
        ]
    );
    assert!(t
        .marks
        .iter()
        .any(|m| m.label == "signal_deliver" && m.t == ns("96.607727") && m.lane == RECEIVER));
}

#[test]
fn sigio_wakeup_traced_before_its_signal_generate() {
    // signal_generate is traced at the end of __send_signal_locked, after
    // the wake-up it caused; here the woken receiver's sched_wakeup on
    // cpu0 came 4.5 ms before it. The wake-up is still the datagram's.
    let t = build(&data("sigio-late-generate.trace")).unwrap();
    assert_eq!(
        wakeups(&t),
        [
            ((SOFTIRQ, ns("42.815526")), (SOFTIRQ, ns("42.820834"))),
            ((SOFTIRQ, ns("42.815526")), (HARDIRQ, ns("42.816326"))),
            ((HARDIRQ, ns("42.816326")), (RECEIVER, ns("42.816394")))
        ]
    );
    assert_eq!(phases(&t)[0], (ns("42.690452"), ns("42.815514")));
}

#[test]
fn epoll_skips_the_datagrams_the_sample_sent_itself() {
    // The sample first sends datagrams to itself (part 1); the figure is
    // of the first one the sender sent, waited for in epoll_wait().
    let full = data("epoll-full.trace");
    let t = build(&full).unwrap();
    assert_eq!((t.reader, t.sender), (321, 322));
    assert_eq!(
        phases(&t),
        [
            (ns("90.355676"), ns("90.489620")),
            (ns("90.521639"), ns("90.521790"))
        ]
    );
    assert_eq!(
        wakeups(&t),
        [
            ((SOFTIRQ, ns("90.489635")), (HARDIRQ, ns("90.499225"))),
            ((HARDIRQ, ns("90.499225")), (RECEIVER, ns("90.499310")))
        ]
    );
    assert_eq!(build(&data("epoll.trace")).unwrap(), t);
}

#[test]
fn a_missing_step_is_an_error_not_a_gap() {
    let full = data("blocking-full.trace");
    for event in ["simnic_deliver:", "simnic_intr:", "simnic_xmit:"] {
        let cut: String = full
            .lines()
            .filter(|l| !l.contains(event))
            .map(|l| format!("{l}\n"))
            .collect();
        let e = build(&cut).unwrap_err();
        assert!(e.contains(event.trim_end_matches(':')), "{event}: {e}");
    }
    // Without the read() entry, phase 1 has no start.
    let cut: String = full
        .lines()
        .filter(|l| !(l.contains("sample-blocking-313") && l.contains("sys_read(")))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(build(&cut).unwrap_err().contains("read"));
}

#[test]
fn several_traces_in_one_file() {
    let both = data("blocking-full.trace") + &data("epoll-full.trace");
    let parts = split(&both);
    assert_eq!(parts.len(), 2);
    assert_eq!(simnic_trace::figure_name(parts[0]).unwrap(), "blocking");
    assert_eq!(simnic_trace::figure_name(parts[1]).unwrap(), "epoll");
}

#[test]
fn svg_and_json_show_the_lanes_phases_and_arrows() {
    let snip = data("blocking.trace");
    let t = build(&snip).unwrap();
    let s = svg::render(&t, &simnic_trace::caption(&snip));
    assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
    for text in [
        "receiver (pid 313)",
        "softirq",
        "hard irq",
        "hardware",
        "sender (pid 314)",
        "phase 1, waiting for the data",
        "phase 2, copying it",
        ">read<",
        ">ioctl<",
        ">data_ready<",
        ">recv_copy<",
        ">wake-up<",
        "µs cut",
        "sample-blocking --count 1 --no-poll",
    ] {
        assert!(s.contains(text), "SVG lacks {text:?}");
    }
    // Chrome trace events: the phases, the spans and a flow per arrow,
    // each flow's start and finish with one id.
    let j = chrome::render(&t, "sample-blocking --count 1 --no-poll");
    let ev = j["traceEvents"].as_array().unwrap();
    let named = |n: &str| ev.iter().filter(|e| e["name"] == n).count();
    assert_eq!(named("phase 1"), 1);
    assert_eq!(named("phase 2"), 1);
    assert!(named("read") >= 1 && named("data_ready") == 1);
    let starts: Vec<_> = ev
        .iter()
        .filter(|e| e["ph"] == "s")
        .map(|e| e["id"].clone())
        .collect();
    let ends: Vec<_> = ev
        .iter()
        .filter(|e| e["ph"] == "f")
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(starts.len(), t.arrows.len());
    assert_eq!(starts, ends);
    for e in ev.iter().filter(|e| e["ph"] == "X") {
        assert!(
            e["ts"].as_f64().unwrap() >= 0.0 && e["dur"].as_f64().unwrap() >= 0.0,
            "{e}"
        );
    }
}

#[test]
fn every_model_names_a_one_datagram_run() {
    for m in models::MODELS {
        assert!(m.command[0].starts_with("sample-"), "{}", m.name);
        let args = m.command.join(" ");
        assert!(args.contains("--count 1"), "{}: {args}", m.name);
    }
}

fn spans_on(t: &timeline::Timeline, lane: usize, label: &str) -> Vec<(u64, u64)> {
    t.spans
        .iter()
        .filter(|s| s.lane == lane && s.label == label)
        .map(|s| (s.start, s.end))
        .collect()
}

#[test]
fn aio_phase_two_is_the_kernels_in_softirq_and_work_item() {
    let t = build(&data("aio.trace")).unwrap();
    assert_eq!((t.reader, t.sender, t.inline), (329, 330, true));
    // Phase 1 from the io_submit() that posted the read (it returned at
    // once) to simnic_deliver ... to an aio read; phase 2 from there, the
    // copy in the softirq, to the completion work item's wake-up of the
    // receiver (in an IPI on cpu1), not to any system call of its own.
    assert_eq!(
        phases(&t),
        [
            (ns("43.386975"), ns("43.607840")),
            (ns("43.607840"), ns("43.612382"))
        ]
    );
    assert!(t.phases[1].label.contains("no system call"));
    // No recv_copy: nobody's read copied; the delivery says where it went.
    assert!(t.marks.iter().all(|m| m.label != "recv_copy"));
    assert!(t
        .marks
        .iter()
        .any(|m| m.label == "deliver: copied to the AIO read"
            && m.lane == SOFTIRQ
            && m.t == ns("43.607840")));
    // The work item: kworker/0:0, woken by the softirq, runs from its
    // switch-in to its switch-out, and it is what wakes the receiver.
    assert_eq!(
        spans_on(&t, SOFTIRQ, "work item, kworker/0:0"),
        [(ns("43.610210"), ns("43.623077"))]
    );
    assert_eq!(
        wakeups(&t),
        [
            ((SOFTIRQ, ns("43.610210")), (HARDIRQ, ns("43.612382"))),
            ((HARDIRQ, ns("43.612382")), (RECEIVER, ns("43.612766")))
        ]
    );
    // The receiver learns of it when io_getevents() returns: in the figure.
    assert!(t.end >= ns("43.625586"));
}

#[test]
fn io_uring_phase_two_is_task_work_in_io_uring_enter() {
    let t = build(&data("io_uring.trace")).unwrap();
    assert_eq!((t.reader, t.sender), (331, 332));
    // Phase 1 from the io_uring_enter() that submitted the read (to_submit
    // 1, it returned 1 at once), not the one waiting for completions when
    // the datagram came; phase 2 from simnic_recv_copy, in the receiver's
    // own context, to that waiting io_uring_enter()'s return.
    assert_eq!(
        phases(&t),
        [
            (ns("48.005122"), ns("48.184843")),
            (ns("48.193277"), ns("48.193880"))
        ]
    );
    assert!(t.phases[1].label.contains("task work"));
    assert!(t
        .arrows
        .iter()
        .any(|a| a.kind == ArrowKind::Wakeup && a.label == "io_poll_wake: task work"));
    assert_eq!(
        wakeups(&t),
        [
            ((SOFTIRQ, ns("48.184999")), (HARDIRQ, ns("48.192335"))),
            ((HARDIRQ, ns("48.192335")), (RECEIVER, ns("48.192698")))
        ]
    );
    // simnic_wake, the entries data_ready's wake-up woke, is a step.
    assert!(t
        .marks
        .iter()
        .any(|m| m.label == "wake" && m.t == ns("48.190453") && m.lane == SOFTIRQ));
}

#[test]
fn mmap_phase_two_is_no_system_call() {
    let t = build(&data("mmap.trace")).unwrap();
    assert_eq!((t.reader, t.sender), (334, 335));
    // Phase 1: poll() to simnic_deliver ... into the mmap ring (the slot
    // is filled by then); phase 2: poll()'s return to the receiver's next
    // system call, the getppid() marker: the slot read in place.
    assert_eq!(
        phases(&t),
        [
            (ns("55.607520"), ns("55.779723")),
            (ns("55.784158"), ns("55.784832"))
        ]
    );
    assert!(t.marks.iter().all(|m| m.label != "recv_copy"));
    assert!(t
        .marks
        .iter()
        .any(|m| m.label == "deliver: into the ring slot" && m.t == ns("55.779723")));
    assert_eq!(
        wakeups(&t),
        [
            ((SOFTIRQ, ns("55.779753")), (HARDIRQ, ns("55.780682"))),
            ((HARDIRQ, ns("55.780682")), (RECEIVER, ns("55.780811")))
        ]
    );
    // No read() anywhere in the receiver's figure.
    assert!(t
        .spans
        .iter()
        .all(|s| !(s.lane == RECEIVER && s.label == "read")));
}

#[test]
fn thread_hardware_model_runs_the_engine_in_simnic_hw() {
    let t = build(&data("hw-thread.trace")).unwrap();
    assert_eq!((t.reader, t.sender, t.inline), (339, 340, false));
    assert!(t.lanes[timeline::HARDWARE]
        .1
        .contains("simnic-hw thread (pid 338)"));
    // The doorbell (the sender's) wakes simnic-hw; the engine runs from its
    // switch-in to the interrupt it raises.
    assert!(t
        .arrows
        .iter()
        .any(|a| a.label == "doorbell wakes simnic-hw"
            && a.from == (timeline::SENDER, ns("64.553226"))
            && a.to == (timeline::HARDWARE, ns("64.555439"))));
    assert_eq!(
        spans_on(&t, timeline::HARDWARE, "engine"),
        [(ns("64.555575"), ns("64.571334"))]
    );
    assert_eq!(
        phases(&t),
        [
            (ns("64.417639"), ns("64.596886")),
            (ns("64.599778"), ns("64.617357"))
        ]
    );
}

#[test]
fn the_committed_figures_of_the_new_models_are_their_snippets() {
    for name in ["aio", "io_uring", "mmap", "hw-thread"] {
        let snip = data(&format!("{name}.trace"));
        assert_eq!(snippet(&snip).unwrap(), snip, "{name}");
        let committed = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../Documentation/figures")
            .join(format!("{name}.trace"));
        assert_eq!(
            std::fs::read_to_string(&committed).unwrap(),
            snip,
            "{}",
            committed.display()
        );
    }
}
