//! sample-epoll: epoll on /dev/simnic, level-triggered and edge-triggered
//! side by side.
//!
//! epoll is Linux's answer to the rescans of `select()` and `poll()` (see
//! `sample-select`, `sample-poll`): the set of watched descriptors lives in
//! the kernel (`epoll_create1`, `epoll_ctl`), and each watched descriptor's
//! wait queue carries an epoll callback (`ep_poll_callback`) that the driver's
//! wake-up runs when a datagram arrives, putting the descriptor on a ready
//! list. `epoll_wait()` then returns the ready descriptors only. The two
//! phases are those of I/O multiplexing: phase 1, **waiting for the data**,
//! is `epoll_wait()`; phase 2, **copying the data**, is the `read()` after it.
//!
//! The ready list is where the two ways of registering differ:
//!
//! * **level-triggered** (the default): after reporting a descriptor,
//!   `epoll_wait()` puts it back on the ready list, and the next call asks
//!   the driver's `->poll` again: *as long as a datagram is queued* the
//!   endpoint is reported, on every call. Reading one datagram per event is
//!   fine: what is left is reported next time.
//! * **edge-triggered** (`EPOLLET`): a descriptor is reported once per
//!   wake-up, that is once per *arrival*; a datagram left in the queue is not
//!   reported again until another one arrives. So an edge-triggered reader
//!   must drain: `read()` until `EAGAIN` (the endpoints are `O_NONBLOCK` for
//!   that).
//! * **one-shot** (`EPOLLONESHOT`, with `--oneshot`): reported once, then
//!   disarmed whatever arrives, until `epoll_ctl(EPOLL_CTL_MOD)` re-arms it.
//!
//! Part 1 shows this step by step, without timing: each endpoint sends two
//! datagrams to itself (a `write()` goes to the endpoint's own port), the
//! program reads one and leaves the other queued on purpose, and calls
//! `epoll_wait()` again: look for the level-triggered endpoint reported on
//! every call and the edge-triggered one on none, although `queued = 1`,
//! until a new datagram arrives.
//!
//! Part 2 is an event loop with a forked sender that sends, every interval,
//! `--burst` datagrams to each endpoint, with the two phases of each datagram
//! timed and a count of events, reads and `EAGAIN`s per endpoint: the
//! level-triggered endpoint needs one event per datagram, the edge-triggered
//! one a read more per event (the `EAGAIN` that ends the drain).
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

use multiplex::{epoll_names, Endpoints, Tally, Waited};
use simnic::uapi::{EpStats, SIMNIC_IOC_EP_STATS};
use traffic::{errno, errno_text, fmt_ns, now_ns, Traffic};

/// Watch a level-triggered and an edge-triggered endpoint in one epoll set
/// and show how differently they are reported.
#[derive(Debug, Parser)]
#[command(name = "sample-epoll", version)]
struct Cli {
    #[command(flatten)]
    traffic: Traffic,
    /// Datagrams the sender sends to each endpoint in each round, back to
    /// back (--count is the number of rounds).
    #[arg(short, long, value_name = "B", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    burst: u32,
    /// Also watch a third endpoint, registered with EPOLLONESHOT and
    /// re-armed with EPOLL_CTL_MOD after each event.
    #[arg(long)]
    oneshot: bool,
}

fn main() -> ExitCode {
    traffic::default_sigpipe();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sample-epoll: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// How an endpoint is registered in the epoll set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    Level,
    Edge,
    OneShot,
}

impl Trigger {
    /// The `events` of its `epoll_ctl()`.
    fn events(self) -> u32 {
        let flags = match self {
            Trigger::Level => 0,
            Trigger::Edge => libc::EPOLLET,
            Trigger::OneShot => libc::EPOLLONESHOT,
        };
        (libc::EPOLLIN | flags) as u32
    }

    /// Its short name in the output.
    fn label(self) -> &'static str {
        match self {
            Trigger::Level => "lt",
            Trigger::Edge => "et",
            Trigger::OneShot => "os",
        }
    }
}

/// One watched endpoint and what happened to it in part 2.
struct Watched {
    fd: RawFd,
    port: u32,
    trigger: Trigger,
    /// Events epoll_wait() reported for it.
    events: u64,
    /// read() calls, and how many of them returned EAGAIN.
    reads: u64,
    eagains: u64,
    /// Datagrams read.
    datagrams: u64,
    /// EPOLL_CTL_MOD calls that re-armed it.
    rearms: u64,
}

fn run(cli: &Cli) -> Result<(), String> {
    if let Some(warning) = traffic::clock_warning() {
        println!("{warning}");
    }
    let t = &cli.traffic;
    let triggers: &[Trigger] = if cli.oneshot {
        &[Trigger::Level, Trigger::Edge, Trigger::OneShot]
    } else {
        &[Trigger::Level, Trigger::Edge]
    };
    // O_NONBLOCK: an edge-triggered reader reads until EAGAIN.
    let mut eps = Endpoints::open(
        triggers.len(),
        libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        "O_RDWR|O_NONBLOCK",
        "(reads never sleep: epoll_wait() does the waiting)",
        t.port,
    )?;
    let mut watched: Vec<Watched> = triggers
        .iter()
        .zip(eps.fds.iter().zip(&eps.ports))
        .map(|(&trigger, (&fd, &port))| Watched {
            fd,
            port,
            trigger,
            events: 0,
            reads: 0,
            eagains: 0,
            datagrams: 0,
            rearms: 0,
        })
        .collect();
    let result = epoll_create().and_then(|epfd| {
        let r = with_epoll(cli, epfd, &mut watched, &eps);
        // SAFETY: our own descriptor.
        unsafe { libc::close(epfd) };
        r
    });
    eps.close();
    result
}

/// Everything after epoll_create1(): registration, part 1, part 2, summary.
fn with_epoll(
    cli: &Cli,
    epfd: RawFd,
    watched: &mut [Watched],
    eps: &Endpoints,
) -> Result<(), String> {
    let t = &cli.traffic;
    for (i, w) in watched.iter().enumerate() {
        epoll_ctl(epfd, libc::EPOLL_CTL_ADD, w, i)?;
    }

    println!();
    println!("== Part 1: level-triggered against edge-triggered, step by step ==");
    part1(epfd, watched, t.patience_ns())?;

    println!();
    println!("== Part 2: an event loop, with a sender ==");
    let mut rounds = Vec::new();
    for _ in 0..t.count {
        let mut round = Vec::new();
        for w in watched.iter() {
            round.extend(std::iter::repeat_n(w.port, cli.burst as usize));
        }
        rounds.push(round);
    }
    let mut tally = Tally::new(&rounds);
    println!("receiver: phase 1: epoll_wait({epfd}, events, 8, timeout); phase 2, for each event:");
    for w in watched.iter() {
        let what = match w.trigger {
            Trigger::Level => "one read() per event: the next epoll_wait() reports what is left",
            Trigger::Edge => "read() until EAGAIN: nothing would report what is left",
            Trigger::OneShot => "read() until EAGAIN, then EPOLL_CTL_MOD to re-arm",
        };
        println!("receiver:   {} (fd {}): {what}", w.trigger.label(), w.fd);
    }
    let sender =
        traffic::spawn_sender_rounds(t, &rounds, &eps.fds).map_err(|e| format!("fork: {e}"))?;
    println!();
    // What epoll hooked on each endpoint's queue at EPOLL_CTL_ADD, seen
    // while epoll_wait() sleeps.
    let view = wq_view::show_callbacks(&eps.ports, "epoll_wait()");
    let received = part2(epfd, watched, t.patience_ns(), &mut tally);
    let _ = view.join();
    if let Err(msg) = received {
        traffic::kill_sender(sender);
        return Err(msg);
    }
    traffic::wait_sender(sender)?;

    println!();
    tally.print_summary("epoll_wait");
    println!();
    println!(
        "{:<4} {:<22} {:>9} {:>7} {:>7} {:>7} {:>8}",
        "", "registered with", "datagrams", "events", "reads", "EAGAIN", "re-arms"
    );
    for w in watched.iter() {
        println!(
            "{:<4} {:<22} {:>9} {:>7} {:>7} {:>7} {:>8}",
            w.trigger.label(),
            epoll_names(w.trigger.events()),
            w.datagrams,
            w.events,
            w.reads,
            w.eagains,
            w.rearms
        );
    }
    println!();
    println!(
        "Level-triggered, one read per event: {} datagrams took {} events, the later ones of each \
         burst reported at once because data was still queued. Edge-triggered: one event per \
         arrival that found the queue drained, and each drain ends with a read that returns \
         EAGAIN: skip it and a datagram can sit unreported (part 1).",
        watched[0].datagrams, watched[0].events
    );
    Ok(())
}

/// epoll_create1(EPOLL_CLOEXEC), printed.
fn epoll_create() -> Result<RawFd, String> {
    // SAFETY: no pointers involved.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
        return Err(format!("epoll_create1: {}", errno_text(errno())));
    }
    println!("receiver: epoll_create1(EPOLL_CLOEXEC) = {epfd}");
    Ok(epfd)
}

/// epoll_ctl(epfd, op, w.fd, {w's events, data.u64 = token}), printed.
fn epoll_ctl(epfd: RawFd, op: libc::c_int, w: &Watched, token: usize) -> Result<(), String> {
    let mut ev = libc::epoll_event {
        events: w.trigger.events(),
        u64: token as u64,
    };
    let op_name = match op {
        libc::EPOLL_CTL_ADD => "EPOLL_CTL_ADD",
        libc::EPOLL_CTL_MOD => "EPOLL_CTL_MOD",
        _ => "EPOLL_CTL_DEL",
    };
    let call = format!(
        "epoll_ctl({epfd}, {op_name}, {}, {{{}, data.u64 = {token}}})",
        w.fd,
        epoll_names(w.trigger.events())
    );
    // SAFETY: `ev` is a live epoll_event.
    if unsafe { libc::epoll_ctl(epfd, op, w.fd, &mut ev) } < 0 {
        return Err(format!("{call}: {}", errno_text(errno())));
    }
    let note = match (op, w.trigger) {
        (libc::EPOLL_CTL_ADD, Trigger::Level) => "   lt: level-triggered (the default)",
        (libc::EPOLL_CTL_ADD, Trigger::Edge) => "   et: edge-triggered",
        (libc::EPOLL_CTL_ADD, Trigger::OneShot) => "   os: one event, then disarmed",
        _ => "",
    };
    println!("{call} = 0{note}");
    Ok(())
}

/// One epoll_wait() with room for 8 events, printed by the caller.
fn epoll_wait(epfd: RawFd, timeout_ms: i32) -> Result<Waited, String> {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
    multiplex::epoll_wait_timed(epfd, &mut events, timeout_ms)
}

/// epoll_wait()'s result for people: "= 2: lt EPOLLIN|EPOLLRDNORM, et ...".
fn fmt_ready(ready: &[(usize, u32)], watched: &[Watched]) -> String {
    let list: Vec<String> = ready
        .iter()
        .map(|&(i, ev)| format!("{} {}", watched[i].trigger.label(), epoll_names(ev)))
        .collect();
    if list.is_empty() {
        format!("= {}", ready.len())
    } else {
        format!("= {}: {}", ready.len(), list.join(", "))
    }
}

/// Datagrams waiting in `fd`'s receive queue (`SIMNIC_IOC_EP_STATS`).
fn queued(fd: RawFd) -> Result<u32, String> {
    let mut st = EpStats::default();
    // SAFETY: `st` is a live EpStats, which the request fills.
    let rc = unsafe {
        libc::ioctl(
            fd,
            SIMNIC_IOC_EP_STATS as libc::Ioctl,
            &mut st as *mut EpStats,
        )
    };
    if rc < 0 {
        return Err(format!(
            "ioctl({fd}, SIMNIC_IOC_EP_STATS): {}",
            errno_text(errno())
        ));
    }
    Ok(st.queued)
}

/// Waits (1 ms naps) until `fd` has `want` datagrams queued: the NIC
/// delivers a write() asynchronously. Prints the count it saw.
fn wait_queued(fd: RawFd, label: &str, want: u32, patience_ns: u64) -> Result<(), String> {
    let deadline = now_ns() + patience_ns;
    loop {
        let q = queued(fd)?;
        if q >= want {
            println!("ioctl({fd}, SIMNIC_IOC_EP_STATS): {label} has queued = {q}");
            return Ok(());
        }
        if now_ns() > deadline {
            return Err(format!(
                "{label}: {q} datagrams queued after {}, expected {want}",
                fmt_ns(patience_ns)
            ));
        }
        traffic::sleep_ns(1_000_000);
    }
}

/// write(fd, text): a datagram to the endpoint's own port.
fn write_self(fd: RawFd, text: &str) -> Result<(), String> {
    // SAFETY: the pointer and length describe the live string.
    let n = unsafe { libc::write(fd, text.as_ptr().cast(), text.len()) };
    if n < 0 {
        return Err(format!("write({fd}, \"{text}\"): {}", errno_text(errno())));
    }
    println!("write({fd}, \"{text}\", {}) = {n}", text.len());
    Ok(())
}

/// read(fd) of a part-1 datagram, printed with its text; `None` on EAGAIN.
fn read_text(fd: RawFd, note: &str) -> Result<Option<String>, String> {
    let mut buf = [0u8; 64];
    match multiplex::read_timed(fd, &mut buf)? {
        Some((n, _)) => {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            println!("read({fd}, buf, {}) = {n} \"{text}\"{note}", buf.len());
            Ok(Some(text))
        }
        None => {
            println!("read({fd}, buf, {}) = -1 EAGAIN{note}", buf.len());
            Ok(None)
        }
    }
}

/// Part 1: the two triggers step by step (see the module documentation).
fn part1(epfd: RawFd, watched: &[Watched], patience_ns: u64) -> Result<(), String> {
    let (lt, et) = (&watched[0], &watched[1]);
    let long_ms = (patience_ns / 1_000_000) as i32;
    let show = |ready: &[(usize, u32)], timeout: i32, note: &str| {
        println!(
            "epoll_wait({epfd}, events, 8, {timeout}) {}{note}",
            fmt_ready(ready, watched)
        );
    };
    println!("Each endpoint sends two datagrams to itself (write() goes to its own port):");
    for w in [lt, et] {
        let l = w.trigger.label();
        write_self(w.fd, &format!("{l}-1"))?;
        write_self(w.fd, &format!("{l}-2"))?;
    }
    for w in [lt, et] {
        wait_queued(w.fd, w.trigger.label(), 2, patience_ns)?;
    }
    let ready = epoll_wait(epfd, 0)?.ready;
    show(&ready, 0, "   both arrived: both reported");
    println!("Read one datagram from each, and leave the other queued on purpose:");
    read_text(lt.fd, "")?;
    read_text(et.fd, "")?;
    for i in 0..3 {
        let ready = epoll_wait(epfd, 0)?.ready;
        let note = if i == 0 {
            "   lt still readable: reported again; et: not"
        } else {
            "   again"
        };
        show(&ready, 0, note);
    }
    println!(
        "ioctl({}, SIMNIC_IOC_EP_STATS): et has queued = {}   a datagram is waiting, \
         but edge-triggered epoll reported it once, at its arrival",
        et.fd,
        queued(et.fd)?
    );
    read_text(lt.fd, "   lt's second")?;
    let ready = epoll_wait(epfd, 0)?.ready;
    show(
        &ready,
        0,
        "   lt empty now: level-triggered reports nothing either",
    );
    println!("A new arrival on et is a new edge:");
    write_self(et.fd, "et-3")?;
    let w = epoll_wait(epfd, long_ms)?;
    show(
        &w.ready,
        long_ms,
        &format!(
            "   after {}: et reported, for the new datagram",
            fmt_ns(w.wait_ns)
        ),
    );
    println!("So an edge-triggered reader drains the queue, until EAGAIN:");
    read_text(et.fd, "   the one left behind")?;
    read_text(et.fd, "   the new one")?;
    read_text(et.fd, "   empty: only now may we wait again")?;
    let ready = epoll_wait(epfd, 0)?.ready;
    show(&ready, 0, "");

    if let Some(os) = watched.get(2) {
        part1_oneshot(epfd, watched, os, patience_ns)?;
    }
    Ok(())
}

/// Part 1 for the EPOLLONESHOT endpoint.
fn part1_oneshot(
    epfd: RawFd,
    watched: &[Watched],
    os: &Watched,
    patience_ns: u64,
) -> Result<(), String> {
    let show = |ready: &[(usize, u32)], note: &str| {
        println!(
            "epoll_wait({epfd}, events, 8, 0) {}{note}",
            fmt_ready(ready, watched)
        );
    };
    println!("EPOLLONESHOT: os sends two datagrams to itself:");
    write_self(os.fd, "os-1")?;
    write_self(os.fd, "os-2")?;
    wait_queued(os.fd, "os", 2, patience_ns)?;
    let ready = epoll_wait(epfd, 0)?.ready;
    show(&ready, "   reported once, and disarmed");
    read_text(os.fd, "")?;
    let ready = epoll_wait(epfd, 0)?.ready;
    show(&ready, "   queued = 1, but disarmed");
    write_self(os.fd, "os-3")?;
    wait_queued(os.fd, "os", 2, patience_ns)?;
    let ready = epoll_wait(epfd, 0)?.ready;
    show(&ready, "   not even a new arrival reports it");
    epoll_ctl(epfd, libc::EPOLL_CTL_MOD, os, 2)?;
    let ready = epoll_wait(epfd, 0)?.ready;
    show(
        &ready,
        "   re-armed: the MOD looked at the queue and found data",
    );
    while read_text(os.fd, "")?.is_some() {}
    epoll_ctl(epfd, libc::EPOLL_CTL_MOD, os, 2)?;
    Ok(())
}

/// Part 2: the event loop, until every datagram of the schedule is in.
fn part2(
    epfd: RawFd,
    watched: &mut [Watched],
    patience_ns: u64,
    tally: &mut Tally,
) -> Result<(), String> {
    let timeout_ms = (patience_ns / 1_000_000) as i32;
    let mut buf = vec![0u8; simnic::MAX_DATAGRAM + 1];
    while !tally.complete() {
        let Waited {
            ready,
            wait_ns,
            woke_ns,
        } = epoll_wait(epfd, timeout_ms)?;
        if ready.is_empty() {
            return Err(tally.timeout_error("epoll_wait", patience_ns));
        }
        println!(
            "epoll_wait({epfd}, events, 8, {timeout_ms}) = {}   phase 1: {}",
            ready.len(),
            fmt_ns(wait_ns)
        );
        for (i, events) in ready {
            let w = &mut watched[i];
            w.events += 1;
            let mut prefix = format!("  {} {}: ", w.trigger.label(), epoll_names(events));
            let indent = " ".repeat(prefix.len());
            loop {
                let got = multiplex::read_timed(w.fd, &mut buf)?;
                w.reads += 1;
                match got {
                    Some((n, copy_ns)) => {
                        w.datagrams += 1;
                        let note = tally.record(&buf[..n], w.port, wait_ns, copy_ns, woke_ns);
                        println!(
                            "{prefix}read({}, buf, {}) = {n}   phase 2: {:>9}   {note}",
                            w.fd,
                            buf.len(),
                            fmt_ns(copy_ns)
                        );
                    }
                    None => {
                        w.eagains += 1;
                        println!("{prefix}read({}, buf, {}) = -1 EAGAIN", w.fd, buf.len());
                        break;
                    }
                }
                prefix.clone_from(&indent);
                if w.trigger == Trigger::Level {
                    // One per event: a datagram left is reported again.
                    break;
                }
            }
            if w.trigger == Trigger::OneShot {
                print!("{indent}");
                epoll_ctl(epfd, libc::EPOLL_CTL_MOD, w, i)?;
                w.rearms += 1;
            }
        }
    }
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
        let cli = Cli::try_parse_from(["sample-epoll"]).unwrap();
        assert_eq!((cli.burst, cli.oneshot), (2, false));
        let cli = Cli::try_parse_from(["sample-epoll", "--oneshot", "-b", "5", "-n", "3"]).unwrap();
        assert_eq!((cli.burst, cli.oneshot, cli.traffic.count), (5, true, 3));
        assert!(Cli::try_parse_from(["sample-epoll", "--burst", "0"]).is_err());
    }

    #[test]
    fn registrations() {
        assert_eq!(epoll_names(Trigger::Level.events()), "EPOLLIN");
        assert_eq!(epoll_names(Trigger::Edge.events()), "EPOLLIN|EPOLLET");
        assert_eq!(
            epoll_names(Trigger::OneShot.events()),
            "EPOLLIN|EPOLLONESHOT"
        );
    }
}
