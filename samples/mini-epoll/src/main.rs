//! sample-mini-epoll: the module's own epoll (`/dev/simnic-epoll`), with
//! what it does inside shown after every wait.
//!
//! The program opens the multiplexer node (an instance, like
//! `epoll_create`), binds `--endpoints` endpoints to consecutive ports and
//! adds them all (`SIMNIC_MUX_IOC_CTL`, like `epoll_ctl`). A forked sender
//! sends the datagrams round-robin to those ports. For each, the receiver
//! waits (`SIMNIC_MUX_IOC_WAIT`, like `epoll_wait`), then reads the ready
//! endpoints, and prints how the instance's counters moved
//! (`SIMNIC_MUX_IOC_INFO`):
//!
//! - `callbacks`: the wake function of an item ran (the endpoint's
//!   `data_ready` woke its wait queue, where the instance had hooked an
//!   entry when the endpoint was added: `ep_poll_callback`'s role);
//! - `ready_adds`: the wake function put the item on the ready list;
//! - `harvested`, `reported`: the wait took items off the ready list and
//!   reported those still ready when polled again;
//! - `lt_requeued`: level-triggered items put back on the ready list (the
//!   next wait polls them again and drops them once drained: `spurious`).
//!
//! With `--edge` the items are edge-triggered: nothing goes back on the
//! list, and a wait after the reads finds nothing.

#[path = "../../common/traffic.rs"]
#[allow(dead_code)] // shared by all samples; this one uses part of it
mod traffic;
#[path = "../../common/wq_view.rs"]
#[allow(dead_code)] // shared by the samples; each uses part of it
mod wq_view;

use std::os::fd::AsRawFd;
use std::process::ExitCode;

use clap::Parser;
use simnic::{MiniEpoll, MiniEpollInfo, MINI_EPOLL_CTL_ADD};
use traffic::{errno, errno_text, fmt_ns, now_ns, Traffic};

/// Receive datagrams on several endpoints through the module's own epoll,
/// printing the instance's counters after each wait.
#[derive(Debug, Parser)]
#[command(name = "sample-mini-epoll", version)]
struct Cli {
    #[command(flatten)]
    traffic: Traffic,
    /// Endpoints to watch (ports PORT, PORT+1, ...).
    #[arg(short, long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    endpoints: u32,
    /// Edge-triggered items (EPOLLET) instead of level-triggered.
    #[arg(long)]
    edge: bool,
}

fn main() -> ExitCode {
    traffic::default_sigpipe();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sample-mini-epoll: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn delta(a: &MiniEpollInfo, b: &MiniEpollInfo) -> String {
    format!(
        "callbacks +{} ready_adds +{} harvested +{} reported +{} lt_requeued +{} spurious +{} | ready now {}",
        b.callbacks - a.callbacks,
        b.ready_adds - a.ready_adds,
        b.harvested - a.harvested,
        b.reported - a.reported,
        b.lt_requeued - a.lt_requeued,
        b.spurious - a.spurious,
        b.ready
    )
}

fn run(cli: &Cli) -> Result<(), String> {
    let t = &cli.traffic;
    let ep = MiniEpoll::open().map_err(|e| format!("open(\"{}\"): {e}", simnic::MUX_DEVICE_PATH))?;
    println!("receiver: open(\"{}\", O_RDWR) = {}: a new instance", simnic::MUX_DEVICE_PATH, ep.as_raw_fd());
    let mut fds = Vec::new();
    let flags = libc::EPOLLIN as u32 | if cli.edge { libc::EPOLLET as u32 } else { 0 };
    for i in 0..cli.endpoints {
        let fd = traffic::open_and_bind(
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            "O_RDWR|O_NONBLOCK",
            "",
            t.port + i,
        )?;
        ep.ctl(MINI_EPOLL_CTL_ADD, fd, flags, u64::from(i)).map_err(|e| format!("ctl ADD {fd}: {e}"))?;
        println!(
            "receiver: ioctl({}, SIMNIC_MUX_IOC_CTL, {{ADD, fd={fd}, events=EPOLLIN{}, data={i}}}): entry hooked on the endpoint's wait queue",
            ep.as_raw_fd(),
            if cli.edge { "|EPOLLET" } else { "" }
        );
        fds.push(fd);
    }
    let info0 = ep.info().map_err(|e| format!("INFO: {e}"))?;
    println!("receiver: {} items, {} wait-queue entries hooked", info0.items, info0.entries);

    // The sender: one traffic stream per endpoint would be more code than
    // it teaches; it sends to PORT, and the receiver moves the port along.
    let per = t.count.div_ceil(cli.endpoints).max(1);
    let mut pids = Vec::new();
    for i in 0..cli.endpoints {
        let mut ti = t.clone();
        ti.port = t.port + i;
        ti.count = per;
        pids.push(traffic::spawn_sender(&ti, fds[i as usize]).map_err(|e| format!("fork: {e}"))?);
    }

    // What the instance hooked on each endpoint's queue at ADD, and the
    // waiter on the instance's own queue, seen while the wait sleeps.
    let ports: Vec<u32> = (0..cli.endpoints).map(|i| t.port + i).collect();
    let view = wq_view::show_callbacks(&ports, "SIMNIC_MUX_IOC_WAIT");
    let timeout_ms = (t.patience_ns() / 1_000_000) as i32;
    let mut got = 0u32;
    let mut buf = vec![0u8; simnic::MAX_DATAGRAM + 1];
    let mut prev = info0;
    while got < per * cli.endpoints {
        let t0 = now_ns();
        let events = ep.wait(16, timeout_ms).map_err(|e| format!("wait: {e}"))?;
        let t1 = now_ns();
        if events.is_empty() {
            return Err(format!("no event within {timeout_ms} ms: datagrams lost?"));
        }
        let after_wait = ep.info().map_err(|e| format!("INFO: {e}"))?;
        println!();
        println!(
            "ioctl(SIMNIC_MUX_IOC_WAIT) = {} event(s) after {} (phase 1): {}",
            events.len(),
            fmt_ns(t1 - t0),
            delta(&prev, &after_wait)
        );
        for (ev, data) in &events {
            let fd = fds[*data as usize];
            let t2 = now_ns();
            loop {
                // SAFETY: `buf` is live and writable.
                let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    if errno() != libc::EAGAIN {
                        return Err(format!("read({fd}): {}", errno_text(errno())));
                    }
                    break;
                }
                got += 1;
                println!("  endpoint {data} (events {ev:#x}): read({fd}) = {n} (phase 2, {})", fmt_ns(now_ns() - t2));
            }
        }
        prev = ep.info().map_err(|e| format!("INFO: {e}"))?;
    }
    let _ = view.join();
    for pid in pids {
        traffic::wait_sender(pid)?;
    }
    let end = ep.wait(16, 0).map_err(|e| format!("wait: {e}"))?;
    let last = ep.info().map_err(|e| format!("INFO: {e}"))?;
    println!();
    println!("a last wait(timeout 0) = {} events: {}", end.len(), delta(&prev, &last));
    println!(
        "{}",
        if cli.edge {
            "edge-triggered: nothing was put back on the ready list, so that wait had nothing to look at"
        } else {
            "level-triggered: items went back on the ready list after each report; polled again \
             once drained, they were dropped (spurious)"
        }
    );
    Ok(())
}
