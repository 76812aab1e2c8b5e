//! sample-c10k: ten thousand endpoints, one epoll set, on /dev/simnic.
//!
//! The "C10K problem" (Dan Kegel, 1999) was serving ten thousand clients
//! at once from one server. With one descriptor per client, the waiting of
//! I/O multiplexing (Stevens, UNIX Network Programming, vol. 1, section 6.2:
//! phase 1, **waiting for the data**, in one call for all descriptors;
//! phase 2, **copying the data**, a `read()` on each ready one) must not
//! cost in proportion to the number of descriptors when only a few are
//! active. `select()` and `poll()` do (see `sample-select`, `sample-poll`):
//! each call hands the kernel the whole list, which polls every entry, and
//! the program scans every entry of the answer. epoll keeps the list in the
//! kernel and a ready list beside it that the driver's wake-ups fill:
//! `epoll_wait()` costs in proportion to what is ready.
//!
//! What this program does and prints, in order:
//!
//! 1. `getrlimit(RLIMIT_NOFILE)`: a process may have 1024 descriptors open
//!    by default; `setrlimit()` raises it to what `--endpoints` needs (up to
//!    the hard limit; above it, root only);
//! 2. opens `--endpoints N` endpoints (default 10000) and times it: each
//!    `open()` is an endpoint bound at once to a free ephemeral port (the
//!    driver's port bitmap finds one without searching the port table);
//!    then asks each for its port, and adds each to one epoll set; with the
//!    kernel memory (`MemAvailable`) they took;
//! 3. a forked sender sends `--count` rounds of datagrams, each round to
//!    `--active` endpoints picked at random: each `epoll_wait()` returns
//!    just those, out of N, with the two phases timed;
//! 4. unless `--no-poll`: with a few endpoints readable, times `poll()` over
//!    10, 100, 1000 ... N descriptors against `epoll_wait()` on epoll sets
//!    of the same sizes. Look for the `poll()` column growing with N and the
//!    `epoll_wait()` column staying flat.
//!
//! Every system call is made directly through the `libc` crate, and the
//! program prints each one it makes (the ten thousand alike as one line).

// Each sample uses part of the code the samples share.
#[allow(dead_code)]
#[path = "../../common/multiplex.rs"]
mod multiplex;
#[allow(dead_code)]
#[path = "../../common/traffic.rs"]
mod traffic;

use std::os::fd::RawFd;
use std::process::ExitCode;

use clap::Parser;

use multiplex::{fmt_fds, Tally, Waited};
use simnic::uapi::{EpStats, SIMNIC_IOC_EP_STATS, SIMNIC_IOC_GET_PORT};
use traffic::{errno, errno_text, fmt_ns, now_ns, Traffic};

/// Watch thousands of endpoints with one epoll set, and compare poll().
#[derive(Debug, Parser)]
#[command(name = "sample-c10k", version)]
struct Cli {
    /// Endpoints to open, each bound to an ephemeral port (there are 16384,
    /// one of them for the sender's endpoint).
    #[arg(short, long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=16383))]
    endpoints: u32,
    /// Endpoints the sender sends to in each round, picked at random.
    #[arg(short, long, value_name = "K", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    active: u32,
    /// Rounds the sender sends.
    #[arg(short = 'n', long, default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    count: u32,
    /// Milliseconds the sender waits before each round.
    #[arg(short, long, default_value_t = 100)]
    interval_ms: u64,
    /// Payload bytes per datagram (at least 12: sequence number and send
    /// time).
    #[arg(short, long, default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(traffic::PAYLOAD_HEADER as i64..=simnic::MAX_DATAGRAM as i64))]
    size: u32,
    /// Seed for the random choice of endpoints.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Skip the comparison of poll() and epoll_wait() costs.
    #[arg(long)]
    no_poll: bool,
}

/// epoll_wait()'s events array: room for every endpoint of a round.
const MAX_EVENTS: usize = 64;

/// Calls timed per size in the comparison; the median is shown.
const REPEATS: usize = 15;

fn main() -> ExitCode {
    traffic::default_sigpipe();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sample-c10k: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// The open endpoints: `fds[i]` is bound to `ports[i]`.
#[derive(Default)]
struct Many {
    fds: Vec<RawFd>,
    ports: Vec<u32>,
}

impl Many {
    fn close_all(&mut self) {
        for fd in self.fds.drain(..) {
            // SAFETY: our own descriptor, closed once.
            unsafe { libc::close(fd) };
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    if let Some(warning) = traffic::clock_warning() {
        println!("{warning}");
    }
    let n = cli.endpoints as usize;
    if cli.active > cli.endpoints {
        return Err(format!(
            "--active {} is more than the {n} endpoints",
            cli.active
        ));
    }
    // Room for the endpoints, stdin/out/err, the epoll sets of the
    // comparison and the sender's endpoint.
    raise_nofile(n as u64 + 16)?;
    // SAFETY: no pointers involved.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
        return Err(format!("epoll_create1: {}", errno_text(errno())));
    }
    println!("epoll_create1(EPOLL_CLOEXEC) = {epfd}");
    let mut many = Many::default();
    let result = open_many(n, &mut many)
        .and_then(|()| add_all(epfd, &many))
        .and_then(|()| traffic_phase(cli, epfd, &many))
        .and_then(|()| {
            if cli.no_poll {
                Ok(())
            } else {
                compare(cli, epfd, &many)
            }
        });
    let t0 = now_ns();
    let closed = many.fds.len();
    many.close_all();
    // SAFETY: our own descriptor.
    unsafe { libc::close(epfd) };
    let t1 = now_ns();
    if closed > 0 {
        println!();
        println!(
            "close() x {closed}, then close({epfd}): {} ({} per endpoint; closing an endpoint \
             also takes it out of the epoll set)",
            fmt_ns(t1 - t0),
            fmt_ns((t1 - t0) / closed as u64)
        );
    }
    result
}

/// getrlimit(RLIMIT_NOFILE), and setrlimit() if it is below `need`.
fn raise_nofile(need: u64) -> Result<(), String> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rl` is a live rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } < 0 {
        return Err(format!("getrlimit(RLIMIT_NOFILE): {}", errno_text(errno())));
    }
    println!(
        "getrlimit(RLIMIT_NOFILE) = {{cur {}, max {}}}   (descriptors this process may have open)",
        rl.rlim_cur, rl.rlim_max
    );
    if rl.rlim_cur >= need {
        return Ok(());
    }
    let new = libc::rlimit {
        rlim_cur: need,
        rlim_max: rl.rlim_max.max(need),
    };
    // SAFETY: `new` is a live rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } < 0 {
        let e = errno();
        let hint = if e == libc::EPERM {
            format!(
                ": raising the hard limit {} needs CAP_SYS_RESOURCE (root); ask for fewer \
                 --endpoints",
                rl.rlim_max
            )
        } else {
            String::new()
        };
        return Err(format!(
            "setrlimit(RLIMIT_NOFILE, {{cur {}, max {}}}): {}{hint}",
            new.rlim_cur,
            new.rlim_max,
            errno_text(e)
        ));
    }
    println!(
        "setrlimit(RLIMIT_NOFILE, {{cur {}, max {}}}) = 0",
        new.rlim_cur, new.rlim_max
    );
    Ok(())
}

/// MemAvailable of /proc/meminfo, in KiB.
fn mem_available_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Opens `n` endpoints and learns their ports, timing both.
fn open_many(n: usize, many: &mut Many) -> Result<(), String> {
    let mem0 = mem_available_kib();
    let t0 = now_ns();
    for i in 0..n {
        // SAFETY: DEVICE is a NUL-terminated path.
        let fd = unsafe {
            libc::open(
                traffic::DEVICE.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(format!(
                "open(\"/dev/simnic\") number {}: {}",
                i + 1,
                errno_text(errno())
            ));
        }
        many.fds.push(fd);
    }
    let t1 = now_ns();
    let mem1 = mem_available_kib();
    println!(
        "open(\"/dev/simnic\", O_RDWR|O_NONBLOCK) x {n} = fds {}: {} ({} per open)",
        fmt_fds(&many.fds),
        fmt_ns(t1 - t0),
        fmt_ns((t1 - t0) / n as u64)
    );
    if let (Some(before), Some(after)) = (mem0, mem1) {
        let used = before.saturating_sub(after);
        println!(
            "  MemAvailable went down by {used} KiB, about {:.1} KiB per endpoint",
            used as f64 / n as f64
        );
    }
    let t2 = now_ns();
    for &fd in &many.fds {
        let mut port = 0u32;
        // SAFETY: `port` is a live u32 the request fills.
        if unsafe {
            libc::ioctl(
                fd,
                SIMNIC_IOC_GET_PORT as libc::Ioctl,
                &mut port as *mut u32,
            )
        } < 0
        {
            return Err(format!(
                "ioctl({fd}, SIMNIC_IOC_GET_PORT): {}",
                errno_text(errno())
            ));
        }
        many.ports.push(port);
    }
    let t3 = now_ns();
    let (lo, hi) = (
        many.ports.iter().min().copied().unwrap_or(0),
        many.ports.iter().max().copied().unwrap_or(0),
    );
    println!(
        "ioctl(fd, SIMNIC_IOC_GET_PORT, &port) x {n}: ephemeral ports {lo} to {hi}: {}",
        fmt_ns(t3 - t2)
    );
    Ok(())
}

/// epoll_ctl(ADD) of every endpoint, data.u64 = its index; timed.
fn add_all(epfd: RawFd, many: &Many) -> Result<(), String> {
    let t0 = now_ns();
    add_first(epfd, many, many.fds.len())?;
    let t1 = now_ns();
    let n = many.fds.len();
    println!(
        "epoll_ctl({epfd}, EPOLL_CTL_ADD, fd, {{EPOLLIN, data.u64 = index}}) x {n}: {} ({} each; \
         each ADD calls the driver's ->poll once, to hook the epoll callback on the endpoint's \
         wait queue)",
        fmt_ns(t1 - t0),
        fmt_ns((t1 - t0) / n as u64)
    );
    Ok(())
}

/// Adds the first `count` endpoints to `epfd` (level-triggered EPOLLIN).
fn add_first(epfd: RawFd, many: &Many, count: usize) -> Result<(), String> {
    for (i, &fd) in many.fds[..count].iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: `ev` is a live epoll_event.
        if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(format!(
                "epoll_ctl({epfd}, EPOLL_CTL_ADD, {fd}): {}",
                errno_text(errno())
            ));
        }
    }
    Ok(())
}

/// Step 3: the sender's rounds, received with epoll_wait().
fn traffic_phase(cli: &Cli, epfd: RawFd, many: &Many) -> Result<(), String> {
    let n = many.fds.len();
    let rounds = multiplex::random_rounds(&many.ports, cli.count, cli.active as usize, cli.seed);
    let mut tally = Tally::new(&rounds);
    // The shared sender's options; its port is unused (the rounds say where).
    let t = Traffic {
        port: many.ports[0],
        count: cli.count,
        interval_ms: cli.interval_ms,
        size: cli.size,
    };
    let patience_ns = t.patience_ns();
    let timeout_ms = (patience_ns / 1_000_000) as i32;
    println!();
    println!(
        "receiver: phase 1: epoll_wait({epfd}, events, {MAX_EVENTS}, {timeout_ms}) over all {n}; \
         phase 2: read(fd, buf, 65536) on each fd it returns."
    );
    let mut inherited = many.fds.clone();
    inherited.push(epfd);
    let sender =
        traffic::spawn_sender_rounds(&t, &rounds, &inherited).map_err(|e| format!("fork: {e}"))?;
    println!();
    let mut calls = 0u64;
    let result = (|| {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
        let mut buf = vec![0u8; simnic::MAX_DATAGRAM + 1];
        while !tally.complete() {
            let Waited {
                ready,
                wait_ns,
                woke_ns,
            } = multiplex::epoll_wait_timed(epfd, &mut events, timeout_ms)?;
            if ready.is_empty() {
                return Err(tally.timeout_error("epoll_wait", patience_ns));
            }
            calls += 1;
            let fds: Vec<RawFd> = ready.iter().map(|&(i, _)| many.fds[i]).collect();
            println!(
                "epoll_wait({epfd}, events, {MAX_EVENTS}, {timeout_ms}) = {}: fds {} of the {n} \
                 watched   phase 1: {}",
                ready.len(),
                fmt_fds(&fds),
                fmt_ns(wait_ns)
            );
            for (i, _) in ready {
                let (fd, port) = (many.fds[i], many.ports[i]);
                match multiplex::read_timed(fd, &mut buf)? {
                    Some((len, copy_ns)) => {
                        let note = tally.record(&buf[..len], port, wait_ns, copy_ns, woke_ns);
                        println!(
                            "    read({fd}, buf, {}) = {len}   phase 2: {:>9}   port {port}: {note}",
                            buf.len(),
                            fmt_ns(copy_ns)
                        );
                    }
                    None => println!("    read({fd}) = -1 EAGAIN (reported, but nothing queued)"),
                }
            }
        }
        Ok(())
    })();
    if let Err(msg) = result {
        traffic::kill_sender(sender);
        return Err(msg);
    }
    traffic::wait_sender(sender)?;
    println!();
    tally.print_summary("epoll_wait");
    println!(
        "epoll_wait() calls           {calls} for {} datagrams on {} of the {n} endpoints",
        tally.received(),
        {
            let mut p: Vec<u32> = rounds.iter().flatten().copied().collect();
            p.sort_unstable();
            p.dedup();
            p.len()
        }
    );
    Ok(())
}

/// Median of `values` (the lower middle one).
fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values[(values.len() - 1) / 2]
}

/// Step 4: poll() over the first n descriptors against epoll_wait() on a
/// set of the same n, with `active` of them readable.
fn compare(cli: &Cli, main_epfd: RawFd, many: &Many) -> Result<(), String> {
    let n = many.fds.len();
    let ready_count = (cli.active as usize).min(n).min(10);
    let mut sizes: Vec<usize> = [10, 100, 1000, n].into_iter().filter(|&s| s <= n).collect();
    sizes.dedup();
    println!();
    println!(
        "== poll() against epoll_wait(), {ready_count} endpoints readable, timeout 0, median of \
         {REPEATS} calls =="
    );
    // Readable: each of the first few sends a datagram to itself.
    let ready_fds = &many.fds[..ready_count];
    for &fd in ready_fds {
        let b = *b"c10k";
        // SAFETY: the pointer and length describe the live array.
        if unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) } < 0 {
            return Err(format!("write({fd}): {}", errno_text(errno())));
        }
    }
    println!(
        "write(fd, \"c10k\", 4) on fds {} (to their own ports), then wait until each has queued = 1",
        fmt_fds(ready_fds)
    );
    let deadline = now_ns() + 5_000_000_000;
    for &fd in ready_fds {
        loop {
            let mut st = EpStats::default();
            // SAFETY: `st` is a live EpStats the request fills.
            if unsafe {
                libc::ioctl(
                    fd,
                    SIMNIC_IOC_EP_STATS as libc::Ioctl,
                    &mut st as *mut EpStats,
                )
            } < 0
            {
                return Err(format!(
                    "ioctl({fd}, SIMNIC_IOC_EP_STATS): {}",
                    errno_text(errno())
                ));
            }
            if st.queued > 0 {
                break;
            }
            if now_ns() > deadline {
                return Err(format!("fd {fd}: its own datagram did not arrive"));
            }
            traffic::sleep_ns(1_000_000);
        }
    }
    println!();
    println!(
        "{:>8}  {:>14}  {:>14}  {:>10}  {:>16}  {:>10}  {:>12}",
        "watched",
        "poll() call",
        "scan revents",
        "ready",
        "epoll_wait() call",
        "ready",
        "poll/epoll"
    );
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
    for &size in &sizes {
        let mut pfds: Vec<libc::pollfd> = many.fds[..size]
            .iter()
            .map(|&fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let (mut poll_ns, mut scan_ns) = (Vec::new(), Vec::new());
        let mut poll_ready = 0;
        for _ in 0..REPEATS {
            let t0 = now_ns();
            // SAFETY: `pfds` is a live array of that many pollfds.
            let r = unsafe { libc::poll(pfds.as_mut_ptr(), size as libc::nfds_t, 0) };
            let t1 = now_ns();
            if r < 0 {
                return Err(format!("poll(fds, {size}, 0): {}", errno_text(errno())));
            }
            poll_ready = pfds
                .iter()
                .filter(|p| p.revents & libc::POLLIN != 0)
                .count();
            let t2 = now_ns();
            poll_ns.push(t1 - t0);
            scan_ns.push(t2 - t1);
        }
        // The main set holds all n; smaller sets are built for the
        // comparison.
        let epfd = if size == n {
            main_epfd
        } else {
            // SAFETY: no pointers involved.
            let e = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
            if e < 0 {
                return Err(format!("epoll_create1: {}", errno_text(errno())));
            }
            add_first(e, many, size)?;
            e
        };
        let mut epoll_ns = Vec::new();
        let mut epoll_ready = 0;
        let mut failed = None;
        for _ in 0..REPEATS {
            match multiplex::epoll_wait_timed(epfd, &mut events, 0) {
                Ok(w) => {
                    epoll_ready = w.ready.len();
                    epoll_ns.push(w.wait_ns);
                }
                Err(msg) => {
                    failed = Some(msg);
                    break;
                }
            }
        }
        if epfd != main_epfd {
            // SAFETY: the set made above.
            unsafe { libc::close(epfd) };
        }
        if let Some(msg) = failed {
            return Err(msg);
        }
        let (p, s, e) = (
            median(&mut poll_ns),
            median(&mut scan_ns),
            median(&mut epoll_ns),
        );
        println!(
            "{size:>8}  {:>14}  {:>14}  {poll_ready:>10}  {:>16}  {epoll_ready:>10}  {:>11.1}x",
            fmt_ns(p),
            fmt_ns(s),
            fmt_ns(e),
            p as f64 / e.max(1) as f64
        );
    }
    // Read the datagrams back, so the endpoints close empty.
    let mut buf = [0u8; 16];
    for &fd in ready_fds {
        while multiplex::read_timed(fd, &mut buf)?.is_some() {}
    }
    println!();
    println!(
        "poll() hands the kernel all the watched descriptors on every call, and do_poll() asks \
         each one's ->poll whether it is ready; epoll_wait() looks only at its ready list, which \
         the endpoints' wake-ups filled. With level-triggered epoll a still-readable endpoint \
         goes back on the list after each report, so each call here also re-polls the \
         {ready_count} ready ones, and no others. Times are from an emulated CPU: compare the \
         columns, not the absolute values."
    );
    Ok(())
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
        let cli = Cli::try_parse_from(["sample-c10k"]).unwrap();
        assert_eq!(
            (cli.endpoints, cli.active, cli.count, cli.no_poll),
            (10_000, 3, 5, false)
        );
        let cli =
            Cli::try_parse_from(["sample-c10k", "-e", "500", "-a", "7", "--no-poll"]).unwrap();
        assert_eq!((cli.endpoints, cli.active, cli.no_poll), (500, 7, true));
        for bad in [
            &["--endpoints", "0"][..],
            &["--endpoints", "16384"],
            &["--active", "65"],
            &["--size", "11"],
        ] {
            let args = std::iter::once("sample-c10k").chain(bad.iter().copied());
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [5]), 5);
        assert_eq!(median(&mut [9, 1, 5]), 5);
        assert_eq!(median(&mut [4, 1, 3, 2]), 2);
    }

    #[test]
    fn meminfo_is_read() {
        // Every Linux host has it.
        assert!(mem_available_kib().is_some_and(|k| k > 0));
    }
}
