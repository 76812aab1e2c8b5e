//! simnic-bench: measures /dev/simnic against the kernel's own UDP on
//! loopback and eventfd, inside one guest, and prints a table.
//!
//! 1. Wake-up latency of a blocked reader (ping-pong between two threads),
//!    with both threads on one CPU and with them on two.
//! 2. Datagram throughput through the whole path (generator, TX loopback,
//!    UDP loopback), with drops from the kernel's counters; and the same
//!    traffic spread round-robin over N (1,000) active endpoints drained
//!    through epoll, against as many UDP sockets.
//! 3. Memory per endpoint, idle and with one datagram queued, against a UDP
//!    socket.
//! 4. C10K: the cost of one ready event with 10 to 10,000 idle endpoints
//!    watched by select, poll and epoll, against UDP sockets; the cost of
//!    opening that many.
//! 5. Receiving through each interface: latency and datagrams/s with
//!    read(), epoll_wait + read(), io_uring, Linux AIO and the mmap receive
//!    ring, simnic against UDP (and the generator into read() and into the
//!    ring); the mmap ring's goal of 5x UDP read().
//!
//! Timings inside a TCG guest are emulated: only the ratios between
//! transports measured in the same run mean anything, and the transports
//! take turns in blocks so that a change in the host's load over the run
//! hits each of them alike. `tools/bench/run` boots the guest and runs this;
//! Documentation/benchmarks.rst explains the method and the results.

mod breakdown;
mod c10k;
mod latency;
mod memory;
mod module;
mod progress;
mod receiver;
mod stats;
mod sys;
mod table;
mod throughput;

use clap::{Parser, ValueEnum};
use latency::{LatencyResult, Link};
use memory::{MemPair, MemResult};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use sys::Pinning;
use table::{bytes, ratio, thousands, us, Table};
use throughput::{Fanout, GenParams, ManyParams, ThroughputResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Section {
    Latency,
    Throughput,
    Memory,
    C10k,
    Breakdown,
    Async,
}

/// Benchmark /dev/simnic against UDP on 127.0.0.1 and eventfd (run it in the
/// guest: tools/bench/run).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Kernel flavour, for the header only (the guest cannot tell).
    #[arg(long, default_value = "unknown")]
    flavour: String,
    /// Reload simnic.ko with these parameters before measuring ("k=v
    /// k2=v2": rmmod simnic, then insmod $SIMNIC_KO k=v k2=v2); the report's
    /// header lists the module's parameters as sysfs shows them.
    #[arg(long, default_value = "")]
    module_params: String,
    /// Sections to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "latency,throughput,memory,c10k,async,breakdown"
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
    #[arg(long, default_value_t = 1.0)]
    secs: f64,
    /// Throughput blocks per path; the paths take turns block by block.
    #[arg(long, default_value_t = 8)]
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
    /// Active endpoints (and UDP sockets) of the many-endpoint throughput
    /// test, each on its own port, all drained by one epoll reader (0: no
    /// such test). It runs with 1 as well, for the like-for-like ratio.
    #[arg(long, default_value_t = 1000)]
    tp_endpoints: usize,
    /// How the many-endpoint test's writer reaches its N destinations:
    /// write() on N senders each connected to one, or one sender giving the
    /// destination with each datagram (SIMNIC_IOC_SENDTO; sendto() for UDP).
    /// The default is the one the section's send-cost table found cheaper
    /// per datagram, for simnic and for UDP.
    #[arg(long, value_enum, default_value_t = Fanout::Sendto)]
    tp_fanout: Fanout,
    /// Batches of 32 datagrams timed per variant for the cost of one
    /// delivery (1 and --tp-endpoints receivers) and of one send (by
    /// fanout), medians that a stall of the emulation does not move (0: not
    /// measured).
    #[arg(long, default_value_t = 500)]
    cost_batches: usize,

    /// Endpoints (and UDP sockets) opened for the memory test; each then
    /// gets one --size datagram queued.
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

    /// Breakdown: measured round trips per model (untraced, then traced).
    #[arg(long, default_value_t = 1000)]
    breakdown_rounds: usize,
    /// Async: io_uring reads and AIO reads kept in flight by the receiver.
    #[arg(long, default_value_t = 4)]
    async_depth: usize,
    /// Async: measured ping-pong round trips per interface (in 2 blocks).
    #[arg(long, default_value_t = 1000)]
    async_rounds: usize,
    /// Async: seconds of each throughput block (after --warmup-secs each).
    #[arg(long, default_value_t = 1.0)]
    async_secs: f64,
    /// Async: blocks the round trips and the throughput windows are split
    /// into; the interfaces take turns block by block.
    #[arg(long, default_value_t = 2)]
    async_blocks: usize,
    /// Async: slots of the mmap receive ring (a power of two): 1024 holds
    /// four of the generator's catch-up bursts of 256.
    #[arg(long, default_value_t = 1024)]
    ring_slots: u32,

    /// Measure even when CLOCK_MONOTONIC is coarser than a microsecond (a
    /// guest whose TSC calibration failed runs on jiffies: 4 ms steps).
    #[arg(long)]
    allow_coarse_clock: bool,
}

/// The latency results of one placement, per transport.
type LatencySet = Vec<(&'static str, LatencyResult)>;

/// Who a throughput path's receivers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TpKind {
    Generator,
    Simnic,
    Udp,
}

/// One throughput path and what it measured over all blocks.
struct TpRow {
    name: String,
    kind: TpKind,
    /// Receivers the traffic is spread over.
    receivers: usize,
    /// Whether one epoll reader drains them (else one blocking read()).
    epoll: bool,
    r: ThroughputResult,
}

/// What `--module-params` reloaded the module with: the words given, and
/// those that read back differently from sysfs (given, shown).
struct Reloaded {
    given: Vec<String>,
    differ: Vec<(String, String)>,
}

struct Report {
    latency: Vec<(Pinning, LatencySet)>,
    throughput: Vec<TpRow>,
    tp_pin: Pinning,
    send_costs: Vec<throughput::SendCost>,
    delivery_costs: Vec<throughput::DeliveryCost>,
    memory: Vec<(&'static str, MemPair)>,
    /// `--module-params`, when the module was reloaded.
    reloaded: Option<Reloaded>,
    mem_noise: Option<BTreeMap<&'static str, i64>>,
    c10k: Option<c10k::C10kResult>,
    breakdown: Vec<breakdown::BreakdownResult>,
    asyncio: Vec<AsyncRow>,
    async_pin: Pinning,
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
    // Before anything opens /dev/simnic: the module goes away for a moment.
    let reload = module::parse(&args.module_params)?;
    let reloaded = if reload.is_empty() {
        None
    } else {
        eprintln!(
            "simnic-bench: progress: reloading simnic.ko with {}",
            reload.join(" ")
        );
        let differ = module::reload(&reload)
            .map_err(|e| io::Error::new(e.kind(), format!("--module-params: {e}")))?;
        Some(Reloaded {
            given: reload,
            differ,
        })
    };
    let t_start = sys::now_ns();
    let mut rep = Report {
        latency: Vec::new(),
        throughput: Vec::new(),
        tp_pin: args.tp_pin,
        send_costs: Vec::new(),
        delivery_costs: Vec::new(),
        memory: Vec::new(),
        mem_noise: None,
        reloaded,
        c10k: None,
        breakdown: Vec::new(),
        asyncio: Vec::new(),
        async_pin: Pinning::Split,
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
        .max(args.endpoints + 1)
        .max(2 * args.tp_endpoints + 1);
    sys::raise_nofile(most_open as u64 + 256)?;

    // Memory first, on a fresh guest: the other sections free many small
    // objects, and the partly empty slabs they leave would take the first
    // allocations of the memory test without a page more in use.
    if args.only.contains(&Section::Memory) {
        let n = args.endpoints;
        progress.phase("memory: noise floor");
        rep.mem_noise = Some(memory::noise(args.settle)?);
        let size = args.size;
        progress.phase(&format!(
            "memory: {n} simnic endpoints, idle and with one datagram"
        ));
        let sender = simnic::Endpoint::open()?;
        rep.memory.push((
            "simnic endpoint",
            memory::measure(n, args.settle, simnic::Endpoint::open, |eps| {
                memory::fill_simnic(&sender, eps, size)
            })?,
        ));
        progress.phase(&format!(
            "memory: {n} UDP sockets, idle and with one datagram"
        ));
        let (sender, _) = sys::udp_bound()?;
        rep.memory.push((
            "UDP socket (bound)",
            memory::measure(
                n,
                args.settle,
                || sys::udp_bound().map(|p| p.0),
                |socks| memory::fill_udp(&sender, socks, size),
            )?,
        ));
    }
    if args.only.contains(&Section::Latency) {
        latency_section(args, &progress, &mut rep)?;
    }
    if args.only.contains(&Section::Throughput) {
        throughput_section(args, &progress, &mut rep)?;
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
    if args.only.contains(&Section::Async) {
        async_section(args, &progress, &mut rep)?;
    }
    if args.only.contains(&Section::Breakdown) {
        for &pin in &args.pin {
            if pin == Pinning::Split && sys::online_cpus() < 2 {
                continue;
            }
            rep.breakdown.push(breakdown::run(
                args.breakdown_rounds.max(1),
                args.warmup_rounds,
                args.size,
                pin,
                &progress,
            )?);
        }
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
    let gen_name = format!(
        "simnic generator ({} pps, burst {})",
        thousands(g.rate_pps as f64),
        g.burst
    );
    let row = |name: String, kind, receivers, epoll| TpRow {
        name,
        kind,
        receivers,
        epoll,
        r: ThroughputResult::default(),
    };
    rep.throughput = vec![
        row(gen_name, TpKind::Generator, 1, false),
        row("simnic TX loopback".into(), TpKind::Simnic, 1, false),
        row("UDP 127.0.0.1".into(), TpKind::Udp, 1, false),
    ];
    // The many-endpoint paths, with one receiver too: the same epoll
    // reader and round-robin writer, so that the ratio isolates N.
    let mut ns = vec![1, args.tp_endpoints];
    ns.retain(|&n| n > 0);
    ns.dedup();
    if args.tp_endpoints > 0 {
        for &n in &ns {
            for (kind, name) in [(TpKind::Simnic, "simnic"), (TpKind::Udp, "UDP")] {
                let what = match (kind, n == 1) {
                    (TpKind::Udp, true) => "socket",
                    (TpKind::Udp, false) => "sockets",
                    (_, true) => "endpoint",
                    (_, false) => "endpoints",
                };
                rep.throughput.push(row(
                    format!("{name} {} {what}, epoll", thousands(n as f64)),
                    kind,
                    n,
                    true,
                ));
            }
        }
    }
    // The order within a block: the single-receiver paths, then for each
    // transport its 1- and N-receiver epoll paths back to back, N first in
    // every other block, so that each pair sees the same host load and an
    // after-effect of one on the other shows as a difference between the
    // two orders.
    let fixed: Vec<usize> = (0..rep.throughput.len())
        .filter(|&i| !rep.throughput[i].epoll)
        .collect();
    let pairs: Vec<Vec<usize>> = [TpKind::Simnic, TpKind::Udp]
        .iter()
        .map(|&k| {
            (0..rep.throughput.len())
                .filter(|&i| rep.throughput[i].epoll && rep.throughput[i].kind == k)
                .collect()
        })
        .collect();
    let blocks = args.tp_blocks.max(1);
    for block in 1..=blocks {
        let mut order = fixed.clone();
        for p in &pairs {
            if block % 2 == 0 {
                order.extend(p.iter().rev());
            } else {
                order.extend(p.iter());
            }
        }
        for &i in &order {
            let row = &mut rep.throughput[i];
            progress.phase(&format!("throughput {block}/{blocks}: {}, {s} s", row.name));
            let many = ManyParams {
                n: row.receivers,
                size,
                fanout: args.tp_fanout,
                warmup: w,
                secs: s,
                pin,
            };
            let r = match (row.kind, row.epoll) {
                (TpKind::Generator, _) => throughput::generator(&g, w, s, pin, progress)?,
                (TpKind::Simnic, false) => throughput::simnic_loopback(size, w, s, pin, progress)?,
                (TpKind::Udp, false) => throughput::udp_loopback(size, w, s, pin, progress)?,
                (TpKind::Simnic, true) => throughput::simnic_many(&many, progress)?,
                (TpKind::Udp, true) => throughput::udp_many(&many, progress)?,
            };
            row.r.absorb(r);
        }
    }
    if args.tp_endpoints > 0 && args.cost_batches > 0 {
        progress.phase(&format!(
            "throughput: cost of one delivery with 1 and {} receivers, {} batches",
            args.tp_endpoints, args.cost_batches
        ));
        rep.delivery_costs =
            throughput::delivery_costs(args.tp_endpoints, size, args.cost_batches, pin, progress)?;
        progress.phase(&format!(
            "throughput: cost of one send to {} destinations, {} batches",
            args.tp_endpoints, args.cost_batches
        ));
        rep.send_costs =
            throughput::send_costs(args.tp_endpoints, size, args.cost_batches, pin, progress)?;
    }
    Ok(())
}

/// Where the datagrams of a section 5 row come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AsyncSource {
    /// A sender thread through simnic's TX loopback (and, for latency, the
    /// echo back the same way).
    Simnic,
    /// A sender thread on a UDP socket on 127.0.0.1.
    Udp,
    /// The NIC's generator (throughput only: it cannot echo).
    Generator,
}

/// One interface of section 5: latency and throughput.
struct AsyncRow {
    source: AsyncSource,
    method: receiver::Method,
    latency: LatencyResult,
    throughput: ThroughputResult,
}

impl AsyncRow {
    fn transport(&self) -> &'static str {
        match self.source {
            AsyncSource::Simnic => "simnic",
            AsyncSource::Udp => "UDP 127.0.0.1",
            AsyncSource::Generator => "simnic generator",
        }
    }
    fn is_ring(&self) -> bool {
        self.method == receiver::Method::MmapRing
    }
}

fn async_section(
    args: &Args,
    progress: &std::sync::Arc<progress::Progress>,
    rep: &mut Report,
) -> io::Result<()> {
    use receiver::Method;
    use AsyncSource::{Generator, Simnic, Udp};
    if sys::online_cpus() < 2 {
        rep.async_pin = Pinning::Same;
    }
    let pin = rep.async_pin;
    // AIO on a UDP socket is not asynchronous (sock_read_iter sleeps in
    // io_submit): no row. The ring is simnic's alone.
    let rows = [
        (Simnic, Method::Read),
        (Simnic, Method::EpollRead),
        (Simnic, Method::IoUring),
        (Simnic, Method::Aio),
        (Simnic, Method::MmapRing),
        (Udp, Method::Read),
        (Udp, Method::EpollRead),
        (Udp, Method::IoUring),
        (Generator, Method::Read),
        (Generator, Method::MmapRing),
    ];
    rep.asyncio = rows
        .iter()
        .map(|&(source, method)| AsyncRow {
            source,
            method,
            latency: LatencyResult::default(),
            throughput: ThroughputResult::default(),
        })
        .collect();
    let g = GenParams {
        rate_pps: args.gen_rate,
        burst: args.gen_burst,
        payload: args.size as u32,
    };
    let blocks = args.async_blocks.max(1);
    let per_block = args.async_rounds.div_ceil(blocks);
    for block in 1..=blocks {
        for row in rep.asyncio.iter_mut() {
            let what = format!("{} {}", row.transport(), row.method.label());
            let via = throughput::Via {
                method: row.method,
                depth: args.async_depth,
                ring_slots: args.ring_slots,
            };
            if row.source != Generator {
                progress.phase(&format!("async {block}/{blocks}: latency, {what}"));
                let link = Link::via(
                    row.source == Simnic,
                    row.method,
                    1,
                    args.size,
                    args.ring_slots,
                )?;
                latency::ping_pong(
                    link,
                    args.size,
                    per_block,
                    args.warmup_rounds,
                    pin,
                    progress,
                    &mut row.latency,
                )?;
            }
            progress.phase(&format!(
                "async {block}/{blocks}: throughput, {what}, {} s",
                args.async_secs
            ));
            let (w, s) = (args.warmup_secs, args.async_secs);
            let r = match row.source {
                Generator => throughput::generator_via(&g, via, w, s, pin, progress)?,
                src => {
                    throughput::loopback_via(src == Simnic, via, args.size, w, s, pin, progress)?
                }
            };
            row.throughput.absorb(r);
        }
    }
    Ok(())
}

/// Nanoseconds per datagram as microseconds, one decimal.
fn us_f(ns: f64) -> String {
    format!("{:.1} us", ns / 1000.0)
}

fn render_async(args: &Args, rep: &Report, o: &mut String) {
    let blocks = args.async_blocks.max(1);
    let _ = writeln!(
        o,
        "\n5. Receiving through each interface, simnic against UDP on 127.0.0.1. Latency: the ping-pong of\n   \
         section 1, B receiving through the interface (one request in flight; the mmap ring: poll() until a slot\n   \
         is published, the stamp read and the echo written from the slot in place) and echoing with write();\n   \
         {} round trips each. Throughput: the writer -> reader test of section 2 (\"simnic generator\": the NIC's\n   \
         generator at {} pps, bursts of {}, no writer), the reader receiving through the interface ({} io_uring/AIO\n   \
         reads in flight; a {}-slot ring) and looking at each datagram where it was received; {} blocks of {} s\n   \
         each, the interfaces taking turns. {}-byte datagrams. Placement: {}.\n",
        rep.asyncio.first().map_or(0, |r| r.latency.oneway.len()),
        thousands(args.gen_rate as f64),
        args.gen_burst,
        args.async_depth,
        args.ring_slots,
        blocks,
        args.async_secs,
        args.size,
        rep.async_pin
    );
    let base = rep
        .asyncio
        .iter()
        .find(|r| r.source == AsyncSource::Udp && r.method == receiver::Method::Read);
    let mut t = Table::new(&[
        "transport",
        "interface",
        "one-way min",
        "one-way p50",
        "one-way p99",
        "p50 per block",
        "p50 vs UDP read()",
    ]);
    for r in rep.asyncio.iter().filter(|r| !r.latency.oneway.is_empty()) {
        let ow = r.latency.oneway();
        let p50_vs = match base {
            Some(b) => ratio(ow.p50 as f64, b.latency.oneway().p50 as f64),
            None => "-".into(),
        };
        let lo = r.latency.block_p50.iter().copied().min().unwrap_or(0);
        let hi = r.latency.block_p50.iter().copied().max().unwrap_or(0);
        t.row(vec![
            r.transport().to_string(),
            r.method.label().to_string(),
            us(ow.min),
            us(ow.p50),
            us(ow.p99),
            format!("{:.1}..{:.1} us", lo as f64 / 1000.0, hi as f64 / 1000.0),
            p50_vs,
        ]);
    }
    *o += &t.render();
    o.push('\n');
    let mut t = Table::new(&[
        "source",
        "interface",
        "offered/s",
        "received/s",
        "drop %",
        "reader CPU/dgram",
        "reader busy",
        "wakeups/dgram",
        "received/s per block",
        "received/s vs UDP read()",
    ]);
    for r in &rep.asyncio {
        let tp = &r.throughput;
        let rx_vs = match base {
            Some(b) => ratio(tp.received_per_sec(), b.throughput.received_per_sec()),
            None => "-".into(),
        };
        t.row(vec![
            r.transport().to_string(),
            r.method.label().to_string(),
            thousands(tp.offered_per_sec()),
            thousands(tp.received_per_sec()),
            format!("{:.1} %", tp.drop_pct()),
            us_f(tp.reader_cpu_per_dgram()),
            format!("{:.0} %", 100.0 * tp.reader_busy()),
            tp.wakeups_per_dgram()
                .map_or("-".into(), |w| format!("{w:.2}")),
            format!(
                "{}..{}",
                thousands(tp.block_rates.iter().copied().fold(f64::INFINITY, f64::min)),
                thousands(tp.block_rates.iter().copied().fold(0.0, f64::max))
            ),
            rx_vs,
        ]);
    }
    *o += &t.render();
    // The goal: the ring at 5x UDP loopback's datagrams/s, both
    // ways of feeding it, with what the source offered (the ceiling: the
    // ring cannot receive more than it is offered).
    if let Some(b) = base {
        let u = b.throughput.received_per_sec();
        for r in rep.asyncio.iter().filter(|r| r.is_ring()) {
            let rx = r.throughput.received_per_sec();
            if u == 0.0 {
                continue;
            }
            let x = rx / u;
            let verdict = if x >= 5.0 {
                format!("met by {:.0} %", 100.0 * (x / 5.0 - 1.0))
            } else {
                format!("missed by {:.0} %", 100.0 * (1.0 - x / 5.0))
            };
            let _ = writeln!(
                o,
                "goal: mmap ring at 5x UDP read(): {} -> mmap ring at {x:.2}x ({} against {} datagrams/s): {verdict}; \
                 offered {:.2}x, reader busy {:.0} %.",
                r.transport(),
                thousands(rx),
                thousands(u),
                r.throughput.offered_per_sec() / u,
                100.0 * r.throughput.reader_busy()
            );
        }
    }
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
    let params: Vec<String> = sys::module_params()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(
        o,
        "simnic.ko parameters: {}{}",
        if params.is_empty() {
            "(none shown in /sys/module/simnic/parameters)".to_string()
        } else {
            params.join(" ")
        },
        match &rep.reloaded {
            Some(r) => format!(" (reloaded with --module-params \"{}\")", r.given.join(" ")),
            None => " (not reloaded by this run)".into(),
        }
    );
    if let Some(r) = &rep.reloaded {
        for (given, shown) in &r.differ {
            let _ = writeln!(
                o,
                "NOTE: --module-params {given}: /sys/module/simnic/parameters shows {shown}"
            );
        }
    }
    if sys::engine_thread_missing() {
        o += "NOTE: the module runs no simnic-hw kernel thread: the placements pin the user threads only.\n";
    }
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
    if !rep.asyncio.is_empty() {
        render_async(args, rep, &mut o);
    }
    for b in &rep.breakdown {
        render_breakdown(b, &mut o);
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

/// The drops of a throughput path by cause, from the kernel's counters:
/// the NIC's for simnic, the `Udp:` ones for UDP; "-" when none.
fn drop_causes(r: &ThroughputResult) -> String {
    let mut causes: Vec<String> = Vec::new();
    if let Some(nic) = &r.nic {
        for (name, v) in throughput::nic_drops(nic) {
            if v > 0 {
                causes.push(format!("{name} {}", thousands(v as f64)));
            }
        }
    }
    if let Some(udp) = &r.udp {
        for name in throughput::UDP_DROPS {
            let v = udp.get(name).copied().unwrap_or(0);
            if v > 0 {
                causes.push(format!("{name} {}", thousands(v as f64)));
            }
        }
    }
    if causes.is_empty() {
        "-".into()
    } else {
        causes.join(", ")
    }
}

/// The lowest and highest per-block rate.
fn block_range(r: &ThroughputResult) -> (f64, f64) {
    (
        r.block_rates.iter().copied().fold(f64::INFINITY, f64::min),
        r.block_rates.iter().copied().fold(0.0, f64::max),
    )
}

fn render_throughput(args: &Args, rep: &Report, o: &mut String) {
    let _ = writeln!(
        o,
        "\n2. Throughput of {}-byte datagrams through the whole path, one reader thread draining with blocking\n   \
         read(); {} blocks of {} s per path (after {} s warm-up each), the paths taking turns; drops from the\n   \
         kernel's counters over the same windows. Placement: {}.\n",
        args.size,
        args.tp_blocks.max(1),
        args.secs,
        args.warmup_secs,
        rep.tp_pin
    );
    let single: Vec<&TpRow> = rep.throughput.iter().filter(|t| !t.epoll).collect();
    let udp_rx = single
        .iter()
        .find(|t| t.kind == TpKind::Udp)
        .map(|t| t.r.received_per_sec());
    let mut t = Table::new(&[
        "path",
        "offered/s",
        "received/s",
        "drop %",
        "dropped by",
        "ENOBUFS/s",
        "received vs UDP",
        "received/s per block",
    ]);
    for row in &single {
        let r = &row.r;
        let (lo, hi) = block_range(r);
        t.row(vec![
            row.name.clone(),
            thousands(r.offered_per_sec()),
            thousands(r.received_per_sec()),
            format!("{:.1} %", r.drop_pct()),
            drop_causes(r),
            thousands(r.busy_per_sec()),
            udp_rx
                .map(|u| ratio(r.received_per_sec(), u))
                .unwrap_or_else(|| "-".into()),
            format!("{}..{}", thousands(lo), thousands(hi)),
        ]);
    }
    *o += &t.render();
    if rep.throughput.iter().any(|t| t.epoll) {
        render_many(args, rep, o);
    }
    if !rep.delivery_costs.is_empty() {
        render_delivery_costs(args, rep, o);
    }
    if !rep.send_costs.is_empty() {
        render_send_costs(args, rep, o);
    }
}

/// The median of per-batch costs, nanoseconds.
fn p50_of(v: &[f64]) -> f64 {
    let ns: Vec<u64> = v.iter().map(|v| v.round() as u64).collect();
    stats::Summary::of(&ns).p50 as f64
}

/// The whole path's cost per datagram with 1 and N receivers, from
/// batches: the robust counterpart of the rates above.
fn render_delivery_costs(args: &Args, rep: &Report, o: &mut String) {
    let batches = rep.delivery_costs.first().map_or(0, |c| c.per_dgram.len());
    let n = args.tp_endpoints;
    let place = if rep.tp_pin.cpus().is_some() {
        "on CPU 0 with simnic-hw"
    } else {
        "unpinned"
    };
    let _ = writeln!(
        o,
        "\nCost of delivering one datagram with 1 and with {} active endpoints, timed so that the host's moods\n   \
         cancel out: one thread ({place}) sends {} datagrams round-robin to the receivers (one sender,\n   \
         SIMNIC_IOC_SENDTO / sendto()) and takes them all back through its epoll set (level-triggered); the wall\n   \
         time of the batch (the hardware thread, the interrupt and the poll run inside it, on the same CPU) over\n   \
         the batch; p50 and p10 over {batches} batches, the variants taking turns batch by batch (a stall of the\n   \
         emulation only ever adds time, so the p10 is the least disturbed). dgrams/s = what the p50 allows one\n   \
         CPU; per batch pair = the ratios of the batches run one after the other.\n",
        thousands(n as f64),
        throughput::SEND_BATCH,
    );
    let get = |transport: &str, k: usize| {
        rep.delivery_costs
            .iter()
            .find(|c| c.transport == transport && c.receivers == k)
    };
    let per_block = |transport: &str| -> Vec<f64> {
        match (get(transport, n), get(transport, 1)) {
            (Some(a), Some(b)) => a
                .per_dgram
                .iter()
                .zip(&b.per_dgram)
                .map(|(x, y)| x / y.max(1.0))
                .collect(),
            _ => Vec::new(),
        }
    };
    let one_label = "1 endpoint";
    let many_label = format!("{} endpoints", thousands(n as f64));
    let mut t = Table::new(&[
        "transport",
        one_label,
        "dgrams/s",
        &many_label,
        "dgrams/s",
        &format!("{} / 1 p50", thousands(n as f64)),
        &format!("{} / 1 p10", thousands(n as f64)),
        "per batch pair",
    ]);
    let cost = |c: Option<&throughput::DeliveryCost>| c.map(|c| p50_of(&c.per_dgram));
    let p10 = |c: Option<&throughput::DeliveryCost>| {
        c.map(|c| {
            let ns: Vec<u64> = c.per_dgram.iter().map(|v| v.round() as u64).collect();
            stats::Summary::of(&ns).p10 as f64
        })
    };
    let ns = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{:.2} us", v / 1000.0));
    let rate = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| thousands(1e9 / v.max(1.0)));
    for transport in ["simnic", "UDP"] {
        let (one, many) = (cost(get(transport, 1)), cost(get(transport, n)));
        t.row(vec![
            transport.into(),
            ns(one),
            rate(one),
            ns(many),
            rate(many),
            match (one, many) {
                (Some(a), Some(b)) => ratio(b, a),
                _ => "-".into(),
            },
            match (p10(get(transport, 1)), p10(get(transport, n))) {
                (Some(a), Some(b)) => ratio(b, a),
                _ => "-".into(),
            },
            block_ratios(&per_block(transport)).replace("per block ", ""),
        ]);
    }
    let r = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => ratio(a, b),
        _ => "-".into(),
    };
    t.row(vec![
        "simnic / UDP".into(),
        r(cost(get("simnic", 1)), cost(get("UDP", 1))),
        "-".into(),
        r(cost(get("simnic", n)), cost(get("UDP", n))),
        "-".into(),
        "-".into(),
        "-".into(),
        "-".into(),
    ]);
    *o += &t.render();
    for transport in ["simnic", "UDP"] {
        let v = per_block(transport);
        if v.is_empty() {
            continue;
        }
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        let m = sorted[sorted.len() / 2];
        let _ = writeln!(
            o,
            "=> {transport}: with {} endpoints one datagram costs the whole path {m:.2}x what it costs with 1 (median batch\n   \
             pair): {:.0} % of the 1-endpoint rate per CPU",
            thousands(n as f64),
            100.0 / m.max(1e-9)
        );
    }
}

/// The median of a cost's batches, nanoseconds per call.
fn send_cost_p50(c: &throughput::SendCost) -> f64 {
    p50_of(&c.per_call)
}

/// What one send to many destinations costs the sender, by way of
/// addressing them, and which is cheaper.
fn render_send_costs(args: &Args, rep: &Report, o: &mut String) {
    let batches = rep.send_costs.first().map_or(0, |c| c.per_call.len());
    let place = if rep.tp_pin.cpus().is_some() {
        "the sending thread (which also reads back) and simnic-hw on CPU 0"
    } else {
        "unpinned"
    };
    let _ = writeln!(
        o,
        "\nCost of one send to {} destinations round-robin, by way of addressing them: the sender's CPU time\n   \
         (CLOCK_THREAD_CPUTIME_ID) per call, median over {batches} batches of {}, the four variants taking turns\n   \
         batch by batch; the datagrams are read back between batches, untimed. Placement: {place}.\n",
        thousands(args.tp_endpoints as f64),
        throughput::SEND_BATCH,
    );
    let get = |transport: &str, fanout: Fanout| {
        rep.send_costs
            .iter()
            .find(|c| c.transport == transport && c.fanout == fanout)
            .map(send_cost_p50)
    };
    let mut t = Table::new(&[
        "transport",
        "write(), connected",
        "SIMNIC_IOC_SENDTO / sendto()",
        "one sender / connected",
    ]);
    let ns = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.0} ns"));
    let r = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => ratio(a, b),
        _ => "-".into(),
    };
    for transport in ["simnic", "UDP"] {
        let (c, s) = (
            get(transport, Fanout::Connected),
            get(transport, Fanout::Sendto),
        );
        t.row(vec![transport.into(), ns(c), ns(s), r(s, c)]);
    }
    let (sc, ss, uc, us_) = (
        get("simnic", Fanout::Connected),
        get("simnic", Fanout::Sendto),
        get("UDP", Fanout::Connected),
        get("UDP", Fanout::Sendto),
    );
    t.row(vec![
        "simnic / UDP".into(),
        r(sc, uc),
        r(ss, us_),
        "-".into(),
    ]);
    *o += &t.render();
    for transport in ["simnic", "UDP"] {
        let (Some(c), Some(s)) = (
            get(transport, Fanout::Connected),
            get(transport, Fanout::Sendto),
        ) else {
            continue;
        };
        let cheaper = if c <= s {
            Fanout::Connected
        } else {
            Fanout::Sendto
        };
        let _ = writeln!(
            o,
            "=> {transport}: cheaper per datagram: {cheaper}{}",
            if cheaper == args.tp_fanout {
                " (the one the test above used)"
            } else {
                " (NOT the one the test above used: see --tp-fanout)"
            }
        );
    }
}

/// Section 2's second table: the traffic spread over N receivers drained
/// through epoll, against one receiver, for simnic and UDP.
fn render_many(args: &Args, rep: &Report, o: &mut String) {
    let n = args.tp_endpoints;
    let _ = writeln!(
        o,
        "\nThroughput with {} active endpoints: a writer thread sends {}-byte datagrams round-robin to N\n   \
         receivers, each bound to its own port ({});\n   \
         one reader thread drains all N through one epoll set (level-triggered EPOLLIN; one non-blocking read\n   \
         per reported receiver per epoll_wait). Same blocks and windows as above; in each block a transport's\n   \
         1- and N-receiver paths run back to back, N first in every other block. vs 1 read() = against the\n   \
         same transport's blocking-read path above; vs 1 epoll = against this path with N = 1 (isolates N);\n   \
         vs UDP = against UDP's row of the same N and reader. send CPU/dgram and reader CPU/dgram = the\n   \
         writer's and the reader's CPU time (CLOCK_THREAD_CPUTIME_ID) per datagram sent and received (an\n   \
         emulated guest counts the time the host took its CPU away, too); reader busy = the reader's CPU time\n   \
         over the window (near 100 %: the reader limits the rate); events/wait = epoll events per epoll_wait.\n",
        thousands(n as f64),
        args.size,
        args.tp_fanout
    );
    let find = |kind: TpKind, receivers: usize, epoll: bool| {
        rep.throughput
            .iter()
            .find(|t| t.kind == kind && t.receivers == receivers && t.epoll == epoll)
    };
    let mut t = Table::new(&[
        "path",
        "sent/s",
        "received/s",
        "vs 1 read()",
        "vs 1 epoll",
        "vs UDP",
        "drop %",
        "dropped by",
        "ENOBUFS/s",
        "send CPU/dgram",
        "reader CPU/dgram",
        "reader busy",
        "events/wait",
        "received/s per block",
    ]);
    let mut verdicts = Vec::new();
    for kind in [TpKind::Simnic, TpKind::Udp] {
        let read1 = find(kind, 1, false);
        let epoll1 = find(kind, 1, true);
        let other = if kind == TpKind::Simnic {
            TpKind::Udp
        } else {
            TpKind::Simnic
        };
        let rows = rep
            .throughput
            .iter()
            .filter(|t| t.kind == kind && (t.epoll || t.receivers == 1));
        for row in rows {
            let r = &row.r;
            let rx = r.received_per_sec();
            let vs = |base: Option<&TpRow>| {
                base.map(|b| ratio(rx, b.r.received_per_sec()))
                    .unwrap_or_else(|| "-".into())
            };
            let vs_udp = if kind == TpKind::Udp {
                "1.00x".to_string()
            } else {
                vs(find(other, row.receivers, row.epoll))
            };
            let per_wait = r
                .epoll
                .filter(|e| e.waits > 0)
                .map(|e| format!("{:.1}", e.events as f64 / e.waits as f64))
                .unwrap_or_else(|| "-".into());
            let (lo, hi) = block_range(r);
            let name = if row.epoll {
                row.name.clone()
            } else {
                format!("{} (1, read())", row.name)
            };
            t.row(vec![
                name,
                thousands(r.offered_per_sec()),
                thousands(rx),
                vs(read1),
                if row.epoll { vs(epoll1) } else { "-".into() },
                vs_udp,
                format!("{:.1} %", r.drop_pct()),
                drop_causes(r),
                thousands(r.busy_per_sec()),
                format!("{:.2} us", r.writer_cpu_per_dgram() / 1000.0),
                format!("{:.2} us", r.reader_cpu_per_dgram() / 1000.0),
                format!("{:.0} %", 100.0 * r.reader_busy()),
                per_wait,
                format!("{}..{}", thousands(lo), thousands(hi)),
            ]);
            if row.epoll && row.receivers > 1 {
                verdicts.push((kind, row, epoll1));
            }
        }
    }
    *o += &t.render();
    // Lost or not. The two paths run a few seconds apart in every block,
    // so each block gives a ratio that a change of the host's load between
    // blocks does not move; a loss is a ratio below 1 in every block.
    for (kind, row, base) in verdicts {
        let Some(base) = base else { continue };
        let per_block: Vec<f64> = row
            .r
            .block_rates
            .iter()
            .zip(&base.r.block_rates)
            .filter(|(_, b)| **b > 0.0)
            .map(|(a, b)| a / b)
            .collect();
        let who = if kind == TpKind::Simnic {
            "simnic"
        } else {
            "UDP   "
        };
        let _ = writeln!(
            o,
            "=> {who}: {} receivers deliver {} the rate of 1 (epoll reader), {}: {}; dropped {:.2} % ({})",
            thousands(row.receivers as f64),
            ratio(row.r.received_per_sec(), base.r.received_per_sec()),
            block_ratios(&per_block),
            loss_verdict(&per_block),
            row.r.drop_pct(),
            drop_causes(&row.r)
        );
    }
}

/// "per block 0.90x..1.05x, median 0.97x" (the median of an even number
/// of blocks: the mean of the middle two).
fn block_ratios(v: &[f64]) -> String {
    if v.is_empty() {
        return "no block".into();
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let mid = s.len() / 2;
    let median = if s.len().is_multiple_of(2) {
        (s[mid - 1] + s[mid]) / 2.0
    } else {
        s[mid]
    };
    format!(
        "per block {:.2}x..{:.2}x, median {median:.2}x",
        s[0],
        s[s.len() - 1]
    )
}

/// Throughput lost when every block's ratio (many receivers over one) is
/// below 1; one block alone decides nothing.
fn loss_verdict(per_block: &[f64]) -> &'static str {
    if per_block.len() < 2 {
        "too few blocks to tell"
    } else if per_block.iter().all(|&r| r < 1.0) {
        "lower in every block: throughput lost"
    } else {
        "not lower in every block: no loss measurable"
    }
}

/// The memory goals for one simnic endpoint: idle, and with one
/// datagram queued.
const GOAL_IDLE: f64 = 1024.0;
const GOAL_QUEUED: f64 = 2048.0;

/// Bytes per object a goal is judged on: the larger of the free pages
/// used (with the per-CPU lists: [`memory::FREE_PCP`]) and Slab, since
/// neither undercounts what the other sees (a kmalloc above 8 KiB comes
/// from the page allocator and is not in Slab; free pages also move with
/// unrelated allocations).
fn judged_bytes(r: &MemResult) -> f64 {
    r.per_obj(memory::FREE_PCP).max(r.per_obj("Slab"))
}

/// "met (x to spare)" or "missed by x".
fn goal_verdict(v: f64, goal: f64) -> String {
    if v <= goal {
        format!(
            "met ({} <= {}, {} to spare)",
            bytes(v),
            bytes(goal),
            bytes(goal - v)
        )
    } else {
        format!(
            "missed by {} ({} > {})",
            bytes(v - goal),
            bytes(v),
            bytes(goal)
        )
    }
}

fn render_memory(args: &Args, rep: &Report, o: &mut String) {
    let n = rep.memory[0].1.idle.n;
    let _ = writeln!(
        o,
        "\n3. Memory per endpoint: /proc/meminfo before opening {n} of them, after opening them, and after queueing one\n   \
         {}-byte datagram on each ({} s settle before each reading), divided by {n}; UDP sockets bound to 127.0.0.1 the\n   \
         same way. MemFree+pcp = free pages, those on the per-CPU free lists included (/proc/zoneinfo), which\n   \
         MemFree and MemAvailable leave out. Goal (issue 10): a simnic endpoint at most {} idle and at most {}\n   \
         with one datagram queued, judged on the larger of MemFree+pcp and Slab per endpoint.\n",
        args.size,
        args.settle,
        bytes(GOAL_IDLE),
        bytes(GOAL_QUEUED)
    );
    let udp = rep
        .memory
        .iter()
        .find(|(n, _)| n.starts_with("UDP"))
        .map(|(_, r)| r);
    let mut t = Table::new(&[
        "object",
        "state",
        "N",
        memory::FREE_PCP,
        "Slab",
        "SUnreclaim",
        "Vmalloc",
        "MemFree+pcp vs UDP",
        "Slab vs UDP",
        "goal",
    ]);
    let queued_label = format!("1 datagram ({} B)", args.size);
    for (name, pair) in &rep.memory {
        let simnic = !name.starts_with("UDP");
        let states = [
            ("idle", Some(&pair.idle), udp.map(|u| &u.idle), GOAL_IDLE),
            (
                queued_label.as_str(),
                Some(&pair.queued),
                udp.map(|u| &u.queued),
                GOAL_QUEUED,
            ),
        ];
        for (state, r, u, goal) in states {
            let Some(r) = r else { continue };
            let vs = |f: &str| {
                u.map(|u| ratio(r.per_obj(f), u.per_obj(f)))
                    .unwrap_or_else(|| "-".into())
            };
            t.row(vec![
                name.to_string(),
                state.to_string(),
                r.n.to_string(),
                bytes(r.per_obj(memory::FREE_PCP)),
                bytes(r.per_obj("Slab")),
                bytes(r.per_obj("SUnreclaim")),
                bytes(r.per_obj("VmallocUsed")),
                vs(memory::FREE_PCP),
                vs("Slab"),
                if simnic {
                    goal_verdict(judged_bytes(r), goal)
                } else {
                    "-".into()
                },
            ]);
        }
    }
    *o += &t.render();
    // The datagram's own share: the second reading minus the first.
    let share = |p: &MemPair, f: &str| p.queued.per_obj(f) - p.idle.per_obj(f);
    let mut t = Table::new(&[
        "one queued datagram alone",
        memory::FREE_PCP,
        "Slab",
        "MemFree+pcp vs UDP",
        "Slab vs UDP",
    ]);
    for (name, p) in &rep.memory {
        let (a, sl) = (share(p, memory::FREE_PCP), share(p, "Slab"));
        let vs = |f: &str, v: f64| {
            udp.map(|u| ratio(v, share(u, f)))
                .unwrap_or_else(|| "-".into())
        };
        t.row(vec![
            name.to_string(),
            bytes(a),
            bytes(sl),
            vs(memory::FREE_PCP, a),
            vs("Slab", sl),
        ]);
    }
    *o += &t.render();
    if rep.memory.iter().all(|(_, p)| p.idle.slab_growth.is_none()) {
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
    for row in &rep.throughput {
        let (name, r) = (&row.name, &row.r);
        let _ = writeln!(
            o,
            "throughput {name}: windows={:.3} s offered={} received={} dropped={} ENOBUFS={} writer_cpu_ns={} reader_cpu_ns={}",
            r.secs, r.offered, r.received, r.dropped, r.busy, r.writer_cpu_ns, r.reader_cpu_ns
        );
        let rates: Vec<String> = r.block_rates.iter().map(|v| format!("{v:.0}")).collect();
        let _ = writeln!(
            o,
            "throughput {name}: received/s of each block: {}",
            rates.join(" ")
        );
        if let Some(e) = &r.epoll {
            let _ = writeln!(
                o,
                "throughput {name}: epoll reader over the windows: epoll_wait calls={} events={} reads finding nothing={}",
                e.waits, e.events, e.empty_reads
            );
        }
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
    for c in &rep.delivery_costs {
        let ns: Vec<u64> = c.per_dgram.iter().map(|v| v.round() as u64).collect();
        let _ = writeln!(
            o,
            "delivery cost {} with {} receivers (wall time per datagram, one value per batch of {}): p10={} {}",
            c.transport,
            c.receivers,
            throughput::SEND_BATCH,
            stats::Summary::of(&ns).p10,
            stats::Summary::of(&ns).raw()
        );
    }
    for c in &rep.send_costs {
        let ns: Vec<u64> = c.per_call.iter().map(|v| v.round() as u64).collect();
        let _ = writeln!(
            o,
            "send cost {} {:?} (per call, one value per batch of {}): {}",
            c.transport,
            c.fanout,
            throughput::SEND_BATCH,
            stats::Summary::of(&ns).raw()
        );
    }
    if let Some(noise) = &rep.mem_noise {
        let s: Vec<String> = noise.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            o,
            "memory noise floor (two readings, nothing opened; bytes used): {}",
            s.join(" ")
        );
    }
    for (name, pair) in &rep.memory {
        for (state, r) in [("idle", &pair.idle), ("one datagram queued", &pair.queued)] {
            let s: Vec<String> = r.used.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(
                o,
                "memory {name} x{} ({state}): bytes used in total: {}",
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
                    "memory {name} x{} ({state}): slab caches that grew: {}",
                    r.n,
                    top.join(" ")
                );
            }
        }
        if !pair.fill_note.is_empty() {
            let _ = writeln!(
                o,
                "memory {name} x{}: datagrams: {}",
                pair.idle.n, pair.fill_note
            );
        }
    }
    if let Some(c) = &rep.c10k {
        c.render_raw(o);
    }
    for r in &rep.asyncio {
        let tag = format!("async {} {}", r.transport(), r.method.label());
        if !r.latency.oneway.is_empty() {
            let _ = writeln!(o, "{tag}: one-way {}", r.latency.oneway().raw());
        }
        let tp = &r.throughput;
        let _ = writeln!(
            o,
            "{tag}: throughput windows={:.3} s offered={} received={} dropped={} ENOBUFS={} reader_cpu={:.3} s \
             writer_cpu={:.3} s wakeups={}",
            tp.secs,
            tp.offered,
            tp.received,
            tp.dropped,
            tp.busy,
            tp.reader_cpu_ns as f64 / 1e9,
            tp.writer_cpu_ns as f64 / 1e9,
            tp.wakeups.map_or("-".into(), |w| w.to_string())
        );
        if let Some(n) = &tp.nic {
            let drops: Vec<String> = throughput::nic_drops(n)
                .iter()
                .filter(|(_, v)| *v > 0)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(
                o,
                "{tag}: NIC drops {}",
                if drops.is_empty() {
                    "none".into()
                } else {
                    drops.join(" ")
                }
            );
        }
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

fn render_breakdown(b: &breakdown::BreakdownResult, o: &mut String) {
    let udp = b.udp.oneway();
    let _ = writeln!(
        o,
        "\nWhere the time goes ({}): one-way latency per hardware execution model, then each step's median\n\
         from the module's trace events and sched_wakeup/sched_switch (tracing on: the traced column is slower).\n",
        b.pin
    );
    let mut t = Table::new(&[
        "one-way latency",
        "p50",
        "p99",
        "p50 vs UDP",
        "p99 vs UDP",
        "traced p50",
    ]);
    t.row(vec![
        "UDP 127.0.0.1".into(),
        us(udp.p50),
        us(udp.p99),
        "1.00x".into(),
        "1.00x".into(),
        "-".into(),
    ]);
    for m in &b.models {
        let s = m.untraced.oneway();
        t.row(vec![
            format!(
                "simnic, hw_inline={}",
                if m.model == "inline" { 1 } else { 0 }
            ),
            us(s.p50),
            us(s.p99),
            ratio(s.p50 as f64, udp.p50 as f64),
            ratio(s.p99 as f64, udp.p99 as f64),
            us(m.traced.oneway().p50),
        ]);
    }
    *o += &t.render();
    let mut head = vec!["step (traced, median)".to_string()];
    head.extend(b.models.iter().map(|m| format!("{} model", m.model)));
    let head: Vec<&str> = head.iter().map(|s| s.as_str()).collect();
    let mut t = Table::new(&head);
    for (i, (_, _, name)) in breakdown::STEPS.iter().enumerate() {
        let mut row = vec![name.to_string()];
        row.extend(b.models.iter().map(|m| us(m.step(i).p50)));
        t.row(row);
    }
    let mut row = vec!["first event to last (median of the sums)".to_string()];
    row.extend(
        b.models
            .iter()
            .map(|m| us(stats::Summary::of(&m.total).p50)),
    );
    t.row(row);
    let mut row = vec!["datagrams timed (incomplete chains)".to_string()];
    row.extend(
        b.models
            .iter()
            .map(|m| format!("{} ({})", m.total.len(), m.incomplete)),
    );
    t.row(row);
    *o += "\n";
    *o += &t.render();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_goal_verdicts() {
        assert_eq!(
            goal_verdict(635.0, GOAL_IDLE),
            "met (635 B <= 1,024 B, 389 B to spare)"
        );
        assert_eq!(
            goal_verdict(8458.0, GOAL_IDLE),
            "missed by 7,434 B (8,458 B > 1,024 B)"
        );
        assert!(goal_verdict(2048.0, GOAL_QUEUED).starts_with("met"));
        // Judged on the larger of MemFree+pcp and Slab.
        let r = MemResult {
            n: 2,
            used: [(memory::FREE_PCP, 1000), ("Slab", 3000)]
                .into_iter()
                .collect(),
            slab_growth: None,
        };
        assert_eq!(judged_bytes(&r), 1500.0);
    }

    #[test]
    fn loss_needs_every_block_lower() {
        assert_eq!(
            block_ratios(&[1.1, 0.8, 0.9, 1.0]),
            "per block 0.80x..1.10x, median 0.95x"
        );
        assert!(loss_verdict(&[0.9, 0.95, 0.99]).contains("lost"));
        assert!(loss_verdict(&[0.9, 1.01, 0.7]).contains("no loss"));
        assert!(loss_verdict(&[0.5]).contains("too few"));
    }

    #[test]
    fn drops_named_by_cause() {
        let mut r = ThroughputResult::default();
        assert_eq!(drop_causes(&r), "-");
        r.nic = Some(simnic::NicStats {
            rx_missed: 1234,
            rx_mem_drops: 5,
            ..Default::default()
        });
        assert_eq!(drop_causes(&r), "rx_missed 1,234, rx_mem_drops 5");
        let u = ThroughputResult {
            udp: Some(
                [("RcvbufErrors".to_string(), 7), ("InErrors".to_string(), 7)]
                    .into_iter()
                    .collect(),
            ),
            ..Default::default()
        };
        assert_eq!(drop_causes(&u), "RcvbufErrors 7");
    }
}
