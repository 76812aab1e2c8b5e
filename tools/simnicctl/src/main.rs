//! simnicctl: control and observe the simulated NIC behind /dev/simnic.
//!
//! Every subcommand but `endpoints` and `wq` opens the device (which
//! creates a short-lived endpoint of its own, bound to an ephemeral port)
//! and makes the ioctls of `simnic::uapi` on it: the NIC's counters and
//! rings are global, so any open file reaches them. `endpoints` and `wq`
//! read the driver's debugfs files instead.
//!
//! Exit status: 0 on success, 1 when a system call failed (the message names
//! the call and the errno), 2 for bad usage (clap's).

mod report;
mod wq;

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use simnic::{describe, Endpoint, GenFlow, DEVICE_PATH, GEN_STOP_ALL};

/// Control and observe the simulated NIC behind /dev/simnic.
#[derive(Debug, Parser)]
#[command(name = "simnicctl", version, propagate_version = true)]
struct Cli {
    /// Device node to open for the ioctls.
    #[arg(long, global = true, value_name = "PATH", default_value = DEVICE_PATH,
          help_heading = "Global options")]
    device: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the NIC's counters (SIMNIC_IOC_NIC_STATS) as a table.
    Stats {
        /// Print a JSON object instead, keys the uapi's field names.
        #[arg(long)]
        json: bool,
    },
    /// Print the descriptor rings' indices, interrupt state, NAPI budget and
    /// wire delay (SIMNIC_IOC_RING_STATE), with a picture of each ring.
    Rings {
        /// Print a JSON object instead, keys the uapi's field names.
        #[arg(long)]
        json: bool,
    },
    /// Print the driver's list of endpoints (debugfs `endpoints`; root only).
    Endpoints {
        /// simnic's debugfs directory.
        #[arg(long, value_name = "DIR", default_value = "/sys/kernel/debug/simnic")]
        debugfs: PathBuf,
    },
    /// Show every wait queue with the entries on it: each waiter's wake
    /// function, exclusive flag and task, and each queue's wake-ups
    /// (debugfs `wq`; root only).
    Wq {
        /// simnic's debugfs directory.
        #[arg(long, value_name = "DIR", default_value = "/sys/kernel/debug/simnic")]
        debugfs: PathBuf,
        /// Only the queue of the endpoint bound to this port.
        #[arg(long, value_name = "P")]
        port: Option<u32>,
        /// Only queues that have entries.
        #[arg(long)]
        busy: bool,
        /// Redraw every interval, like watch(1), until interrupted.
        #[arg(long)]
        watch: bool,
        /// Length of one interval in milliseconds (with --watch).
        #[arg(long, value_name = "N", default_value_t = 1000,
              value_parser = clap::value_parser!(u64).range(1..))]
        interval_ms: u64,
        /// Views to show with --watch; without it, until interrupted.
        #[arg(long, value_name = "K", requires = "watch")]
        count: Option<u64>,
    },
    /// Start or stop the built-in traffic generator.
    #[command(subcommand)]
    Gen(GenCommand),
    /// Set the wire delay between transmission and arrival on the RX ring
    /// (SIMNIC_IOC_SET_TX_DELAY).
    Delay {
        /// The delay: nanoseconds, or a number with a unit (ns, us, ms, s),
        /// at most 1 s.
        #[arg(value_name = "NS", value_parser = report::parse_ns)]
        delay: u64,
    },
    /// Zero the NIC's counters (SIMNIC_IOC_RESET_STATS).
    Reset,
    /// Print, every interval, how much the main counters grew.
    Watch {
        /// Length of one interval in milliseconds.
        #[arg(long, value_name = "N", default_value_t = 1000,
              value_parser = clap::value_parser!(u64).range(1..))]
        interval_ms: u64,
        /// Intervals to print; without it, until interrupted.
        #[arg(long, value_name = "K")]
        count: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
enum GenCommand {
    /// Start (or reconfigure) one generator flow (SIMNIC_IOC_GEN_START).
    Start(GenStart),
    /// Stop one flow, or all of them (SIMNIC_IOC_GEN_STOP).
    Stop(GenStop),
}

/// A generator flow. The driver checks every value and refuses a bad one
/// with EINVAL.
#[derive(Debug, Args)]
struct GenStart {
    /// Flow index, 0 to 7.
    #[arg(long, value_name = "N", default_value_t = 0)]
    flow: u32,
    /// Destination port, 1 to 65535.
    #[arg(long, value_name = "P")]
    port: u32,
    /// Payload bytes per datagram, at most 65535.
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    size: u32,
    /// Datagrams per second, 1 to 10000000.
    #[arg(long, value_name = "PPS", default_value_t = 1000)]
    rate: u32,
    /// Datagrams sent back to back each time the flow is due.
    #[arg(long, value_name = "B", default_value_t = 1)]
    burst: u32,
    /// Datagrams to send before the flow stops; 0 for no limit.
    #[arg(long, value_name = "C", default_value_t = 0)]
    count: u64,
    /// Stop the flow after this many seconds (default: when --count
    /// datagrams were generated, or never with --count 0).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct GenStop {
    /// The flow to stop.
    #[arg(long, value_name = "N")]
    flow: Option<u32>,
    /// Stop every flow.
    #[arg(long)]
    all: bool,
}

/// A failed step: what was attempted, the error, and a hint when the errno
/// has a likely cause.
struct Failure {
    what: String,
    err: io::Error,
    hint: Option<String>,
}

impl Failure {
    fn new(what: impl Into<String>, err: io::Error) -> Self {
        Self {
            what: what.into(),
            err,
            hint: None,
        }
    }

    /// Adds `hint` when the error is `errno`.
    fn hint_if(mut self, errno: i32, hint: impl Into<String>) -> Self {
        if self.hint.is_none() && self.err.raw_os_error() == Some(errno) {
            self.hint = Some(hint.into());
        }
        self
    }
}

/// An ioctl's failure, with the hint every ioctl shares: ENOTTY means the
/// loaded module does not know the request.
fn ioctl_failure(request: &str, err: io::Error) -> Failure {
    Failure::new(request, err).hint_if(
        libc::ENOTTY,
        "the loaded simnic.ko does not know this ioctl: is it older than simnicctl, \
         or is --device not /dev/simnic?",
    )
}

type Result<T> = std::result::Result<T, Failure>;

fn open(cli: &Cli) -> Result<Endpoint> {
    let path = cli.device.display().to_string();
    Endpoint::open_at(&cli.device, false).map_err(|e| {
        Failure::new(format!("open {path}"), e)
            .hint_if(
                libc::ENOENT,
                "no such device node: is simnic.ko loaded (insmod simnic.ko)?",
            )
            .hint_if(
                libc::ENXIO,
                "the node exists but no driver answers: is simnic.ko loaded?",
            )
    })
}

fn main() -> ExitCode {
    // Like any filter-friendly Unix tool, die quietly of SIGPIPE when the
    // reader goes away (`simnicctl watch | head`), instead of Rust's default
    // of ignoring it and panicking on the failed print.
    // SAFETY: restoring a default disposition before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("simnicctl: {}: {}", f.what, describe(&f.err));
            if let Some(hint) = f.hint {
                eprintln!("simnicctl: hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Stats { json } => {
            let s = open(cli)?
                .nic_stats()
                .map_err(|e| ioctl_failure("SIMNIC_IOC_NIC_STATS", e))?;
            print!(
                "{}",
                if *json {
                    report::stats_json(&s)
                } else {
                    report::stats_table(&s)
                }
            );
        }
        Command::Rings { json } => {
            let r = open(cli)?
                .ring_state()
                .map_err(|e| ioctl_failure("SIMNIC_IOC_RING_STATE", e))?;
            print!(
                "{}",
                if *json {
                    report::rings_json(&r)
                } else {
                    report::rings_text(&r)
                }
            );
        }
        Command::Endpoints { debugfs } => {
            print!("{}", read_debugfs(&debugfs.join("endpoints"))?);
        }
        Command::Wq { debugfs, port, busy, watch, interval_ms, count } => {
            wq_view(&debugfs.join("wq"), *port, *busy, watch.then_some((*interval_ms, *count)))?
        }
        Command::Gen(GenCommand::Start(g)) => {
            let flow = GenFlow {
                flow: g.flow,
                dst_port: g.port,
                payload_len: g.size,
                rate_pps: g.rate,
                burst: g.burst,
                reserved: 0,
                count: g.count,
            };
            let ep = open(cli)?;
            let before = ep.nic_stats().map_err(|e| ioctl_failure("SIMNIC_IOC_NIC_STATS", e))?;
            ep.gen_start(&flow).map_err(|e| {
                ioctl_failure("SIMNIC_IOC_GEN_START", e)
                    .hint_if(
                        libc::EINVAL,
                        "the driver takes --flow 0..=7, --port 1..=65535, --size 0..=65535, \
                         --rate 1..=10000000 and --burst of at least 1",
                    )
                    .hint_if(libc::EPERM, "the generator needs CAP_NET_ADMIN (run as root)")
            })?;
            println!("{}", describe_flow(&flow));
            // A flow belongs to the endpoint that started it and stops when
            // that endpoint is closed: this command's, when it exits.
            println!("the flow runs while this command runs (Ctrl-C stops it)");
            hold_flow(&ep, &before, g.count, g.duration)?;
        }
        Command::Gen(GenCommand::Stop(s)) => {
            let flow = s.flow.unwrap_or(GEN_STOP_ALL);
            open(cli)?.gen_stop(flow).map_err(|e| {
                ioctl_failure("SIMNIC_IOC_GEN_STOP", e)
                    .hint_if(libc::EINVAL, "flows are numbered 0 to 7")
            })?;
            match s.flow {
                Some(n) => println!("flow {n} stopped"),
                None => println!("all flows stopped"),
            }
        }
        Command::Delay { delay } => {
            open(cli)?.set_tx_delay_ns(*delay).map_err(|e| {
                ioctl_failure("SIMNIC_IOC_SET_TX_DELAY", e).hint_if(
                    libc::EINVAL,
                    format!(
                        "the wire delay is at most {} ns (1 s)",
                        simnic::TX_DELAY_MAX_NS
                    ),
                )
            })?;
            println!("wire delay set to {}", report::format_ns(*delay));
        }
        Command::Reset => {
            open(cli)?
                .reset_stats()
                .map_err(|e| ioctl_failure("SIMNIC_IOC_RESET_STATS", e))?;
            println!("NIC counters zeroed");
        }
        Command::Watch { interval_ms, count } => watch(cli, *interval_ms, *count)?,
    }
    Ok(())
}

/// Reads a debugfs file, with the usual reasons it cannot be read.
fn read_debugfs(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        Failure::new(format!("read {}", path.display()), e)
            .hint_if(
                libc::ENOENT,
                "is debugfs mounted (mount -t debugfs none /sys/kernel/debug) \
                 and simnic.ko loaded (and new enough to have it)?",
            )
            .hint_if(libc::EACCES, "debugfs is readable by root only")
    })
}

/// `wq`: the view once, or with `watch = Some((interval_ms, count))`
/// redrawn every interval (clearing the screen on a terminal).
fn wq_view(path: &std::path::Path, port: Option<u32>, busy: bool, watch: Option<(u64, Option<u64>)>) -> Result<()> {
    use std::io::IsTerminal;
    let show = || -> Result<String> {
        let text = read_debugfs(path)?;
        wq::render(&text, port, busy)
            .map_err(|e| Failure::new(format!("parse {}", path.display()), io::Error::other(e)))
    };
    let Some((interval_ms, count)) = watch else {
        print!("{}", show()?);
        return Ok(());
    };
    let tty = io::stdout().is_terminal();
    let interval = Duration::from_millis(interval_ms);
    let start = Instant::now();
    let mut next = start;
    let mut shown = 0u64;
    while count.is_none_or(|c| shown < c) {
        let body = show()?;
        if tty {
            // Home and clear, as watch(1) redraws.
            print!("\x1b[H\x1b[2J");
        } else if shown > 0 {
            println!();
        }
        println!(
            "every {:.1} s: simnicctl wq{}    (t = {:.1} s)\n",
            interval_ms as f64 / 1000.0,
            port.map(|p| format!(" --port {p}")).unwrap_or_default(),
            start.elapsed().as_secs_f64()
        );
        print!("{body}");
        shown += 1;
        if count.is_some_and(|c| shown >= c) {
            break;
        }
        next += interval;
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok(())
}

/// Keeps the endpoint that owns a flow open until the flow has generated
/// `count` datagrams (as far as the NIC's `gen_packets` shows; other flows
/// count too) or `duration` seconds passed; forever with neither.
fn hold_flow(ep: &Endpoint, before: &simnic::NicStats, count: u64, duration: Option<f64>) -> Result<()> {
    let start = Instant::now();
    loop {
        if duration.is_some_and(|d| start.elapsed().as_secs_f64() >= d) {
            println!("duration reached: stopping the flow");
            return Ok(());
        }
        let now = ep.nic_stats().map_err(|e| ioctl_failure("SIMNIC_IOC_NIC_STATS", e))?;
        let made = now.gen_packets.wrapping_sub(before.gen_packets);
        if count > 0 && made >= count {
            println!("{made} datagrams generated");
            return Ok(());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// What `gen start` reports after the driver accepted `f`.
fn describe_flow(f: &GenFlow) -> String {
    let until = match f.count {
        0 => "until stopped".to_string(),
        1 => "1 datagram".to_string(),
        n => format!("{n} datagrams"),
    };
    format!(
        "flow {}: {}-byte datagrams to port {} at {} per second in bursts of {}, {until}",
        f.flow, f.payload_len, f.dst_port, f.rate_pps, f.burst
    )
}

/// `watch`: one line every `interval_ms` with the growth of the main
/// counters, `count` lines or forever.
fn watch(cli: &Cli, interval_ms: u64, count: Option<u64>) -> Result<()> {
    let ep = open(cli)?;
    let read = || {
        ep.nic_stats()
            .map_err(|e| ioctl_failure("SIMNIC_IOC_NIC_STATS", e))
    };
    let interval = Duration::from_millis(interval_ms);
    println!("{}", report::watch_header());
    let start = Instant::now();
    let mut prev = read()?;
    let mut next = start;
    let mut printed = 0u64;
    while count.is_none_or(|c| printed < c) {
        // Sleep to fixed deadlines, so printing does not make the lines drift.
        next += interval;
        thread::sleep(next.saturating_duration_since(Instant::now()));
        let cur = read()?;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{}",
            report::watch_row(secs, &report::watch_deltas(&prev, &cur))
        );
        prev = cur;
        printed += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> std::result::Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("simnicctl").chain(args.iter().copied()))
    }

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn gen_start_takes_every_field() {
        let cli = parse(&[
            "gen", "start", "--flow", "3", "--port", "7000", "--size", "128", "--rate", "5000",
            "--burst", "8", "--count", "100",
        ])
        .unwrap();
        let Command::Gen(GenCommand::Start(g)) = cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(
            (g.flow, g.port, g.size, g.rate, g.burst, g.count, g.duration),
            (3, 7000, 128, 5000, 8, 100, None)
        );
    }

    #[test]
    fn gen_start_defaults_and_requires_a_port() {
        let cli = parse(&["gen", "start", "--port", "9"]).unwrap();
        let Command::Gen(GenCommand::Start(g)) = cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(
            (g.flow, g.size, g.rate, g.burst, g.count),
            (0, 64, 1000, 1, 0)
        );
        assert!(parse(&["gen", "start"]).is_err());
    }

    #[test]
    fn gen_stop_takes_a_flow_or_all_not_both() {
        let cli = parse(&["gen", "stop", "--flow", "2"]).unwrap();
        let Command::Gen(GenCommand::Stop(s)) = cli.command else {
            panic!()
        };
        assert_eq!((s.flow, s.all), (Some(2), false));
        let cli = parse(&["gen", "stop", "--all"]).unwrap();
        let Command::Gen(GenCommand::Stop(s)) = cli.command else {
            panic!()
        };
        assert_eq!((s.flow, s.all), (None, true));
        assert!(parse(&["gen", "stop"]).is_err());
        assert!(parse(&["gen", "stop", "--all", "--flow", "1"]).is_err());
    }

    #[test]
    fn delay_takes_units() {
        let cli = parse(&["delay", "10us"]).unwrap();
        assert!(matches!(cli.command, Command::Delay { delay: 10_000 }));
        assert!(parse(&["delay", "ten"]).is_err());
    }

    #[test]
    fn watch_interval_must_be_positive() {
        let cli = parse(&["watch", "--interval-ms", "250", "--count", "4"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Watch {
                interval_ms: 250,
                count: Some(4)
            }
        ));
        assert!(parse(&["watch", "--interval-ms", "0"]).is_err());
    }

    #[test]
    fn wq_options() {
        let cli = parse(&["wq", "--port", "7000", "--busy"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Wq { port: Some(7000), busy: true, watch: false, interval_ms: 1000, count: None, .. }
        ));
        let cli = parse(&["wq", "--watch", "--interval-ms", "200", "--count", "3"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Wq { watch: true, interval_ms: 200, count: Some(3), .. }
        ));
        assert!(parse(&["wq", "--count", "3"]).is_err(), "--count needs --watch");
        assert!(parse(&["wq", "--watch", "--interval-ms", "0"]).is_err());
    }

    #[test]
    fn device_is_global() {
        let cli = parse(&["stats", "--device", "/tmp/x", "--json"]).unwrap();
        assert_eq!(cli.device, PathBuf::from("/tmp/x"));
        assert!(matches!(cli.command, Command::Stats { json: true }));
        assert_eq!(
            parse(&["reset"]).unwrap().device,
            PathBuf::from(DEVICE_PATH)
        );
    }

    #[test]
    fn errno_hints_match_their_errno() {
        let enotty = io::Error::from_raw_os_error(libc::ENOTTY);
        assert!(ioctl_failure("X", enotty).hint.unwrap().contains("older"));
        let einval = io::Error::from_raw_os_error(libc::EINVAL);
        assert!(ioctl_failure("X", einval).hint.is_none());
        let f = Failure::new("x", io::Error::from_raw_os_error(libc::EINVAL))
            .hint_if(libc::ENOENT, "no")
            .hint_if(libc::EINVAL, "yes");
        assert_eq!(f.hint.as_deref(), Some("yes"));
        // The first matching hint wins.
        let f = Failure::new("x", io::Error::from_raw_os_error(libc::ENOENT))
            .hint_if(libc::ENOENT, "a")
            .hint_if(libc::ENOENT, "b");
        assert_eq!(f.hint.as_deref(), Some("a"));
    }

    #[test]
    fn flow_description() {
        let mut f = GenFlow {
            flow: 1,
            dst_port: 7000,
            payload_len: 64,
            rate_pps: 100,
            burst: 2,
            reserved: 0,
            count: 0,
        };
        assert_eq!(
            describe_flow(&f),
            "flow 1: 64-byte datagrams to port 7000 at 100 per second in bursts of 2, until stopped"
        );
        f.count = 1;
        assert!(describe_flow(&f).ends_with(", 1 datagram"));
        f.count = 50;
        assert!(describe_flow(&f).ends_with(", 50 datagrams"));
    }
}
