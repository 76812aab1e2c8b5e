//! simnic-bench: measures /dev/simnic against the kernel's own UDP on
//! loopback and eventfd, inside one guest, and prints a table.
//!
//! 1. Wake-up latency of a blocked reader (ping-pong between two threads),
//!    with both threads on one CPU and with them on two.
//! 2. Datagram throughput through the whole path (generator, TX loopback,
//!    UDP loopback, and the first two into an mmap receive ring), with drops
//!    from the kernel's counters; the mmap ring's goal of 5x UDP.
//! 3. Memory per idle endpoint against an idle UDP socket.
//! 4. C10K: the cost of one ready event with 10 to 10,000 idle endpoints
//!    watched by select, poll and epoll, against UDP sockets; the cost of
//!    opening that many.
//!
//! Timings inside a TCG guest are emulated: only the ratios between
//! transports measured in the same run mean anything, and the transports
//! take turns in blocks so that a change in the host's load over the run
//! hits each of them alike. `tools/bench/run` boots the guest and runs this;
//! Documentation/benchmarks.rst explains the method and the results.

mod c10k;
mod latency;
mod memory;
mod progress;
mod stats;
mod sys;
mod table;
mod throughput;

use clap::{Parser, ValueEnum};
use latency::{LatencyResult, Link};
use memory::MemResult;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use sys::Pinning;
use table::{bytes, ratio, thousands, us, Table};
use throughput::{GenParams, ThroughputResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Section {
    Latency,
    Throughput,
    Memory,
    C10k,
}

/// Benchmark /dev/simnic against UDP on 127.0.0.1 and eventfd (run it in the
/// guest: tools/bench/run).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Kernel flavour, for the header only (the guest cannot tell).
    #[arg(long, default_value = "unknown")]
    flavour: String,
    /// Sections to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "latency,throughput,memory,c10k"
    )]
    only: Vec<Section>,
    /// Datagram payload bytes (latency and throughput; eventfd moves 8).
    #[arg(long, default_value_t = 64)]
    size: usize,

    /// Measured ping-pong round trips per transport and placement, in all.
    #[arg(long, default_value_t = 4000)]
    rounds: usize,
    /// Blocks the round trips are split into; placements and transports
    /// take turns block by block.
    #[arg(long, default_value_t = 4)]
    blocks: usize,
    /// Round trips run first in each block and not measured.
    #[arg(long, default_value_t = 100)]
    warmup_rounds: usize,
    /// Where the ping-pong threads run, one table each: both on CPU 0
    /// (same), on CPUs 0 and 1 (split), or wherever the scheduler puts them
    /// (none). Split needs two CPUs and is skipped with one.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "same,split")]
    pin: Vec<Pinning>,

    /// Seconds each throughput block is measured for.
    #[arg(long, default_value_t = 2.0)]
    secs: f64,
    /// Throughput blocks per path; the paths take turns block by block.
    #[arg(long, default_value_t = 4)]
    tp_blocks: usize,
    /// Seconds each throughput block runs before it is measured.
    #[arg(long, default_value_t = 0.3)]
    warmup_secs: f64,
    /// Where the throughput tests' writer and reader threads run (the
    /// generator test has only the reader); split falls back to same on one
    /// CPU.
    #[arg(long, value_enum, default_value_t = Pinning::Split)]
    tp_pin: Pinning,
    /// Generator rate, datagrams per second (at most 10,000,000).
    #[arg(long, default_value_t = 1_000_000)]
    gen_rate: u32,
    /// Generator burst: datagrams sent back to back.
    #[arg(long, default_value_t = 64)]
    gen_burst: u32,
    /// Microseconds the mmap-ring reader keeps checking an empty ring
    /// before it sleeps in poll() (0: it sleeps at once).
    #[arg(long, default_value_t = 0)]
    ring_spin_us: u64,
    /// Slots of the mmap receive ring (a power of two): 1024 holds four of
    /// the generator's catch-up bursts.
    #[arg(long, default_value_t = 1024)]
    ring_slots: u32,

    /// Idle endpoints (and UDP sockets) opened for the memory test.
    #[arg(long, default_value_t = 1000)]
    endpoints: usize,
    /// Seconds to let memory settle before each reading.
    #[arg(long, default_value_t = 1.0)]
    settle: f64,

    /// C10K: numbers of idle endpoints (and UDP sockets) watched at once.
    /// select is measured only while every descriptor is below FD_SETSIZE
    /// (1024).
    #[arg(long, value_delimiter = ',', default_value = "10,1000,10000")]
    c10k_sizes: Vec<usize>,
    /// C10K: measured events per transport, mechanism and N, in all (at
    /// most: see --c10k-cell-secs).
    #[arg(long, default_value_t = 400)]
    c10k_rounds: usize,
    /// C10K: blocks the events are split into; N and the transports take
    /// turns block by block.
    #[arg(long, default_value_t = 8)]
    c10k_blocks: usize,
    /// C10K: events run first in each run and not measured.
    #[arg(long, default_value_t = 10)]
    c10k_warmup: usize,
    /// C10K: seconds one run (a mechanism on a crowd, in one block) may
    /// take; past that it stops after 10 measured events. Keeps select and
    /// poll over thousands of descriptors (milliseconds per event) from
    /// taking most of the time.
    #[arg(long, default_value_t = 1.0)]
    c10k_cell_secs: f64,
    /// C10K: pairs of epoll runs, smallest N then largest (or the other way
    /// round), close together in time, for the 1.2x goal (0: none).
    #[arg(long, default_value_t = 16)]
    c10k_goal_pairs: usize,
    /// C10K: measured events per run of a goal pair.
    #[arg(long, default_value_t = 50)]
    c10k_goal_rounds: usize,
    /// C10K: where the sender and the waiter run (same: both on CPU 0 with
    /// simnic-hw).
    #[arg(long, value_enum, default_value_t = Pinning::Same)]
    c10k_pin: Pinning,

    /// Measure even when CLOCK_MONOTONIC is coarser than a microsecond (a
    /// guest whose TSC calibration failed runs on jiffies: 4 ms steps).
    #[arg(long)]
    allow_coarse_clock: bool,
}

/// The latency results of one placement, per transport.
type LatencySet = Vec<(&'static str, LatencyResult)>;

struct Report {
    latency: Vec<(Pinning, LatencySet)>,
    throughput: Vec<(String, ThroughputResult)>,
    tp_pin: Pinning,
    memory: Vec<(&'static str, MemResult)>,
    mem_noise: Option<BTreeMap<&'static str, i64>>,
    c10k: Option<c10k::C10kResult>,
    lo_was_down: bool,
    clock_wait: f64,
    secs: f64,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("simnic-bench: {}", simnic::describe(&e));
        std::process::exit(1);
    }
}

fn run(args: &Args) -> io::Result<()> {
    let t_start = sys::now_ns();
    let mut rep = Report {
        latency: Vec::new(),
        throughput: Vec::new(),
        tp_pin: args.tp_pin,
        memory: Vec::new(),
        mem_noise: None,
        c10k: None,
        lo_was_down: false,
        clock_wait: 0.0,
        secs: 0.0,
    };

    // Early in boot the kernel runs on tsc-early without high-resolution
    // timers (their expiry then steps by a whole tick); it switches once the
    // refined TSC calibration is done, a few seconds in under TCG.
    let mut res = sys::clock_res_ns();
    while res > 1000 && sys::now_ns() - t_start < 15_000_000_000 {
        sys::sleep_secs(0.1);
        res = sys::clock_res_ns();
    }
    rep.clock_wait = (sys::now_ns() - t_start) as f64 / 1e9;
    if res > 1000 && !args.allow_coarse_clock {
        eprintln!(
            "simnic-bench: CLOCK_MONOTONIC still has a resolution of {res} ns after {:.0} s (clocksource {}):\n\
             simnic-bench: every timing would be a multiple of that, so none is taken. The guest kernel has no\n\
             simnic-bench: fine clock (see its log: TSC calibration); boot again, or pass --allow-coarse-clock.",
            rep.clock_wait,
            sys::clocksource()
        );
        std::process::exit(4);
    }
    let progress = progress::Progress::start(20);
    rep.lo_was_down =
        sys::loopback_up().map_err(|e| io::Error::new(e.kind(), format!("bringing lo up: {e}")))?;
    let most_open = args
        .c10k_sizes
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(args.endpoints);
    sys::raise_nofile(most_open as u64 + 256)?;

    if args.only.contains(&Section::Latency) {
        latency_section(args, &progress, &mut rep)?;
    }
    if args.only.contains(&Section::Throughput) {
        throughput_section(args, &progress, &mut rep)?;
    }
    if args.only.contains(&Section::Memory) {
        let n = args.endpoints;
        progress.phase("memory: noise floor");
        rep.mem_noise = Some(memory::noise(args.settle)?);
        progress.phase(&format!("memory: {n} simnic endpoints"));
        rep.memory.push((
            "simnic endpoint",
            memory::measure(n, args.settle, simnic::Endpoint::open)?,
        ));
        progress.phase(&format!("memory: {n} UDP sockets"));
        rep.memory.push((
            "UDP socket (bound)",
            memory::measure(n, args.settle, || sys::udp_bound().map(|p| p.0))?,
        ));
    }
    if args.only.contains(&Section::C10k) {
        let mut sizes: Vec<usize> = args.c10k_sizes.iter().copied().filter(|&n| n > 0).collect();
        sizes.sort_unstable();
        sizes.dedup();
        if sizes.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--c10k-sizes: no size above 0",
            ));
        }
        let mut pin = args.c10k_pin;
        if pin == Pinning::Split && sys::online_cpus() < 2 {
            eprintln!("simnic-bench: only one CPU online: c10k threads both on CPU 0");
            pin = Pinning::Same;
        }
        let p = c10k::Params {
            sizes,
            rounds: args.c10k_rounds.max(1),
            blocks: args.c10k_blocks,
            warmup: args.c10k_warmup,
            pin,
            size: args.size,
            cell_secs: args.c10k_cell_secs,
            goal_pairs: args.c10k_goal_pairs,
            goal_rounds: args.c10k_goal_rounds,
        };
        rep.c10k = Some(c10k::run(&p, &progress)?);
    }
    progress.phase("done");

    rep.secs = (sys::now_ns() - t_start) as f64 / 1e9;
    print!("{}", render(args, &rep));
    Ok(())
}

fn latency_section(args: &Args, progress: &progress::Progress, rep: &mut Report) -> io::Result<()> {
    type MakeLink = fn() -> io::Result<Link>;
    let links: [(&'static str, MakeLink); 3] = [
        ("eventfd pair", Link::eventfd),
        ("UDP 127.0.0.1", Link::udp),
        ("simnic endpoints", Link::simnic),
    ];
    let cpus = sys::online_cpus();
    let mut pins: Vec<Pinning> = Vec::new();
    for &p in &args.pin {
        if p == Pinning::Split && cpus < 2 {
            eprintln!("simnic-bench: only {cpus} CPU online: no latency across CPUs");
        } else if !pins.contains(&p) {
            pins.push(p);
        }
    }
    rep.latency = pins
        .iter()
        .map(|&p| {
            (
                p,
                links
                    .iter()
                    .map(|(name, _)| (*name, LatencyResult::default()))
                    .collect(),
            )
        })
        .collect();
    let blocks = args.blocks.max(1);
    let per_block = args.rounds.div_ceil(blocks);
    for block in 1..=blocks {
        for (pin, set) in rep.latency.iter_mut() {
            for ((name, make), (_, acc)) in links.iter().zip(set.iter_mut()) {
                let total = args.warmup_rounds + per_block;
                progress.phase(&format!(
                    "latency {block}/{blocks}: {name}, {pin}, {total} round trips"
                ));
                latency::ping_pong(
                    make()?,
                    args.size,
                    per_block,
                    args.warmup_rounds,
                    *pin,
                    progress,
                    acc,
                )?;
            }
        }
    }
    Ok(())
}

fn throughput_section(
    args: &Args,
    progress: &std::sync::Arc<progress::Progress>,
    rep: &mut Report,
) -> io::Result<()> {
    let g = GenParams {
        rate_pps: args.gen_rate,
        burst: args.gen_burst,
        payload: args.size as u32,
    };
    if rep.tp_pin == Pinning::Split && sys::online_cpus() < 2 {
        eprintln!("simnic-bench: only one CPU online: throughput threads both on CPU 0");
        rep.tp_pin = Pinning::Same;
    }
    let (w, s, size, pin) = (args.warmup_secs, args.secs, args.size, rep.tp_pin);
    throughput::RING_SPIN_NS.store(
        args.ring_spin_us * 1000,
        std::sync::atomic::Ordering::Relaxed,
    );
    let gen_name = format!(
        "simnic generator ({} pps, burst {})",
        thousands(g.rate_pps as f64),
        g.burst
    );
    let names = [
        gen_name.clone(),
        "simnic TX loopback".to_string(),
        "UDP 127.0.0.1".to_string(),
        format!("{gen_name} -> mmap ring"),
        "simnic TX loopback -> mmap ring".to_string(),
    ];
    rep.throughput = names
        .iter()
        .map(|n| (n.clone(), ThroughputResult::default()))
        .collect();
    let blocks = args.tp_blocks.max(1);
    for block in 1..=blocks {
        for (i, name) in names.iter().enumerate() {
            progress.phase(&format!("throughput {block}/{blocks}: {name}, {s} s"));
            let r = match i {
                0 => throughput::generator(&g, w, s, pin, progress)?,
                1 => throughput::simnic_loopback(size, w, s, pin, progress)?,
                2 => throughput::udp_loopback(size, w, s, pin, progress)?,
                3 => throughput::generator_ring(&g, w, s, pin, progress)?,
                _ => throughput::simnic_loopback_ring(size, w, s, pin, progress)?,
            };
            rep.throughput[i].1.absorb(r);
        }
    }
    Ok(())
}

fn render(args: &Args, rep: &Report) -> String {
    let mut o = String::new();
    let cpus = sys::online_cpus();
    let _ = writeln!(
        o,
        "simnic-bench: Linux {} ({} flavour), {} CPU{} online, {}, clocksource {} ({} ns resolution)",
        sys::kernel_release(),
        args.flavour,
        cpus,
        if cpus == 1 { "" } else { "s" },
        sys::accelerator(),
        sys::clocksource(),
        sys::clock_res_ns()
    );
    o += "NOTE: timings are emulated (QEMU guest): absolute values do not predict real hardware; only ratios\n\
          between transports measured in this same run are meaningful.\n";
    if !rep.latency.is_empty() {
        render_latency(args, rep, &mut o);
    }
    if !rep.throughput.is_empty() {
        render_throughput(args, rep, &mut o);
    }
    if !rep.memory.is_empty() {
        render_memory(args, rep, &mut o);
    }
    if let Some(c) = &rep.c10k {
        c.render(args.size, &mut o);
    }
    render_raw(rep, &mut o);
    o
}

fn render_latency(args: &Args, rep: &Report, o: &mut String) {
    let n = rep.latency[0].1.first().map_or(0, |(_, r)| r.oneway.len());
    let _ = writeln!(
        o,
        "\n1. Wake-up latency of a blocked reader: ping-pong between two threads, {n} round trips per transport\n   \
         and placement in {} blocks taken in turns ({} warm-up round trips per block not counted); the reader\n   \
         is seen asleep in read() before every send. one-way = send() called -> the reader's read() returned\n   \
         (CLOCK_MONOTONIC stamp in the message); RTT/2 = half the round trip. Message: {} bytes (eventfd: 8).",
        args.blocks.max(1),
        args.warmup_rounds,
        args.size.max(16)
    );
    for (pin, set) in &rep.latency {
        let _ = writeln!(o, "\n{pin}:");
        let mut t = Table::new(&[
            "transport",
            "one-way p50",
            "one-way p99",
            "RTT/2 p50",
            "RTT/2 p99",
            "one-way p50 per block",
        ]);
        for (name, r) in set {
            let (ow, rt) = (r.oneway(), r.half_rtt());
            let lo = r.block_p50.iter().min().copied().unwrap_or(0);
            let hi = r.block_p50.iter().max().copied().unwrap_or(0);
            t.row(vec![
                name.to_string(),
                us(ow.p50),
                us(ow.p99),
                us(rt.p50),
                us(rt.p99),
                format!("{:.1}..{:.1} us", lo as f64 / 1000.0, hi as f64 / 1000.0),
            ]);
        }
        *o += &t.render();
    }

    // Ratios: UDP against eventfd, simnic against both, per placement.
    let _ = writeln!(o);
    let mut t = Table::new(&[
        "ratio",
        "placement",
        "one-way p50",
        "one-way p99",
        "RTT/2 p50",
        "RTT/2 p99",
    ]);
    for (pin, set) in &rep.latency {
        let find = |n: &str| set.iter().find(|(m, _)| *m == n).map(|(_, r)| r);
        let (Some(efd), Some(udp)) = (find("eventfd pair"), find("UDP 127.0.0.1")) else {
            continue;
        };
        let place = match pin {
            Pinning::None => "unpinned",
            Pinning::Same => "one CPU",
            Pinning::Split => "two CPUs",
        };
        for (name, r) in set.iter().filter(|(_, r)| !std::ptr::eq(r, efd)) {
            for (refname, base) in [("eventfd", efd), ("UDP", udp)] {
                if std::ptr::eq(r, base) {
                    continue;
                }
                let (ow, rt, bow, brt) = (r.oneway(), r.half_rtt(), base.oneway(), base.half_rtt());
                let short = name.split(' ').next().unwrap_or(name);
                t.row(vec![
                    format!("{short} / {refname}"),
                    place.to_string(),
                    ratio(ow.p50 as f64, bow.p50 as f64),
                    ratio(ow.p99 as f64, bow.p99 as f64),
                    ratio(rt.p50 as f64, brt.p50 as f64),
                    ratio(rt.p99 as f64, brt.p99 as f64),
                ]);
            }
        }
    }
    *o += &t.render();
}

fn render_throughput(args: &Args, rep: &Report, o: &mut String) {
    let _ = writeln!(
        o,
        "\n2. Throughput of {}-byte datagrams through the whole path, one reader thread draining with blocking\n   \
         read(); {} blocks of {} s per path (after {} s warm-up each), the paths taking turns; drops from the\n   \
         kernel's counters over the same windows; \"-> mmap ring\": the reader takes the datagrams in place from a\n   \
         {}-slot mmap receive ring and calls poll() only when it is empty (after looking for {} us), no read().\n   \
         Placement: {}.\n",
        args.size,
        args.tp_blocks.max(1),
        args.secs,
        args.warmup_secs,
        args.ring_slots,
        args.ring_spin_us,
        rep.tp_pin
    );
    let udp_rx = rep
        .throughput
        .iter()
        .find(|(n, _)| n.starts_with("UDP"))
        .map(|(_, r)| r.received_per_sec());
    let mut t = Table::new(&[
        "path",
        "offered/s",
        "received/s",
        "drop %",
        "ENOBUFS/s",
        "received vs UDP",
        "received/s per block",
        "reader CPU",
    ]);
    for (name, r) in &rep.throughput {
        t.row(vec![
            name.clone(),
            thousands(r.offered_per_sec()),
            thousands(r.received_per_sec()),
            format!("{:.1} %", r.drop_pct()),
            thousands(r.busy_per_sec()),
            udp_rx
                .map(|u| ratio(r.received_per_sec(), u))
                .unwrap_or_else(|| "-".into()),
            format!(
                "{}..{}",
                thousands(r.block_rates.iter().copied().fold(f64::INFINITY, f64::min)),
                thousands(r.block_rates.iter().copied().fold(0.0, f64::max))
            ),
            format!("{:.0} %", r.reader_cpu_pct()),
        ]);
    }
    *o += &t.render();
    // The goal: the ring at least 5x UDP loopback's rate.
    let best_ring = rep
        .throughput
        .iter()
        .filter(|(n, _)| n.ends_with("mmap ring"))
        .max_by(|a, b| a.1.received_per_sec().total_cmp(&b.1.received_per_sec()));
    if let (Some((name, r)), Some(u)) = (best_ring, udp_rx) {
        let x = r.received_per_sec() / u;
        let verdict = if x >= 5.0 {
            "met".to_string()
        } else {
            format!(
                "missed: {:.0} % of the goal, {} datagrams/s short",
                100.0 * x / 5.0,
                thousands(5.0 * u - r.received_per_sec())
            )
        };
        let _ = writeln!(o, "\ngoal: the mmap ring at 5x UDP 127.0.0.1's datagrams/s: {name} at {x:.2}x, {verdict}.");
    }
}

fn render_memory(args: &Args, rep: &Report, o: &mut String) {
    let n = rep.memory[0].1.n;
    let _ = writeln!(
        o,
        "\n3. Memory per idle endpoint: /proc/meminfo before and after opening {n} of them ({} s settle each),\n   \
         divided by {n}.\n",
        args.settle
    );
    let udp = rep
        .memory
        .iter()
        .find(|(n, _)| n.starts_with("UDP"))
        .map(|(_, r)| r);
    let mut t = Table::new(&[
        "object",
        "N",
        "MemAvailable",
        "Slab",
        "SUnreclaim",
        "Vmalloc",
        "MemAvailable vs UDP",
        "Slab vs UDP",
    ]);
    for (name, r) in &rep.memory {
        let vs = |f: &str| {
            udp.map(|u| ratio(r.per_obj(f), u.per_obj(f)))
                .unwrap_or_else(|| "-".into())
        };
        t.row(vec![
            name.to_string(),
            r.n.to_string(),
            bytes(r.per_obj("MemAvailable")),
            bytes(r.per_obj("Slab")),
            bytes(r.per_obj("SUnreclaim")),
            bytes(r.per_obj("VmallocUsed")),
            vs("MemAvailable"),
            vs("Slab"),
        ]);
    }
    *o += &t.render();
    if rep.memory.iter().all(|(_, r)| r.slab_growth.is_none()) {
        *o += "(no /proc/slabinfo in this kernel: CONFIG_SLUB_TINY leaves out SLUB_DEBUG)\n";
    }
}

fn render_raw(rep: &Report, o: &mut String) {
    *o += "\nRaw numbers\n";
    for (pin, set) in &rep.latency {
        for (name, r) in set {
            let tag = format!("latency {name} ({pin})");
            let _ = writeln!(o, "{tag}: one-way {}", r.oneway().raw());
            let _ = writeln!(o, "{tag}: RTT/2   {}", r.half_rtt().raw());
            let p50s: Vec<String> = r.block_p50.iter().map(u64::to_string).collect();
            let _ = writeln!(
                o,
                "{tag}: one-way p50 of each block (ns): {}",
                p50s.join(" ")
            );
            let _ = writeln!(
                o,
                "{tag}: polls finding the reader not yet asleep={} ENOBUFS retries={}",
                r.not_asleep_polls, r.tx_busy_retries
            );
            if let Some((wakeups, nic)) = &r.simnic {
                let _ = writeln!(
                    o,
                    "{tag}: reader endpoint wakeups={wakeups} over {} datagrams; NIC counters over the rounds: {}",
                    r.oneway.len(),
                    stats::nic_raw(nic)
                );
            }
        }
    }
    for (name, r) in &rep.throughput {
        let _ = writeln!(
            o,
            "throughput {name}: windows={:.3} s offered={} received={} dropped={} ENOBUFS={} reader_cpu={:.3} s",
            r.secs, r.offered, r.received, r.dropped, r.busy, r.reader_cpu
        );
        let rates: Vec<String> = r.block_rates.iter().map(|v| format!("{v:.0}")).collect();
        let _ = writeln!(
            o,
            "throughput {name}: received/s of each block: {}",
            rates.join(" ")
        );
        if let Some(nic) = &r.nic {
            let _ = writeln!(
                o,
                "throughput {name}: NIC counters over the windows: {}",
                stats::nic_raw(nic)
            );
        }
        if let Some(udp) = &r.udp {
            let s: Vec<String> = udp.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(
                o,
                "throughput {name}: Udp counters over the windows: {}",
                s.join(" ")
            );
        }
    }
    if let Some(noise) = &rep.mem_noise {
        let s: Vec<String> = noise.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            o,
            "memory noise floor (two readings, nothing opened; bytes used): {}",
            s.join(" ")
        );
    }
    for (name, r) in &rep.memory {
        let s: Vec<String> = r.used.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            o,
            "memory {name} x{}: bytes used in total: {}",
            r.n,
            s.join(" ")
        );
        if let Some(g) = &r.slab_growth {
            let top: Vec<String> = g
                .iter()
                .take(6)
                .map(|(c, d, b)| format!("{c}:+{d} objs/+{b} B"))
                .collect();
            let _ = writeln!(
                o,
                "memory {name} x{}: slab caches that grew: {}",
                r.n,
                top.join(" ")
            );
        }
    }
    if let Some(c) = &rep.c10k {
        c.render_raw(o);
    }
    let _ = writeln!(
        o,
        "run: {:.1} s in the guest ({:.1} s of it waiting for a high-resolution clock){}",
        rep.secs,
        rep.clock_wait,
        if rep.lo_was_down {
            "; brought lo up for the UDP tests"
        } else {
            ""
        }
    );
}
