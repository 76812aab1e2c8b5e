//! sample-select: I/O multiplexing with `select()` on /dev/simnic, and the
//! work it repeats on every call.
//!
//! In the I/O multiplexing model (Stevens, UNIX Network Programming, vol. 1,
//! section 6.2) the process blocks in `select()` instead of in `read()`:
//! one call waits for *any* of several descriptors to become readable.
//! Phase 1 of the input operation, **waiting for the data**, is the
//! `select()` call; phase 2, **copying the data**, is the `read()` on a
//! descriptor `select()` reported, which then does not sleep. The price is
//! two system calls per datagram instead of one; the gain is that one
//! process serves many endpoints.
//!
//! This program opens `--endpoints N` endpoints (bound to `--port`,
//! `--port + 1`, ...). A forked sender sends `--count` rounds of datagrams,
//! each round to `--per-round` endpoints picked at random. What to look for
//! in the output:
//!
//! * **the rebuild**: `select()` takes the set of descriptors to watch as a
//!   bitmap (`fd_set`) that it *overwrites* with the ready ones, so before
//!   every call the program clears it (`FD_ZERO`) and sets every watched
//!   descriptor again (`FD_SET`). Each line shows the set going in and
//!   coming out. Linux also writes the time left into the timeout.
//! * **the rescan**: `select()` returns only a count; which descriptors are
//!   ready the program learns by testing every watched one (`FD_ISSET`).
//! * inside the kernel, `do_select()` copies the set in, walks its bits up
//!   to `nfds` and calls the `->poll` of every descriptor set in it (here
//!   the driver's, which registers on the endpoint's wait queue), on every
//!   call and again after each wake-up. Costs grow with the number of
//!   descriptors watched, not with the number ready: see `sample-c10k`.
//! * **the limit**: an `fd_set` has `FD_SETSIZE` (1024) bits, so `select()`
//!   cannot watch a descriptor numbered 1024 or more; `poll()` and epoll
//!   have no such limit. The usual limit of open files (`ulimit -n`, 1024)
//!   hides it; `ulimit -n 2048; sample-select --endpoints 1030` shows it.
//!
//! The endpoints are opened without `O_NONBLOCK`, as in Stevens' figure 6.3:
//! a `read()` after `select()` said "readable" finds a datagram queued and
//! does not sleep.
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

use std::os::fd::RawFd;
use std::process::ExitCode;

use clap::Parser;

use multiplex::{fmt_fds, Endpoints, Tally};
use traffic::{errno, errno_text, fmt_ns, now_ns, Traffic};

/// Receive datagrams on several endpoints with select(), and show the fd_set
/// rebuilt and scanned on every call.
#[derive(Debug, Parser)]
#[command(name = "sample-select", version)]
struct Cli {
    #[command(flatten)]
    traffic: Traffic,
    /// Endpoints to watch, bound to --port, --port + 1, ... (--count is then
    /// the number of rounds the sender sends). Their descriptors must be
    /// below FD_SETSIZE (1024).
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
            eprintln!("sample-select: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// What the program did besides waiting and copying.
#[derive(Default)]
struct Costs {
    /// select() calls that returned descriptors.
    calls: u64,
    /// Descriptors select() reported ready, all calls together.
    ready: u64,
    /// User time rebuilding the fd_set before each call.
    rebuild_ns: Vec<u64>,
    /// User time testing every watched descriptor after each call.
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
    // No O_NONBLOCK: select() is what waits, and the read() after it finds
    // its datagram queued.
    let mut eps = Endpoints::open(
        cli.endpoints as usize,
        libc::O_RDWR | libc::O_CLOEXEC,
        "O_RDWR",
        "(no O_NONBLOCK: select() does the waiting)",
        t.port,
    )?;
    let maxfd = *eps.fds.iter().max().expect("at least one endpoint");
    if maxfd as usize >= libc::FD_SETSIZE {
        eps.close();
        return Err(format!(
            "descriptor {maxfd} does not fit in an fd_set, whose bits go up to FD_SETSIZE - 1 = {}: \
             select() cannot watch it (poll() and epoll can: see sample-poll)",
            libc::FD_SETSIZE - 1
        ));
    }
    let nfds = maxfd + 1;
    let rounds = multiplex::random_rounds(&eps.ports, t.count, cli.per_round as usize, cli.seed);
    let mut tally = Tally::new(&rounds);
    println!(
        "receiver: each turn, phase 1: FD_ZERO(&rset), FD_SET(fd, &rset) for fd in {}, \
         select({nfds}, &rset, NULL, NULL, &timeout),",
        fmt_fds(&eps.fds)
    );
    println!(
        "receiver:            then FD_ISSET(fd, &rset) for each of the {} fds to find the ready ones;",
        eps.fds.len()
    );
    println!("receiver:            phase 2: read(fd, buf, 65536) on each ready fd.");
    let sender =
        traffic::spawn_sender_rounds(t, &rounds, &eps.fds).map_err(|e| format!("fork: {e}"))?;
    println!();

    // What select() hooks on each endpoint's queue, seen while it sleeps.
    let view = wq_view::show_callbacks(&eps.ports, "select()");
    let mut costs = Costs::default();
    let received = receive(&eps, nfds, t.patience_ns(), &mut tally, &mut costs);
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
    tally.print_summary("select");
    println!(
        "{}",
        traffic::summary_line(&format!("rebuild ({n} x FD_SET)"), &costs.rebuild_ns)
    );
    println!(
        "{}",
        traffic::summary_line(&format!("scan ({n} x FD_ISSET)"), &costs.scan_ns)
    );
    println!(
        "select() calls               {}, with {} ready descriptors in all ({:.2} per call)",
        costs.calls,
        costs.ready,
        costs.ready as f64 / costs.calls.max(1) as f64
    );
    println!();
    let hint = if n < 100 { " Try --endpoints 500." } else { "" };
    println!(
        "Every call handed the kernel the whole set again (nfds = {nfds}), and the kernel's \
         do_select() asked each of the {n} descriptors' ->poll whether it was ready (and again \
         after each wake-up); then this process tested all {n} to find the few ready: the cost \
         of a call grows with the fds watched, not with the fds ready.{hint}"
    );
    Ok(())
}

/// The receive loop: select() until every datagram of the schedule is in.
fn receive(
    eps: &Endpoints,
    nfds: RawFd,
    patience_ns: u64,
    tally: &mut Tally,
    costs: &mut Costs,
) -> Result<(), String> {
    let mut buf = vec![0u8; simnic::MAX_DATAGRAM + 1];
    let watched = fmt_fds(&eps.fds);
    let patience_us = patience_ns / 1_000;
    while !tally.complete() {
        // select() overwrote the set last time with just the ready
        // descriptors: build it again from nothing.
        let r0 = now_ns();
        // SAFETY: fd_set is a plain bitmap; all zero is the empty set.
        let mut rset: libc::fd_set = unsafe { std::mem::zeroed() };
        // SAFETY: `rset` is a live fd_set, every fd is below FD_SETSIZE
        // (checked when the endpoints were opened).
        unsafe {
            libc::FD_ZERO(&mut rset);
            for &fd in &eps.fds {
                libc::FD_SET(fd, &mut rset);
            }
        }
        let r1 = now_ns();
        costs.rebuild_ns.push(r1 - r0);
        // The timeout too: Linux writes the time left back into it.
        let mut tv = libc::timeval {
            tv_sec: (patience_us / 1_000_000) as libc::time_t,
            tv_usec: (patience_us % 1_000_000) as libc::suseconds_t,
        };
        let tv_in = tv;
        let t0 = now_ns();
        // SAFETY: `rset` and `tv` are live; the other sets are NULL (not
        // watched).
        let r = unsafe {
            libc::select(
                nfds,
                &mut rset,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut tv,
            )
        };
        let t1 = now_ns();
        if r < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(format!("select({nfds}, ...): {}", errno_text(e)));
        }
        if r == 0 {
            return Err(tally.timeout_error("select", patience_ns));
        }
        // select() says how many, not which: test every watched descriptor.
        let s0 = now_ns();
        let ready: Vec<RawFd> = eps
            .fds
            .iter()
            .copied()
            // SAFETY: `rset` is the live set select() filled; fd < FD_SETSIZE.
            .filter(|&fd| unsafe { libc::FD_ISSET(fd, &rset) })
            .collect();
        let s1 = now_ns();
        costs.scan_ns.push(s1 - s0);
        costs.calls += 1;
        costs.ready += ready.len() as u64;
        let wait_ns = t1 - t0;
        println!(
            "select({nfds}, &rset {watched} -> {}, NULL, NULL, &{} -> {}) = {r}   phase 1: {}",
            fmt_fds(&ready),
            fmt_tv(&tv_in),
            fmt_tv(&tv),
            fmt_ns(wait_ns)
        );
        println!(
            "  FD_ISSET(fd, &rset) for the {} fds: ready {}   ({} to rebuild the set, {} to scan it)",
            eps.fds.len(),
            fmt_fds(&ready),
            fmt_ns(r1 - r0),
            fmt_ns(s1 - s0)
        );
        for fd in ready {
            let port = eps.port_of(fd).expect("a watched fd");
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

/// A timeval as C would initialise it: "{5 s, 20000 us}".
fn fmt_tv(tv: &libc::timeval) -> String {
    format!("{{{} s, {} us}}", tv.tv_sec, tv.tv_usec)
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
        let cli = Cli::try_parse_from(["sample-select"]).unwrap();
        assert_eq!((cli.endpoints, cli.per_round, cli.seed), (4, 1, 1));
        let cli = Cli::try_parse_from(["sample-select", "-e", "1030", "--per-round", "3"]).unwrap();
        assert_eq!((cli.endpoints, cli.per_round), (1030, 3));
        for bad in [
            &["--endpoints", "0"][..],
            &["--endpoints", "65536"],
            &["--per-round", "0"],
        ] {
            let args = std::iter::once("sample-select").chain(bad.iter().copied());
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn timevals() {
        let tv = libc::timeval {
            tv_sec: 5,
            tv_usec: 20_000,
        };
        assert_eq!(fmt_tv(&tv), "{5 s, 20000 us}");
    }
}
