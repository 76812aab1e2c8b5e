//! sample-tokio: /dev/simnic endpoints read from async Rust, the way an
//! ordinary tokio program reads any file descriptor tokio has no type for:
//! through `tokio::io::unix::AsyncFd`.
//!
//! Underneath is the I/O multiplexing model with edge-triggered epoll
//! (`sample-epoll`): `AsyncFd::register` adds the descriptor with the
//! runtime's reactor, an epoll instance, with `EPOLLIN | EPOLLOUT | EPOLLET`
//! (mio's registration); `readable().await` parks the task until the
//! reactor's `epoll_wait()` reports the endpoint, that is until the
//! driver's `data_ready` wakes its wait queue and `ep_poll_callback` puts it
//! on the ready list. Phase 2 is the task's own `read()` in
//! `guard.try_io(...)`: an `EAGAIN` there (`WouldBlock`) clears tokio's
//! readiness, so the task waits for the next edge; since edges come once
//! per arrival, the task reads until `EAGAIN` before waiting again, exactly
//! as an edge-triggered epoll loop must.
//!
//! One task per endpoint (`--endpoints`), all on one thread
//! (`current_thread` runtime): the program prints each datagram with the
//! task that read it, and for each endpoint how many times its task woke,
//! how many datagrams it read and how many reads ended in `EAGAIN`.

#[allow(dead_code)]
#[path = "../../common/traffic.rs"]
mod traffic;
#[path = "../../common/wq_view.rs"]
#[allow(dead_code)] // shared by the samples; each uses part of it
mod wq_view;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;

use clap::Parser;
use tokio::io::unix::AsyncFd;

use traffic::{fmt_ns, now_ns, Traffic};

/// Read endpoints from tokio tasks through AsyncFd.
#[derive(Debug, Parser)]
#[command(name = "sample-tokio", version)]
struct Cli {
    #[command(flatten)]
    traffic: Traffic,
    /// Endpoints, one task each (bound to --port, --port + 1, ...).
    #[arg(short, long, default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=16))]
    endpoints: u32,
    /// Datagrams the sender sends to each endpoint in each round, back to
    /// back: more than one shows a task reading several per wake-up.
    #[arg(short, long, default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=16))]
    burst: u32,
}

fn main() -> ExitCode {
    traffic::default_sigpipe();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sample-tokio: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// What one task did.
#[derive(Debug, Default)]
struct Tally {
    wakeups: u64,
    datagrams: u64,
    eagains: u64,
}

fn run(cli: &Cli) -> Result<(), String> {
    if let Some(warning) = traffic::clock_warning() {
        println!("{warning}");
    }
    let t = &cli.traffic;
    let mut fds = Vec::new();
    let mut ports = Vec::new();
    for i in 0..cli.endpoints {
        let port = t.port + i;
        let fd = traffic::open_and_bind(
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            "O_RDWR|O_NONBLOCK",
            "(AsyncFd needs O_NONBLOCK: reads end in EAGAIN, never sleep)",
            port,
        )?;
        // SAFETY: a descriptor we just opened and own.
        fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
        ports.push(port);
    }
    let per_round: Vec<u32> = ports
        .iter()
        .flat_map(|&p| std::iter::repeat_n(p, cli.burst as usize))
        .collect();
    let rounds = vec![per_round; t.count as usize];
    let expected = t.count as u64 * cli.burst as u64;
    // Forked before the runtime exists: the process is single-threaded.
    let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let sender =
        traffic::spawn_sender_rounds(t, &rounds, &raw).map_err(|e| format!("fork: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let patience = std::time::Duration::from_nanos(t.patience_ns());
    // AsyncFd::register hooks epoll's `ep_poll_callback` on each endpoint's
    // queue; the runtime's thread sleeps in the reactor's epoll_wait().
    let view = wq_view::show_callbacks(&ports, "the tokio reactor's epoll_wait()");
    let result = rt.block_on(async move {
        let mut tasks = Vec::new();
        for (i, fd) in fds.into_iter().enumerate() {
            // SAFETY: an `OwnedFd` owns its descriptor, which stays open
            // and the same until the `AsyncFd` (which owns the `OwnedFd`)
            // is dropped.
            let afd = unsafe { AsyncFd::register(fd) }.map_err(|e| format!("AsyncFd::register (epoll_ctl ADD): {e}"))?;
            println!(
                "task {i}: AsyncFd::register(fd {}) added it to the reactor's epoll (edge-triggered)",
                afd.as_raw_fd()
            );
            tasks.push(tokio::spawn(read_task(i, afd, expected, patience)));
        }
        println!();
        println!("{:>4} {:>4} {:>6}  {:>16}", "task", "seq", "bytes", "send -> read");
        let mut tallies = Vec::new();
        for task in tasks {
            tallies.push(task.await.map_err(|e| format!("task: {e}"))??);
        }
        Ok::<_, String>(tallies)
    });
    let _ = view.join();
    let tallies = match result {
        Ok(t) => t,
        Err(e) => {
            traffic::kill_sender(sender);
            return Err(e);
        }
    };
    traffic::wait_sender(sender)?;
    println!();
    println!(
        "{:>4} {:>8} {:>10} {:>8}",
        "task", "wake-ups", "datagrams", "EAGAINs"
    );
    for (i, tally) in tallies.iter().enumerate() {
        println!(
            "{i:>4} {:>8} {:>10} {:>8}",
            tally.wakeups, tally.datagrams, tally.eagains
        );
    }
    println!();
    println!(
        "Each wake-up is one edge (an arrival while the task's readiness was clear); \
         the task reads until EAGAIN, so a burst may be read in one wake-up."
    );
    Ok(())
}

/// Reads `expected` datagrams from one endpoint: wait for readiness, then
/// read until `EAGAIN`.
async fn read_task(
    id: usize,
    afd: AsyncFd<OwnedFd>,
    expected: u64,
    patience: std::time::Duration,
) -> Result<Tally, String> {
    let mut tally = Tally::default();
    let mut buf = vec![0u8; simnic::MAX_DATAGRAM];
    while tally.datagrams < expected {
        let mut guard = tokio::time::timeout(patience, afd.readable())
            .await
            .map_err(|_| {
                format!("task {id}: no datagram in time: was one dropped? (`simnicctl stats`)")
            })?
            .map_err(|e| format!("task {id}: readable: {e}"))?;
        tally.wakeups += 1;
        loop {
            // SAFETY: `buf` is a live, writable buffer of its length.
            let r = guard.try_io(|inner| {
                let n =
                    unsafe { libc::read(inner.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match r {
                Ok(Ok(n)) => {
                    let seen = now_ns();
                    let (seq, sent) = traffic::decode(&buf[..n]).unwrap_or((u32::MAX, seen));
                    println!(
                        "{id:>4} {seq:>4} {n:>6}  {:>16}",
                        fmt_ns(seen.saturating_sub(sent))
                    );
                    tally.datagrams += 1;
                }
                Ok(Err(e)) => return Err(format!("task {id}: read: {e}")),
                // EAGAIN: drained; tokio cleared the readiness.
                Err(_would_block) => {
                    tally.eagains += 1;
                    break;
                }
            }
        }
    }
    Ok(tally)
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
    fn defaults() {
        let cli = Cli::try_parse_from(["sample-tokio"]).unwrap();
        assert_eq!((cli.endpoints, cli.burst), (2, 2));
        assert!(Cli::try_parse_from(["sample-tokio", "--endpoints", "0"]).is_err());
    }
}
