//! sample-nonblocking: the nonblocking I/O model on /dev/simnic, and what its
//! polling costs.
//!
//! With `O_NONBLOCK`, `read()` on an empty receive queue does not sleep: it
//! fails at once with `EAGAIN`. A process that wants the data must ask
//! again and again ("polling", Stevens, UNIX Network Programming, vol. 1,
//! section 6.2). Phase 1 of the input operation, waiting for the data, is
//! no longer spent asleep in the kernel but spinning in the process, and it
//! burns CPU time for nothing.
//!
//! This program receives the same traffic as the `blocking` sample (a forked
//! sender with its own endpoint, one datagram every interval) with a
//! nonblocking endpoint. It counts the `EAGAIN` returns before each
//! datagram and measures its own CPU time (`getrusage(RUSAGE_THREAD)`, user
//! plus system; the sender is another process and not included) against
//! the wall-clock time. Spinning flat out, CPU time is close to the wall
//! time, nearly all of it wasted. `--sleep-us N` sleeps between attempts:
//! less CPU, but a datagram waits up to N microseconds longer before it is
//! noticed, which the send-to-read times show.
//!
//! Every system call is made directly through the `libc` crate, and the
//! program prints each one it makes (the repeated reads as counts).

#[path = "../../common/traffic.rs"]
mod traffic;
#[path = "../../common/wq_view.rs"]
#[allow(dead_code)] // shared by the samples; each uses part of it
mod wq_view;

use std::process::ExitCode;

use clap::Parser;

use traffic::{errno, errno_text, fmt_ns, now_ns, Traffic};

/// Receive datagrams by polling a nonblocking endpoint, and measure the CPU
/// time the polling costs.
#[derive(Debug, Parser)]
#[command(name = "sample-nonblocking", version)]
struct Cli {
    #[command(flatten)]
    traffic: Traffic,
    /// Microseconds to sleep (nanosleep) after each EAGAIN; 0 spins.
    #[arg(long, value_name = "N", default_value_t = 0)]
    sleep_us: u64,
}

fn main() -> ExitCode {
    traffic::default_sigpipe();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sample-nonblocking: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// This process's CPU time so far, user and system, in nanoseconds.
fn cpu_ns() -> Result<(u64, u64), String> {
    // SAFETY: rusage is plain integers; all zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // The receiving thread's time only: the wait-queue view's thread looks
    // meanwhile, and its reads of debugfs are not the spinning's cost.
    // SAFETY: `ru` is a valid rusage to fill.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) } < 0 {
        return Err(format!("getrusage(RUSAGE_THREAD): {}", errno_text(errno())));
    }
    let ns = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1_000;
    Ok((ns(ru.ru_utime), ns(ru.ru_stime)))
}

/// `part` as a percentage of `whole`.
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    if let Some(warning) = traffic::clock_warning() {
        println!("{warning}");
    }
    let t = &cli.traffic;
    // O_NONBLOCK: read() on an empty queue fails with EAGAIN instead of
    // sleeping.
    let fd = traffic::open_and_bind(
        libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        "O_RDWR|O_NONBLOCK",
        "(calls never sleep)",
        t.port,
    )?;
    let pause = if cli.sleep_us == 0 {
        "and at once again".to_string()
    } else {
        format!("then nanosleep({} us) and again", cli.sleep_us)
    };
    println!(
        "receiver: loop: read({fd}, buf, 65536) = -1 EAGAIN, {pause}, until a datagram is there."
    );
    let sender = traffic::spawn_sender(t, fd).map_err(|e| format!("fork: {e}"))?;
    // Nothing waits in the kernel: the queue stays empty while we spin.
    let view = wq_view::show_no_callback(
        &[t.port],
        "read() spins on EAGAIN",
        "a nonblocking read() never joins the wait queue, it returns at once",
    );

    println!();
    println!(
        "{:>4} {:>6}  {:>14}  {:>14}",
        "seq", "bytes", "EAGAIN returns", "send -> read"
    );
    let (user0, sys0) = cpu_ns()?;
    let start = now_ns();
    let mut buf = vec![0u8; simnic::MAX_DATAGRAM + 1];
    let mut latencies = Vec::new();
    let mut eagain_total = 0u64;
    for expected in 0..t.count {
        let (n, eagains) = match spin_for_one(fd, &mut buf, cli.sleep_us, t.patience_ns()) {
            Ok(r) => r,
            Err(msg) => {
                traffic::kill_sender(sender);
                return Err(msg);
            }
        };
        let got = now_ns();
        eagain_total += eagains;
        let (latency, note) = match traffic::decode(&buf[..n]) {
            Some((seq, sent)) if seq == expected => (got.saturating_sub(sent), String::new()),
            Some((seq, sent)) => (
                got.saturating_sub(sent),
                format!("  (seq {seq}: datagrams before it were lost)"),
            ),
            None => (0, "  (not from our sender)".to_string()),
        };
        println!(
            "{expected:>4} {n:>6}  {eagains:>14}  {:>14}{note}",
            fmt_ns(latency)
        );
        latencies.push(latency);
    }
    let wall = now_ns() - start;
    let (user1, sys1) = cpu_ns()?;
    let _ = view.join();
    traffic::wait_sender(sender)?;
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };

    let (user, sys) = (user1 - user0, sys1 - sys0);
    let cpu = user + sys;
    let n = u64::from(t.count);
    println!();
    println!("wall-clock time        {}", fmt_ns(wall));
    println!(
        "CPU time (this thread)  {}  = user {} + system {}, {:.0}% of the wall-clock time",
        fmt_ns(cpu),
        fmt_ns(user),
        fmt_ns(sys),
        percent(cpu, wall)
    );
    println!(
        "read() calls           {} ({eagain_total} returned EAGAIN)",
        eagain_total + n
    );
    println!(
        "per datagram           {} EAGAIN returns, {} of CPU",
        eagain_total / n,
        fmt_ns(cpu / n)
    );
    println!("{}", traffic::summary_line("send -> read", &latencies));
    println!();
    let pct = percent(cpu, wall);
    if cli.sleep_us == 0 {
        println!(
            "Spinning, this thread was on the CPU {pct:.0}% of the time, nearly all of it in \
             reads that returned EAGAIN; the blocking sample sleeps through the wait instead. \
             Try --sleep-us 100 or 1000: less CPU, later reads."
        );
    } else {
        println!(
            "Sleeping {} us between attempts, this thread was on the CPU {pct:.0}% of the time; \
             the price is that a datagram can wait that long (plus the timer's slack) before it \
             is read.",
            cli.sleep_us
        );
    }
    Ok(())
}

/// Calls read() until it returns a datagram, sleeping `sleep_us` after each
/// EAGAIN. Returns the datagram's length and the number of EAGAINs; fails
/// after `patience_ns` without one.
fn spin_for_one(
    fd: i32,
    buf: &mut [u8],
    sleep_us: u64,
    patience_ns: u64,
) -> Result<(usize, u64), String> {
    let deadline = now_ns() + patience_ns;
    let mut eagains = 0u64;
    loop {
        // SAFETY: the pointer and length describe the live, writable `buf`.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok((n as usize, eagains));
        }
        let e = errno();
        if e != libc::EAGAIN {
            return Err(format!("read({fd}): {}", errno_text(e)));
        }
        eagains += 1;
        if sleep_us > 0 {
            traffic::sleep_ns(sleep_us * 1_000);
        }
        // Reading the clock is cheap (vDSO), but not free: look at it only
        // now and then while spinning.
        if (sleep_us > 0 || eagains.is_multiple_of(1024)) && now_ns() > deadline {
            return Err(format!(
                "read: no datagram within {} after {eagains} EAGAIN returns: was it dropped? \
                 (`simnicctl stats` counts rx_no_port, rx_queue_full, rx_missed)",
                fmt_ns(patience_ns)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_and_defaults() {
        let cli = Cli::try_parse_from(["sample-nonblocking"]).unwrap();
        assert_eq!(cli.sleep_us, 0);
        assert_eq!(cli.traffic.port, 7000);
        let cli =
            Cli::try_parse_from(["sample-nonblocking", "--sleep-us", "250", "-n", "4"]).unwrap();
        assert_eq!((cli.sleep_us, cli.traffic.count), (250, 4));
        assert!(Cli::try_parse_from(["sample-nonblocking", "--sleep-us", "-1"]).is_err());
    }

    #[test]
    fn percentages() {
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(percent(50, 200), 25.0);
        assert_eq!(percent(3, 3), 100.0);
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let (u0, s0) = cpu_ns().unwrap();
        // Burn some user time.
        let mut x = 0u64;
        let end = now_ns() + 20_000_000;
        while now_ns() < end {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let (u1, s1) = cpu_ns().unwrap();
        assert!(
            u1 + s1 > u0 + s0,
            "no CPU time counted for 20 ms of spinning"
        );
    }
}
