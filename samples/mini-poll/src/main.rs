//! sample-mini-poll: `poll(2)` done by the module (`do_poll` in
//! `fs/select.c`, re-implemented in `rust/simnic/mux/mini_poll.rs`), with
//! what each call did.
//!
//! The program watches `--endpoints` endpoints, one of which receives the
//! datagrams of a forked sender, with `ioctl(SIMNIC_MUX_IOC_POLL)` on the
//! multiplexer node, and prints for each call:
//!
//! - `entries`: wait-queue entries the first scan hooked, one per
//!   `poll_wait()` of every watched file (`__pollwait` allocating
//!   `poll_table_entry`s): they grow with the number of descriptors;
//! - `wakeups`: times an entry's wake function (`pollwake`'s role) woke
//!   the sleeping caller;
//! - `rescans`: times every descriptor was polled: once before sleeping and
//!   once more per wake-up, however many descriptors there are. That is the
//!   O(n) per event of poll and select, which epoll avoids.

#[path = "../../common/traffic.rs"]
#[allow(dead_code)] // shared by all samples; this one uses part of it
mod traffic;
#[path = "../../common/wq_view.rs"]
#[allow(dead_code)] // shared by the samples; each uses part of it
mod wq_view;

use std::process::ExitCode;

use clap::Parser;
use simnic::{MiniEpoll, MiniPollFd};
use traffic::{errno, errno_text, fmt_ns, now_ns, Traffic};

/// Wait for datagrams with the module's own poll, printing what it did.
#[derive(Debug, Parser)]
#[command(name = "sample-mini-poll", version)]
struct Cli {
    #[command(flatten)]
    traffic: Traffic,
    /// Endpoints to watch; the datagrams go to the first.
    #[arg(short, long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4096))]
    endpoints: u32,
}

fn main() -> ExitCode {
    traffic::default_sigpipe();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sample-mini-poll: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let t = &cli.traffic;
    let mux = MiniEpoll::open().map_err(|e| format!("open(\"{}\"): {e}", simnic::MUX_DEVICE_PATH))?;
    let mut fds = Vec::new();
    for i in 0..cli.endpoints {
        let fd = traffic::open_and_bind(
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            "O_RDWR|O_NONBLOCK",
            "",
            t.port + i,
        )?;
        fds.push(MiniPollFd { fd, events: libc::POLLIN as u32, ..Default::default() });
    }
    let sender = traffic::spawn_sender(t, fds[0].fd).map_err(|e| format!("fork: {e}"))?;
    let timeout_ms = (t.patience_ns() / 1_000_000) as i32;
    println!(
        "receiver: each round, ioctl(mux, SIMNIC_MUX_IOC_POLL, {{{} fds, POLLIN, timeout {timeout_ms} ms}}), then read()",
        fds.len()
    );
    println!();
    println!("{:>4} {:>10} {:>8} {:>8} {:>8} {:>9} {:>10}", "seq", "wait", "entries", "wakeups", "rescans", "spurious", "copy");
    // What mini-poll hooks on each endpoint's queue, seen while it sleeps.
    let ports: Vec<u32> = (0..cli.endpoints).map(|i| t.port + i).collect();
    let view = wq_view::show_callbacks(&ports, "SIMNIC_MUX_IOC_POLL");
    let mut buf = vec![0u8; simnic::MAX_DATAGRAM + 1];
    for seq in 0..t.count {
        let t0 = now_ns();
        let (n, st) = mux.mini_poll(&mut fds, timeout_ms).map_err(|e| format!("SIMNIC_MUX_IOC_POLL: {e}"))?;
        let t1 = now_ns();
        if n == 0 {
            traffic::kill_sender(sender);
            return Err(format!("nothing ready within {timeout_ms} ms"));
        }
        let fd = fds[0].fd;
        // SAFETY: `buf` is live and writable.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        let t2 = now_ns();
        if r < 0 {
            return Err(format!("read({fd}): {}", errno_text(errno())));
        }
        println!(
            "{seq:>4} {:>10} {:>8} {:>8} {:>8} {:>9} {:>10}",
            fmt_ns(t1 - t0),
            st.entries,
            st.wakeups,
            st.rescans,
            st.spurious,
            fmt_ns(t2 - t1)
        );
    }
    let _ = view.join();
    traffic::wait_sender(sender)?;
    println!();
    println!(
        "Every call hooked {} entries (one per watched endpoint) and scanned all {} endpoints \
         again after the wake-up: the work grows with the number watched, not with the number ready.",
        cli.endpoints, cli.endpoints
    );
    Ok(())
}
