//! sample-poll: I/O multiplexing with `poll()` on /dev/simnic: the same
//! model as `select()`, without the fd_set.
//!
//! As with `select()` (see `sample-select`), the process blocks in one call
//! that waits for any of several descriptors (Stevens, UNIX Network
//! Programming, vol. 1, sections 6.2 and 6.10): phase 1, **waiting for the
//! data**, is the `poll()` call; phase 2, **copying the data**, is the
//! `read()` on a descriptor it reported, which then does not sleep.
//!
//! `poll()` takes an array of `struct pollfd {fd, events, revents}`
//! instead of bitmaps. What to look for in the output, against `select()`:
//!
//! * **no rebuild**: the kernel writes only `revents`, so the array with its
//!   `events` is built once, before the loop, and passed as it is to every
//!   call;
//! * **no FD_SETSIZE**: any descriptor number fits;
//! * **still a rescan**: `poll()` returns how many entries have a nonzero
//!   `revents`, not which; the program looks at every entry to find them;
//! * **still the kernel's rescan**: every call copies the whole array into
//!   the kernel, and `do_poll()` calls each descriptor's `->poll` (here the
//!   driver's: `POLLIN | POLLRDNORM` while a datagram is queued), once
//!   before sleeping and once more after the wake-up, then copies every
//!   `revents` back. The cost of a call grows with the number of entries,
//!   however few are ready: `sample-c10k` measures it and compares epoll.
//!
//! This program opens `--endpoints N` endpoints (bound to `--port`,
//! `--port + 1`, ...); a forked sender sends `--count` rounds of datagrams,
//! each round to `--per-round` endpoints picked at random. Each ready entry
//! is shown with its `revents` decoded.
//!
//! Every system call is made directly through the `libc` crate, and the
//! program prints each one it makes.

// Each sample uses part of the code the samples share.
#[allow(dead_code)]
#[path = "../../common/multiplex.rs"]
mod multiplex;
#[allow(dead_code)]
#[path = "../../common/traffic.rs"]
mod traffic;
#[path = "../../common/wq_view.rs"]
#[allow(dead_code)] // shared by the samples; each uses part of it
mod wq_view;

use std::process::ExitCode;

use clap::Parser;

use multiplex::{fmt_fds, poll_names, Endpoints, Tally};
use traffic::{errno, errno_text, fmt_ns, now_ns, Traffic};

/// Receive datagrams on several endpoints with poll(), and show the pollfd
/// array scanned on every call.
#[derive(Debug, Parser)]
#[command(name = "sample-poll", version)]
struct Cli {
    #[command(flatten)]
    traffic: Traffic,
    /// Endpoints to watch, bound to --port, --port + 1, ... (--count is then
    /// the number of rounds the sender sends).
    #[arg(short, long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=65535))]
    endpoints: u32,
    /// Datagrams in each round, to different endpoints picked at random.
    #[arg(long, value_name = "K", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    per_round: u32,
    /// Seed for the random choice of endpoints (the same seed, the same
    /// schedule).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    traffic::default_sigpipe();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sample-poll: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// What the program did besides waiting and copying.
#[derive(Default)]
struct Costs {
    /// poll() calls that returned entries.
    calls: u64,
    /// Entries poll() reported, all calls together.
    ready: u64,
    /// User time looking at every entry's revents after each call.
    scan_ns: Vec<u64>,
}

fn run(cli: &Cli) -> Result<(), String> {
    if let Some(warning) = traffic::clock_warning() {
        println!("{warning}");
    }
    let t = &cli.traffic;
    if cli.per_round > cli.endpoints {
        return Err(format!(
            "--per-round {} is more than the {} endpoints",
            cli.per_round, cli.endpoints
        ));
    }
    // No O_NONBLOCK: poll() is what waits, and the read() after it finds
    // its datagram queued.
    let mut eps = Endpoints::open(
        cli.endpoints as usize,
        libc::O_RDWR | libc::O_CLOEXEC,
        "O_RDWR",
        "(no O_NONBLOCK: poll() does the waiting)",
        t.port,
    )?;
    // Built once: the kernel never touches fd and events.
    let mut pfds: Vec<libc::pollfd> = eps
        .fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let rounds = multiplex::random_rounds(&eps.ports, t.count, cli.per_round as usize, cli.seed);
    let mut tally = Tally::new(&rounds);
    let timeout_ms = (t.patience_ns() / 1_000_000) as libc::c_int;
    println!(
        "receiver: once: struct pollfd fds[{}] = {{fd, POLLIN, 0}} for fd in {}",
        pfds.len(),
        fmt_fds(&eps.fds)
    );
    println!(
        "receiver: each turn, phase 1: poll(fds, {}, {timeout_ms}), then look at the revents of \
         all {} entries;",
        pfds.len(),
        pfds.len()
    );
    println!("receiver:            phase 2: read(fd, buf, 65536) on each entry with POLLIN.");
    let sender =
        traffic::spawn_sender_rounds(t, &rounds, &eps.fds).map_err(|e| format!("fork: {e}"))?;
    println!();

    // What poll() hooks on each endpoint's queue, seen while it sleeps.
    let view = wq_view::show_callbacks(&eps.ports, "poll()");
    let mut costs = Costs::default();
    let received = receive(
        &eps,
        &mut pfds,
        timeout_ms,
        t.patience_ns(),
        &mut tally,
        &mut costs,
    );
    let _ = view.join();
    if let Err(msg) = received {
        traffic::kill_sender(sender);
        eps.close();
        return Err(msg);
    }
    traffic::wait_sender(sender)?;
    eps.close();

    let n = cli.endpoints;
    println!();
    tally.print_summary("poll");
    println!(
        "{}",
        traffic::summary_line(&format!("scan ({n} revents)"), &costs.scan_ns)
    );
    println!(
        "poll() calls                 {}, with {} ready entries in all ({:.2} per call)",
        costs.calls,
        costs.ready,
        costs.ready as f64 / costs.calls.max(1) as f64
    );
    println!();
    let hint = if n < 100 { " Try --endpoints 500." } else { "" };
    println!(
        "The array was built once, but every call still copied all {n} entries into the kernel, \
         whose do_poll() asked each descriptor's ->poll whether it was ready (and again after \
         each wake-up), and copied {n} revents back for this process to look through: the cost \
         of a call grows with the entries watched, not with the ones ready; sample-c10k \
         measures it against epoll.{hint}"
    );
    Ok(())
}

/// The receive loop: poll() until every datagram of the schedule is in.
fn receive(
    eps: &Endpoints,
    pfds: &mut [libc::pollfd],
    timeout_ms: libc::c_int,
    patience_ns: u64,
    tally: &mut Tally,
    costs: &mut Costs,
) -> Result<(), String> {
    let mut buf = vec![0u8; simnic::MAX_DATAGRAM + 1];
    while !tally.complete() {
        let t0 = now_ns();
        // SAFETY: `pfds` is a live array of that many pollfds.
        let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
        let t1 = now_ns();
        if r < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(format!(
                "poll(fds, {}, {timeout_ms}): {}",
                pfds.len(),
                errno_text(e)
            ));
        }
        if r == 0 {
            return Err(tally.timeout_error("poll", patience_ns));
        }
        // poll() says how many, not which: look at every entry.
        let s0 = now_ns();
        let ready: Vec<(libc::c_int, libc::c_short)> = pfds
            .iter()
            .filter(|p| p.revents != 0)
            .map(|p| (p.fd, p.revents))
            .collect();
        let s1 = now_ns();
        costs.scan_ns.push(s1 - s0);
        costs.calls += 1;
        costs.ready += ready.len() as u64;
        let wait_ns = t1 - t0;
        let shown: Vec<String> = ready
            .iter()
            .map(|&(fd, rev)| {
                format!(
                    "fds[{}] = {{{fd}, POLLIN, {}}}",
                    index_of(pfds, fd),
                    poll_names(rev.into())
                )
            })
            .collect();
        println!(
            "poll(fds, {}, {timeout_ms}) = {r}   phase 1: {}",
            pfds.len(),
            fmt_ns(wait_ns)
        );
        println!(
            "  revents of the {} entries ({}): {}",
            pfds.len(),
            fmt_ns(s1 - s0),
            shown.join(", ")
        );
        for (fd, revents) in ready {
            let port = eps.port_of(fd).expect("a watched fd");
            if revents & libc::POLLIN == 0 {
                // POLLERR, POLLHUP or POLLNVAL without data: nothing to read.
                return Err(format!(
                    "fd {fd} (port {port}): revents {} without POLLIN",
                    poll_names(revents.into())
                ));
            }
            match multiplex::read_timed(fd, &mut buf)? {
                Some((n, copy_ns)) => {
                    let note = tally.record(&buf[..n], port, wait_ns, copy_ns, t1);
                    println!(
                        "    read({fd}, buf, {}) = {n}   phase 2: {:>9}   port {port}: {note}",
                        buf.len(),
                        fmt_ns(copy_ns)
                    );
                }
                // Not for a blocking descriptor: read_timed() only sees
                // EAGAIN on O_NONBLOCK ones.
                None => println!("    read({fd}) = -1 EAGAIN"),
            }
        }
    }
    Ok(())
}

/// The index of `fd`'s entry in the array.
fn index_of(pfds: &[libc::pollfd], fd: libc::c_int) -> usize {
    pfds.iter().position(|p| p.fd == fd).unwrap_or(usize::MAX)
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
        let cli = Cli::try_parse_from(["sample-poll"]).unwrap();
        assert_eq!((cli.endpoints, cli.per_round, cli.seed), (4, 1, 1));
        let cli = Cli::try_parse_from(["sample-poll", "-e", "2000", "--per-round", "3"]).unwrap();
        assert_eq!((cli.endpoints, cli.per_round), (2000, 3));
        for bad in [&["--endpoints", "0"][..], &["--per-round", "0"]] {
            let args = std::iter::once("sample-poll").chain(bad.iter().copied());
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn entries_by_fd() {
        let pfds = [7, 9].map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        assert_eq!(index_of(&pfds, 9), 1);
        assert_eq!(index_of(&pfds, 8), usize::MAX);
    }
}
