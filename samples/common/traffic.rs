//! What the I/O-model samples share, included by each with
//! `#[path = "../../common/traffic.rs"] mod traffic;`, so that every sample
//! stays one package and one binary: the command-line options of the
//! traffic, opening and binding the receiver's endpoint, the sender process,
//! the datagram payload, the clock and the summaries.
//!
//! The sender is a forked child with its own endpoint (its own open of
//! /dev/simnic, so its own ephemeral port) that sends `count` datagrams to
//! the receiver's port with `ioctl(SIMNIC_IOC_SENDTO)`, one every
//! `interval_ms`; samples with several endpoints give it a schedule instead,
//! rounds of datagrams to several ports ([`spawn_sender_rounds`]). Each
//! payload carries its sequence number and the CLOCK_MONOTONIC time it was
//! sent, a clock the receiver can read too.

use std::ffi::CStr;
use std::io::{self, Write};
use std::os::fd::RawFd;

use simnic::uapi::{SendTo, SIMNIC_IOC_BIND, SIMNIC_IOC_SENDTO};

/// Device node the samples open.
pub const DEVICE: &CStr = c"/dev/simnic";

/// Bytes of the payload header: seq (u32 LE), then the send time (u64 LE).
pub const PAYLOAD_HEADER: usize = 12;

/// The traffic the samples receive.
#[derive(Clone, Debug, clap::Args)]
pub struct Traffic {
    /// Port to bind the receiving endpoint to.
    #[arg(short, long, default_value_t = 7000,
          value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub port: u32,
    /// Datagrams to send.
    #[arg(short = 'n', long, default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,
    /// Milliseconds the sender waits before each datagram.
    #[arg(short, long, default_value_t = 100)]
    pub interval_ms: u64,
    /// Payload bytes per datagram (at least 12: sequence number and send
    /// time).
    #[arg(short, long, default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(PAYLOAD_HEADER as i64..=simnic::MAX_DATAGRAM as i64))]
    pub size: u32,
}

impl Traffic {
    /// How long a receiver waits for one datagram before concluding it was
    /// lost: the sender's interval plus five seconds of slack.
    pub fn patience_ns(&self) -> u64 {
        self.interval_ms * 1_000_000 + 5_000_000_000
    }
}

/// Restores the default action of SIGPIPE, which Rust's runtime ignores: a
/// sample piped into `head` then ends quietly, sender included, when the
/// reader goes away, instead of panicking on a failed print.
pub fn default_sigpipe() {
    // SAFETY: changes a signal disposition; called before any thread or
    // child exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// The receiver's endpoint: opens the device with `flags` and binds it to
/// `port` with `ioctl(SIMNIC_IOC_BIND)`, printing each call; returns the
/// descriptor. The flags are what tell the I/O models apart, so each sample
/// passes its own, with `flags_text` to show them as C spells them and
/// `note` to say what they mean.
pub fn open_and_bind(
    flags: libc::c_int,
    flags_text: &str,
    note: &str,
    port: u32,
) -> Result<RawFd, String> {
    let fd = open_and_bind_quietly(flags, flags_text, port)?;
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    println!("receiver (pid {pid}): open(\"/dev/simnic\", {flags_text}) = {fd}   {note}");
    println!("receiver: ioctl({fd}, SIMNIC_IOC_BIND, &{port}) = 0");
    Ok(fd)
}

/// [`open_and_bind`] without printing, for samples that open many
/// endpoints and print them as one line.
pub fn open_and_bind_quietly(
    flags: libc::c_int,
    flags_text: &str,
    port: u32,
) -> Result<RawFd, String> {
    // SAFETY: DEVICE is a NUL-terminated path.
    let fd = unsafe { libc::open(DEVICE.as_ptr(), flags) };
    if fd < 0 {
        return Err(format!(
            "open(\"/dev/simnic\", {flags_text}): {}",
            errno_text(errno())
        ));
    }
    // SAFETY: the argument is a pointer to a live u32, as _IOW(.., u32) wants.
    let rc = unsafe { libc::ioctl(fd, SIMNIC_IOC_BIND as libc::Ioctl, &port as *const u32) };
    if rc < 0 {
        let e = errno();
        let hint = if e == libc::EADDRINUSE {
            ": another endpoint has that port, pick one with --port"
        } else {
            ""
        };
        return Err(format!(
            "ioctl({fd}, SIMNIC_IOC_BIND, &{port}): {}{hint}",
            errno_text(e)
        ));
    }
    Ok(fd)
}

/// The errno of the last failed call.
pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `errno` for messages: "EAGAIN (Resource temporarily unavailable)".
pub fn errno_text(errno: i32) -> String {
    simnic::describe(&io::Error::from_raw_os_error(errno))
}

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to fill; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The smallest step CLOCK_MONOTONIC is seen to advance by: the first
/// change between back-to-back readings (given up after 0.1 s of CPU).
pub fn clock_step_ns() -> u64 {
    let t0 = now_ns();
    for _ in 0..10_000_000 {
        let t = now_ns();
        if t != t0 {
            return t - t0;
        }
    }
    u64::MAX
}

/// A warning for the top of the output when the clock is too coarse for
/// the times the samples show. A kernel that could not calibrate its TSC
/// (as happens in a QEMU TCG guest without HPET or ACPI PM timer) falls
/// back to the `jiffies` clocksource, whose time advances one scheduler
/// tick at a time: times shorter than a tick then read as 0 ns or as whole
/// ticks.
pub fn clock_warning() -> Option<String> {
    let step = clock_step_ns();
    if step < 1_000_000 {
        return None;
    }
    let source =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .map(|s| format!(" (clocksource {})", s.trim()))
            .unwrap_or_default();
    Some(format!(
        "warning: CLOCK_MONOTONIC advances in steps of {}{source}: times below that \
         read as 0 or as whole steps",
        fmt_ns(step)
    ))
}

/// Sleeps `ns` nanoseconds with nanosleep(), resuming after signals.
pub fn sleep_ns(ns: u64) {
    let mut req = libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    let mut rem = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: both are valid timespecs; on EINTR `rem` holds what is left.
    while unsafe { libc::nanosleep(&req, &mut rem) } != 0 && errno() == libc::EINTR {
        req = rem;
    }
}

/// A duration for people: "812 ns", "45.3 us", "100.1 ms", "1.50 s".
pub fn fmt_ns(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} us", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

/// Writes the payload of datagram `seq`, sent at `sent_ns`, into `buf`
/// (at least [`PAYLOAD_HEADER`] bytes; the rest is zeroed).
pub fn encode(buf: &mut [u8], seq: u32, sent_ns: u64) {
    buf.fill(0);
    buf[0..4].copy_from_slice(&seq.to_le_bytes());
    buf[4..12].copy_from_slice(&sent_ns.to_le_bytes());
}

/// The sequence number and send time of a received payload; `None` when it
/// is shorter than [`PAYLOAD_HEADER`] (not from our sender).
pub fn decode(payload: &[u8]) -> Option<(u32, u64)> {
    let seq = u32::from_le_bytes(payload.get(0..4)?.try_into().ok()?);
    let sent = u64::from_le_bytes(payload.get(4..12)?.try_into().ok()?);
    Some((seq, sent))
}

/// Minimum, median and maximum of `values` (the median of an even count is
/// the lower middle value); `None` for no values.
pub fn min_median_max(values: &[u64]) -> Option<(u64, u64, u64)> {
    let mut v = values.to_vec();
    v.sort_unstable();
    Some((*v.first()?, v[(v.len() - 1) / 2], *v.last()?))
}

/// One summary line: "name  min X  median Y  max Z".
pub fn summary_line(name: &str, values: &[u64]) -> String {
    match min_median_max(values) {
        Some((lo, mid, hi)) => format!(
            "{name:<28} min {:>10}   median {:>10}   max {:>10}",
            fmt_ns(lo),
            fmt_ns(mid),
            fmt_ns(hi)
        ),
        None => format!("{name:<28} (no datagrams)"),
    }
}

/// Forks the sender (see the module documentation) and returns its pid.
/// `inherited` is the receiver's descriptor, which the child closes first:
/// a forked descriptor would share the receiver's endpoint.
pub fn spawn_sender(traffic: &Traffic, inherited: RawFd) -> io::Result<libc::pid_t> {
    let rounds = vec![vec![traffic.port]; traffic.count as usize];
    spawn_sender_rounds(traffic, &rounds, &[inherited])
}

/// Forks a sender that follows a schedule instead of sending `count`
/// datagrams to `port`: before each round it waits `interval_ms`, then
/// sends one datagram to each port of the round, back to back. Sequence
/// numbers count every datagram of the schedule, from 0, in order. The
/// child closes the receiver's descriptors `inherited` first (see
/// [`spawn_sender`]).
pub fn spawn_sender_rounds(
    traffic: &Traffic,
    rounds: &[Vec<u32>],
    inherited: &[RawFd],
) -> io::Result<libc::pid_t> {
    // Anything buffered would otherwise be printed twice.
    io::stdout().flush()?;
    // SAFETY: the process is single-threaded here, so the child may run
    // ordinary code; it leaves through _exit, never returning.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        for &fd in inherited {
            // SAFETY: `fd` is the child's copy; nothing else uses it.
            unsafe { libc::close(fd) };
        }
        let status = sender(traffic, rounds);
        let _ = io::stdout().flush();
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(status) };
    }
    Ok(pid)
}

/// What the sender says it will do, after its open(): "every 100 ms
/// ioctl(...)" for the plain schedule, a count of rounds otherwise.
fn schedule_text(t: &Traffic, fd: RawFd, rounds: &[Vec<u32>]) -> String {
    let call = |port: &str| {
        format!(
            "ioctl({fd}, SIMNIC_IOC_SENDTO, {{port={port}, len={}}})",
            t.size
        )
    };
    if rounds.iter().all(|r| r.len() == 1 && r[0] == t.port) {
        return format!(
            "then every {} ms {}",
            t.interval_ms,
            call(&t.port.to_string())
        );
    }
    let mut ports: Vec<u32> = rounds.iter().flatten().copied().collect();
    let datagrams = ports.len();
    ports.sort_unstable();
    ports.dedup();
    if let ([port], Some(first)) = (ports.as_slice(), rounds.first()) {
        if rounds.iter().all(|r| r.len() == first.len()) {
            return format!(
                "then every {} ms {} x {}, back to back ({} rounds)",
                t.interval_ms,
                call(&port.to_string()),
                first.len(),
                rounds.len()
            );
        }
    }
    format!(
        "then every {} ms a round of {} calls, back to back: {} rounds, {datagrams} datagrams \
         to {} ports",
        t.interval_ms,
        call("P"),
        rounds.len(),
        ports.len()
    )
}

/// The child's work; its exit status.
fn sender(t: &Traffic, rounds: &[Vec<u32>]) -> i32 {
    // SAFETY: DEVICE is a NUL-terminated path.
    let fd = unsafe { libc::open(DEVICE.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        eprintln!("sender: open(/dev/simnic): {}", errno_text(errno()));
        return 1;
    }
    println!(
        "sender  (pid {}): open(\"/dev/simnic\", O_RDWR) = {fd}, {}",
        // SAFETY: getpid has no preconditions.
        unsafe { libc::getpid() },
        schedule_text(t, fd, rounds)
    );
    let mut buf = vec![0u8; t.size as usize];
    let mut busy = 0u64;
    let mut seq = 0u32;
    for round in rounds {
        sleep_ns(t.interval_ms * 1_000_000);
        for &port in round {
            loop {
                encode(&mut buf, seq, now_ns());
                let arg = SendTo {
                    buf: buf.as_ptr() as u64,
                    len: t.size,
                    port,
                    flags: 0,
                    reserved: 0,
                };
                // SAFETY: `arg` is a live SendTo describing the live `buf`.
                let n = unsafe {
                    libc::ioctl(fd, SIMNIC_IOC_SENDTO as libc::Ioctl, &arg as *const SendTo)
                };
                if n >= 0 {
                    break;
                }
                let e = errno();
                if e != libc::ENOBUFS {
                    eprintln!("sender: ioctl(SIMNIC_IOC_SENDTO) #{seq}: {}", errno_text(e));
                    return 1;
                }
                // TX ring full: the NIC has not caught up; try again shortly.
                busy += 1;
                sleep_ns(100_000);
            }
            seq += 1;
        }
    }
    if busy > 0 {
        println!("sender: the TX ring was full {busy} times (ENOBUFS, retried)");
    }
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    0
}

/// Waits for the sender and reports how it ended.
pub fn wait_sender(pid: libc::pid_t) -> Result<(), String> {
    let mut status = 0;
    // SAFETY: `status` is a valid int to fill.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        if errno() != libc::EINTR {
            return Err(format!("waitpid({pid}): {}", errno_text(errno())));
        }
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else {
        Err(format!(
            "the sender (pid {pid}) failed (wait status {status:#x})"
        ))
    }
}

/// Ends a sender that is no longer wanted (the receiver gave up), without
/// leaving a zombie.
pub fn kill_sender(pid: libc::pid_t) {
    // SAFETY: `pid` is our child, not yet waited for.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = wait_sender(pid);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        let mut buf = [0xffu8; 20];
        encode(&mut buf, 7, 0x0102_0304_0506_0708);
        assert_eq!(decode(&buf), Some((7, 0x0102_0304_0506_0708)));
        assert_eq!(&buf[..4], &[7, 0, 0, 0]);
        assert_eq!(&buf[12..], &[0u8; 8], "the rest is zeroed");
        assert_eq!(
            decode(&buf[..PAYLOAD_HEADER]),
            Some((7, 0x0102_0304_0506_0708))
        );
        assert_eq!(decode(&buf[..PAYLOAD_HEADER - 1]), None);
        assert_eq!(decode(&[]), None);
    }

    #[test]
    fn summaries() {
        assert_eq!(min_median_max(&[]), None);
        assert_eq!(min_median_max(&[5]), Some((5, 5, 5)));
        assert_eq!(min_median_max(&[9, 1, 5]), Some((1, 5, 9)));
        assert_eq!(min_median_max(&[4, 1, 3, 2]), Some((1, 2, 4)));
        let line = summary_line("wait", &[1_000, 2_000_000, 3]);
        assert!(line.contains("min       3 ns"), "{line}");
        assert!(line.contains("median     1.0 us"), "{line}");
        assert!(line.contains("max     2.0 ms"), "{line}");
        assert!(summary_line("x", &[]).ends_with("(no datagrams)"));
    }

    #[test]
    fn schedule_texts() {
        let t = Traffic {
            port: 7000,
            count: 2,
            interval_ms: 10,
            size: 64,
        };
        assert_eq!(
            schedule_text(&t, 3, &[vec![7000], vec![7000]]),
            "then every 10 ms ioctl(3, SIMNIC_IOC_SENDTO, {port=7000, len=64})"
        );
        let burst = schedule_text(&t, 3, &[vec![7001, 7001], vec![7001, 7001]]);
        assert!(
            burst.ends_with("{port=7001, len=64}) x 2, back to back (2 rounds)"),
            "{burst}"
        );
        let spread = schedule_text(&t, 3, &[vec![7000, 7001], vec![7002]]);
        assert!(
            spread.ends_with("2 rounds, 3 datagrams to 3 ports"),
            "{spread}"
        );
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(fmt_ns(812), "812 ns");
        assert_eq!(fmt_ns(45_300), "45.3 us");
        assert_eq!(fmt_ns(100_100_000), "100.1 ms");
        assert_eq!(fmt_ns(1_500_000_000), "1.50 s");
    }

    #[test]
    fn clock_step_is_positive() {
        // Whatever the machine, two readings eventually differ, by less than
        // the 0.1 s the search may take.
        let step = clock_step_ns();
        assert!(step > 0 && step < 100_000_000, "step {step}");
    }

    #[test]
    fn clock_and_sleep_agree() {
        let t0 = now_ns();
        sleep_ns(2_000_000);
        let dt = now_ns() - t0;
        assert!(dt >= 2_000_000, "slept only {dt} ns");
    }
}
