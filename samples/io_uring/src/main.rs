//! sample-io-uring: io_uring on /dev/simnic, through the `io-uring` crate.
//!
//! io_uring is the other asynchronous interface of Linux: the process puts
//! requests on a submission ring and takes results off a completion ring,
//! both shared with the kernel, and one `io_uring_enter()` both submits and
//! waits. How a read on an endpoint completes is not how a Linux AIO read
//! does (see `sample-aio`):
//!
//! 1. The file has `FMODE_NOWAIT`, so io_uring first tries the read with
//!    `IOCB_NOWAIT`; on an empty endpoint the driver's `read_iter` says
//!    `EAGAIN` instead of sleeping.
//! 2. io_uring then *arms a poll*: it calls the driver's `->poll`, which
//!    hooks io_uring's wake function (`io_poll_wake`) on the endpoint's wait
//!    queue, the same queue a blocked `read()` or `epoll` sleeps on. Phase 1,
//!    waiting for the data, is that entry sitting on the queue; no thread
//!    waits, and no io-wq worker (`iou-wrk-*`) is created.
//! 3. A datagram arrives: the driver's `data_ready` wakes the queue,
//!    `io_poll_wake` queues task work, and the read is retried in the
//!    submitting task's own context (when it next enters the kernel, here
//!    in `io_uring_enter()` waiting for completions): phase 2, the copy, is
//!    done by the kernel on the process's behalf, and the completion is
//!    posted to the ring with the byte count.
//!
//! Part 1 keeps `--depth` reads in flight (`IORING_OP_READ`), each completed
//! one submitted again, and shows the completions with the payload read
//! from the buffer the read named. Part 2 arms one `IORING_OP_READ_MULTISHOT`
//! over a group of provided buffers (`IORING_OP_PROVIDE_BUFFERS`): one
//! submission, a completion per datagram with the id of the buffer the
//! kernel picked, `IORING_CQE_F_MORE` while it stays armed. Both parts end
//! with `IORING_OP_ASYNC_CANCEL` of what is still in flight. Each step is
//! printed; the program lists its threads at the end to show there is no
//! io-wq worker.

#[allow(dead_code)]
#[path = "../../common/traffic.rs"]
mod traffic;
#[path = "../../common/wq_view.rs"]
#[allow(dead_code)] // shared by the samples; each uses part of it
mod wq_view;

use std::process::ExitCode;

use clap::Parser;
use io_uring::{cqueue, opcode, squeue, types, IoUring};

use traffic::{fmt_ns, now_ns, Traffic};

/// Receive datagrams through io_uring: reads parked by poll arming, then a
/// multishot read into provided buffers.
#[derive(Debug, Parser)]
#[command(name = "sample-io-uring", version)]
struct Cli {
    #[command(flatten)]
    traffic: Traffic,
    /// Reads kept in flight in part 1.
    #[arg(short, long, default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=32))]
    depth: u32,
}

fn main() -> ExitCode {
    traffic::default_sigpipe();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sample-io-uring: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// The buffer group of part 2.
const GROUP: u16 = 1;
/// user_data of part 2's multishot read; of a cancel (plus the target's);
/// of PROVIDE_BUFFERS.
const MULTISHOT: u64 = 1000;
const CANCEL: u64 = 1 << 32;
const PROVIDE: u64 = 1 << 40;

fn push(ring: &mut IoUring, e: &squeue::Entry) -> Result<(), String> {
    // SAFETY: every buffer an entry names lives in `run` until its request
    // completes or is cancelled and reaped.
    unsafe { ring.submission().push(e) }.map_err(|_| "submission queue full".to_string())
}

/// io_uring_enter: submits what is queued and waits for at least `want`
/// completions (up to the traffic's patience).
fn enter(ring: &mut IoUring, want: usize, patience_ns: u64) -> Result<usize, String> {
    let ts = types::Timespec::new().sec(patience_ns / 1_000_000_000);
    let args = types::SubmitArgs::new().timespec(&ts);
    match ring.submitter().submit_with_args(want, &args) {
        Ok(n) => Ok(n),
        Err(e) if e.raw_os_error() == Some(libc::ETIME) => {
            Err("no completion in time: was a datagram dropped? (`simnicctl stats`)".into())
        }
        Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(0),
        Err(e) => Err(format!("io_uring_enter: {e}")),
    }
}

/// The names of this process's threads (`/proc/self/task/*/comm`).
fn threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|t| t.ok())
                .map(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .unwrap_or_default()
                        .trim()
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn run(cli: &Cli) -> Result<(), String> {
    if let Some(warning) = traffic::clock_warning() {
        println!("{warning}");
    }
    let t = &cli.traffic;
    let fd = traffic::open_and_bind(
        libc::O_RDWR | libc::O_CLOEXEC,
        "O_RDWR",
        "(the file has FMODE_NOWAIT: io_uring's first try gets EAGAIN, then it arms a poll)",
        t.port,
    )?;
    let depth = cli.depth as usize;
    let mut ring = IoUring::new(4 * cli.depth).map_err(|e| format!("io_uring_setup: {e}"))?;
    println!(
        "receiver: io_uring_setup({}) = ring fd {}",
        4 * cli.depth,
        {
            use std::os::fd::AsRawFd;
            ring.as_raw_fd()
        }
    );
    let r = part1(t, fd, depth, &mut ring).and_then(|()| part2(t, fd, &mut ring));
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    r?;
    println!();
    println!(
        "threads of this process: {:?} (no iou-wrk-*: no read was handed to an io-wq worker)",
        threads()
    );
    Ok(())
}

/// Part 1: `depth` plain reads kept in flight.
fn part1(t: &Traffic, fd: i32, depth: usize, ring: &mut IoUring) -> Result<(), String> {
    println!();
    println!(
        "== Part 1: {depth} IORING_OP_READs in flight, each parked on the endpoint's wait queue =="
    );
    let mut bufs: Vec<Vec<u8>> = (0..depth)
        .map(|_| vec![0u8; simnic::MAX_DATAGRAM])
        .collect();
    let mut posted = vec![0u64; depth];
    let read = |buf: &mut Vec<u8>, i: usize| {
        opcode::Read::new(types::Fd(fd), buf.as_mut_ptr(), buf.len() as u32)
            .offset(u64::MAX)
            .build()
            .user_data(i as u64)
    };
    for (i, buf) in bufs.iter_mut().enumerate() {
        push(ring, &read(buf, i))?;
    }
    let t0 = now_ns();
    let n = ring.submit().map_err(|e| format!("io_uring_enter: {e}"))?;
    let now = now_ns();
    posted.fill(now);
    println!(
        "receiver: io_uring_enter(submit {n}) returned in {}, {} completions: the reads are parked (EAGAIN, then poll armed)",
        fmt_ns(now - t0),
        ring.completion().len()
    );
    let sender = traffic::spawn_sender(t, fd).map_err(|e| format!("fork: {e}"))?;
    // Each parked read is an `io_poll_wake` entry on the endpoint's queue,
    // with no task: no thread sleeps for it.
    let view = wq_view::show_callbacks(
        &[t.port],
        &format!("io_uring_enter() with {depth} parked reads"),
    );
    println!(
        "{:>4} {:>5} {:>6}  {:>22}  {:>16}",
        "seq", "read", "bytes", "submitted -> completion", "send -> seen"
    );
    let mut got = 0;
    let mut deliveries = Vec::new();
    while got < t.count {
        if let Err(e) = enter(ring, 1, t.patience_ns()) {
            traffic::kill_sender(sender);
            return Err(e);
        }
        let seen = now_ns();
        let done: Vec<cqueue::Entry> = ring.completion().collect();
        for c in done {
            let i = c.user_data() as usize;
            if c.result() < 0 {
                traffic::kill_sender(sender);
                return Err(format!("read {i}: {}", traffic::errno_text(-c.result())));
            }
            let n = c.result() as usize;
            let (seq, sent) = traffic::decode(&bufs[i][..n]).unwrap_or((u32::MAX, seen));
            deliveries.push(seen.saturating_sub(sent));
            println!(
                "{seq:>4} {i:>5} {n:>6}  {:>22}  {:>16}",
                fmt_ns(seen - posted[i]),
                fmt_ns(seen.saturating_sub(sent))
            );
            got += 1;
            push(ring, &read(&mut bufs[i], i))?;
            posted[i] = now_ns();
        }
    }
    let _ = view.join();
    traffic::wait_sender(sender)?;
    println!(
        "{}",
        traffic::summary_line("send -> completion seen", &deliveries)
    );
    cancel_all(ring, (0..depth as u64).collect(), t.patience_ns())
}

/// Cancels the requests `ids` (IORING_OP_ASYNC_CANCEL each) and reaps the
/// cancels' and the requests' completions.
fn cancel_all(ring: &mut IoUring, ids: Vec<u64>, patience_ns: u64) -> Result<(), String> {
    for &id in &ids {
        push(
            ring,
            &opcode::AsyncCancel::new(id).build().user_data(CANCEL | id),
        )?;
    }
    let mut left = 2 * ids.len();
    let mut cancelled = 0;
    while left > 0 {
        enter(ring, 1, patience_ns)?;
        for c in ring.completion() {
            let d = c.user_data();
            if d & CANCEL != 0 && ids.contains(&(d & !CANCEL)) {
                left -= 1;
            } else if ids.contains(&d) && !cqueue::more(c.flags()) {
                cancelled += usize::from(c.result() == -libc::ECANCELED);
                left -= 1;
            }
        }
    }
    println!(
        "receiver: IORING_OP_ASYNC_CANCEL x{}: {cancelled} in flight ended with ECANCELED",
        ids.len()
    );
    Ok(())
}

/// Part 2: one multishot read over provided buffers.
fn part2(t: &Traffic, fd: i32, ring: &mut IoUring) -> Result<(), String> {
    const NBUFS: u16 = 8;
    let size = simnic::MAX_DATAGRAM;
    println!();
    println!("== Part 2: one IORING_OP_READ_MULTISHOT over {NBUFS} provided buffers ==");
    let mut pool = vec![0u8; size * NBUFS as usize];
    let provide = |pool: &mut Vec<u8>, bid: u16, n: u16| {
        opcode::ProvideBuffers::new(
            pool[bid as usize * size..].as_mut_ptr(),
            size as i32,
            n,
            GROUP,
            bid,
        )
        .build()
        .user_data(PROVIDE)
    };
    push(ring, &provide(&mut pool, 0, NBUFS))?;
    push(
        ring,
        &opcode::ReadMulti::new(types::Fd(fd), 0, GROUP)
            .build()
            .user_data(MULTISHOT),
    )?;
    enter(ring, 1, t.patience_ns())?;
    for c in ring.completion() {
        if c.user_data() == PROVIDE && c.result() < 0 {
            return Err(format!(
                "IORING_OP_PROVIDE_BUFFERS: {}",
                traffic::errno_text(-c.result())
            ));
        }
        if c.user_data() == MULTISHOT {
            return Err(format!(
                "READ_MULTISHOT ended at once: {}",
                traffic::errno_text(-c.result())
            ));
        }
    }
    println!("receiver: PROVIDE_BUFFERS(group {GROUP}, {NBUFS} x {size} bytes) and READ_MULTISHOT(fd {fd}, group {GROUP}) submitted");
    let sender = traffic::spawn_sender(t, fd).map_err(|e| format!("fork: {e}"))?;
    // The armed multishot read: one `io_poll_wake` entry, which stays.
    let view = wq_view::show_callbacks(&[t.port], "io_uring_enter() with READ_MULTISHOT armed");
    println!(
        "{:>4} {:>6} {:>6}  {:>5}  {:>16}",
        "seq", "buffer", "bytes", "more", "send -> seen"
    );
    let mut got = 0;
    while got < t.count {
        if let Err(e) = enter(ring, 1, t.patience_ns()) {
            traffic::kill_sender(sender);
            return Err(e);
        }
        let seen = now_ns();
        let done: Vec<cqueue::Entry> = ring.completion().collect();
        for c in done {
            if c.user_data() != MULTISHOT {
                continue;
            }
            let Some(bid) = cqueue::buffer_select(c.flags()) else {
                traffic::kill_sender(sender);
                return Err(format!(
                    "READ_MULTISHOT completed without a buffer: {}",
                    traffic::errno_text(-c.result())
                ));
            };
            let n = c.result().max(0) as usize;
            let at = bid as usize * size;
            let (seq, sent) = traffic::decode(&pool[at..at + n]).unwrap_or((u32::MAX, seen));
            let more = cqueue::more(c.flags());
            println!(
                "{seq:>4} {bid:>6} {n:>6}  {more:>5}  {:>16}",
                fmt_ns(seen.saturating_sub(sent))
            );
            got += 1;
            // The buffer is ours again: give it back to the group.
            push(ring, &provide(&mut pool, bid, 1))?;
            if !more {
                // Disarmed (no buffer was left): arm it again.
                push(
                    ring,
                    &opcode::ReadMulti::new(types::Fd(fd), 0, GROUP)
                        .build()
                        .user_data(MULTISHOT),
                )?;
            }
        }
    }
    let _ = view.join();
    traffic::wait_sender(sender)?;
    cancel_all(ring, vec![MULTISHOT], t.patience_ns())
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
    fn depth_bounds() {
        assert_eq!(Cli::try_parse_from(["sample-io-uring"]).unwrap().depth, 4);
        assert!(Cli::try_parse_from(["sample-io-uring", "--depth", "0"]).is_err());
    }
}
