//! sample-blocking: the blocking I/O model on /dev/simnic, its two phases timed
//! apart.
//!
//! Stevens (UNIX Network Programming, vol. 1, section 6.2) splits every
//! input operation into two phases:
//!
//! 1. **waiting for the data to be ready**: here, until the simulated NIC
//!    has carried a datagram over the wire, raised its interrupt, and its
//!    NAPI poll has queued the datagram on our endpoint and woken us;
//! 2. **copying the data from the kernel to the process**: `read()` taking
//!    the datagram off the queue and copying it to our buffer.
//!
//! A blocking `read()` on an empty queue does both in one call, so timing
//! `read()` alone would fold the two together. The first datagram is read
//! that way, and while that `read()` sleeps the program shows the entry it
//! left on the endpoint's wait queue (the driver's wait-queue view:
//! `autoremove_wake_function`, exclusive, this task). For the others the
//! program separates the phases:
//! `poll(POLLIN)` sleeps through phase 1 and returns when a datagram is
//! queued; the `read()` that follows finds it there and does phase 2 only
//! (the time it shows includes entering and leaving the kernel, which for a
//! small datagram is most of it). The process sleeps in the kernel through
//! phase 1, so waiting costs no CPU: compare the `nonblocking` sample.
//!
//! The traffic comes from a forked sender with its own endpoint, which sends
//! to our port with `ioctl(SIMNIC_IOC_SENDTO)`; each payload carries its
//! sequence number and send time, so the program also shows how long a
//! datagram took from the sender's system call to our wake-up.
//!
//! Every system call is made directly through the `libc` crate, and the
//! program prints each one it makes.

#[path = "../../common/traffic.rs"]
mod traffic;
#[path = "../../common/wq_view.rs"]
#[allow(dead_code)] // shared by the samples; each uses part of it
mod wq_view;

use std::process::ExitCode;

use clap::Parser;

use traffic::{errno, errno_text, fmt_ns, now_ns, Traffic};

/// Receive datagrams with blocking calls and time the two phases of each
/// input operation: waiting for the data, then copying it.
#[derive(Debug, Parser)]
#[command(name = "sample-blocking", version)]
struct Cli {
    #[command(flatten)]
    traffic: Traffic,
    /// Sleep in read() itself, with no poll() first: the blocking model
    /// as it is, both phases in one call (timed together, in the copy
    /// column).
    #[arg(long)]
    no_poll: bool,
}

fn main() -> ExitCode {
    traffic::default_sigpipe();
    let cli = Cli::parse();
    match run(&cli.traffic, cli.no_poll) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sample-blocking: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// The measurements of one datagram.
struct Sample {
    /// Phase 1: from calling poll() until it returned (a datagram queued).
    wait_ns: u64,
    /// Phase 2: the read() that copied it out.
    copy_ns: u64,
    /// From the sender's send to our poll() returning.
    delivery_ns: u64,
}

fn run(t: &Traffic, no_poll: bool) -> Result<(), String> {
    if let Some(warning) = traffic::clock_warning() {
        println!("{warning}");
    }
    // No O_NONBLOCK: the read() and poll() below may sleep.
    let fd = traffic::open_and_bind(
        libc::O_RDWR | libc::O_CLOEXEC,
        "O_RDWR",
        "(no O_NONBLOCK: calls may sleep)",
        t.port,
    )?;
    let timeout_ms = (t.patience_ns() / 1_000_000) as libc::c_int;
    if no_poll {
        println!(
            "receiver: for each datagram, read({fd}, buf, 65536) sleeps until one is queued \
             (phase 1), then copies it out (phase 2): one call, timed as a whole."
        );
    } else {
        println!(
            "receiver: for each datagram, phase 1: poll([{{fd={fd}, events=POLLIN}}], 1, {timeout_ms}) \
             sleeps until one is queued;"
        );
        println!("receiver:                    phase 2: read({fd}, buf, 65536) copies it out.");
        println!(
            "receiver: the first datagram, though, with a plain read({fd}, buf, 65536) that sleeps \
             until it comes (both phases in one call)."
        );
    }
    let sender = traffic::spawn_sender(t, fd).map_err(|e| format!("fork: {e}"))?;

    println!();
    let (wait_col, copy_col, delivery_col) = if no_poll {
        ("-", "phases 1+2 (read)", "send -> read ends")
    } else {
        (
            "phase 1: wait (poll)",
            "phase 2: copy (read)",
            "send -> wake-up",
        )
    };
    println!(
        "{:>4} {:>6}  {:>20}  {:>20}  {:>16}",
        "seq", "bytes", wait_col, copy_col, delivery_col
    );
    let mut buf = vec![0u8; simnic::MAX_DATAGRAM + 1];
    let mut samples = Vec::new();
    for expected in 0..t.count {
        // Datagram 0 always with one blocking read(), whose wait the view
        // shows (the entry read() puts on the endpoint's queue).
        let got = if no_poll || expected == 0 {
            let view = (expected == 0).then(|| wq_view::show_callbacks(&[t.port], "read()"));
            let got = read_blocking(fd, &mut buf);
            if let Some(view) = view {
                let _ = view.join();
            }
            got
        } else {
            receive_one(fd, &mut buf, timeout_ms)
        };
        match got {
            Ok((n, sample)) => {
                let note = match traffic::decode(&buf[..n]) {
                    Some((seq, _)) if seq == expected => String::new(),
                    Some((seq, _)) => format!("  (seq {seq}: datagrams before it were lost)"),
                    None => "  (not from our sender)".to_string(),
                };
                println!(
                    "{expected:>4} {n:>6}  {:>20}  {:>20}  {:>16}{note}",
                    if no_poll || expected == 0 {
                        "-".to_string()
                    } else {
                        fmt_ns(sample.wait_ns)
                    },
                    fmt_ns(sample.copy_ns),
                    fmt_ns(sample.delivery_ns)
                );
                if no_poll || expected > 0 {
                    // In poll mode, datagram 0 (one read() for both
                    // phases) is left out of the phase summaries.
                    samples.push(sample);
                }
            }
            Err(msg) => {
                traffic::kill_sender(sender);
                return Err(msg);
            }
        }
    }
    traffic::wait_sender(sender)?;
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };

    let waits: Vec<u64> = samples.iter().map(|s| s.wait_ns).collect();
    let copies: Vec<u64> = samples.iter().map(|s| s.copy_ns).collect();
    let deliveries: Vec<u64> = samples.iter().map(|s| s.delivery_ns).collect();
    println!();
    if no_poll {
        println!("{}", traffic::summary_line("phases 1+2 (read)", &copies));
        println!(
            "{}",
            traffic::summary_line("send -> read ends", &deliveries)
        );
    } else {
        println!(
            "{}",
            traffic::summary_line("phase 1, waiting (poll)", &waits)
        );
        println!(
            "{}",
            traffic::summary_line("phase 2, copying (read)", &copies)
        );
        println!("{}", traffic::summary_line("send -> wake-up", &deliveries));
    }
    println!();
    println!(
        "Almost all of each input operation is phase 1, spent asleep in the kernel: \
         the CPU was free meanwhile."
    );
    Ok(())
}

/// One datagram with a read() that sleeps until it is queued: both phases
/// in one call, all of it counted as the copy. Returns the bytes read and
/// the timings.
fn read_blocking(fd: i32, buf: &mut [u8]) -> Result<(usize, Sample), String> {
    let t0 = now_ns();
    let n = loop {
        // SAFETY: the pointer and length describe the live, writable `buf`.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            break n as usize;
        }
        if errno() != libc::EINTR {
            return Err(format!("read({fd}): {}", errno_text(errno())));
        }
    };
    let t1 = now_ns();
    let sent = traffic::decode(&buf[..n]).map_or(t1, |(_, sent)| sent);
    Ok((
        n,
        Sample {
            wait_ns: 0,
            copy_ns: t1 - t0,
            delivery_ns: t1.saturating_sub(sent),
        },
    ))
}

/// One datagram: poll() until it is queued, then read() it. Returns the
/// bytes read and the timings.
fn receive_one(
    fd: i32,
    buf: &mut [u8],
    timeout_ms: libc::c_int,
) -> Result<(usize, Sample), String> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let t0 = now_ns();
    loop {
        // SAFETY: `pfd` is one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r > 0 {
            break;
        }
        if r == 0 {
            return Err(format!(
                "poll: no datagram within {timeout_ms} ms: was it dropped? \
                 (`simnicctl stats` counts rx_no_port, rx_queue_full, rx_missed)"
            ));
        }
        if errno() != libc::EINTR {
            return Err(format!("poll: {}", errno_text(errno())));
        }
    }
    let t1 = now_ns();
    // SAFETY: the pointer and length describe the live, writable `buf`.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    let t2 = now_ns();
    if n < 0 {
        return Err(format!("read({fd}): {}", errno_text(errno())));
    }
    let n = n as usize;
    let sent = traffic::decode(&buf[..n]).map_or(t1, |(_, sent)| sent);
    Ok((
        n,
        Sample {
            wait_ns: t1 - t0,
            copy_ns: t2 - t1,
            delivery_ns: t1.saturating_sub(sent),
        },
    ))
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
        let cli = Cli::try_parse_from(["sample-blocking"]).unwrap();
        assert!(!cli.no_poll);
        assert!(
            Cli::try_parse_from(["sample-blocking", "--no-poll"])
                .unwrap()
                .no_poll
        );
        let t = cli.traffic;
        assert_eq!(
            (t.port, t.count, t.interval_ms, t.size),
            (7000, 10, 100, 64)
        );
        let cli = Cli::try_parse_from([
            "sample-blocking",
            "-p",
            "9000",
            "-n",
            "3",
            "-i",
            "5",
            "-s",
            "12",
        ])
        .unwrap();
        let t = cli.traffic;
        assert_eq!((t.port, t.count, t.interval_ms, t.size), (9000, 3, 5, 12));
        for bad in [
            &["--port", "0"][..],
            &["--port", "65536"],
            &["--size", "11"],
            &["--count", "0"],
        ] {
            let args = std::iter::once("sample-blocking").chain(bad.iter().copied());
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?} accepted");
        }
    }
}
