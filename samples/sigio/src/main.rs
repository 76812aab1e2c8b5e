//! sample-sigio: signal-driven I/O on /dev/simnic.
//!
//! In the signal-driven I/O model (Stevens, UNIX Network Programming,
//! vol. 1, section 6.2 and chapter 25) the process does not wait in a
//! system call at all: it asks the kernel to *send it a signal* when the
//! descriptor becomes readable, and is free until then. Phase 1, **waiting
//! for the data**, ends with the signal; phase 2, **copying the data**, is
//! the `read()` the program then makes.
//!
//! The set-up, each call printed:
//!
//! 1. `sigprocmask(SIG_BLOCK, {sig})`: the signal is blocked, so that it
//!    stays pending until the program asks for it (the default action of
//!    SIGIO and of the real-time signals is to end the process);
//! 2. `fcntl(fd, F_SETOWN, getpid())`: which process the signals go to;
//! 3. `fcntl(fd, F_SETSIG, SIGRTMIN)` (default, `--signal rt`): send this
//!    real-time signal instead of SIGIO, *with a siginfo* that says which
//!    descriptor (`si_fd`), why (`si_code`: `POLL_IN` = 1 for input,
//!    `POLL_OUT` = 2, `POLL_ERR` = 4, `POLL_HUP` = 6...) and the poll bits
//!    (`si_band`); `--signal sigio` skips it: plain SIGIO, whose siginfo
//!    says only `SI_KERNEL`;
//! 4. `fcntl(fd, F_SETFL, flags | O_ASYNC | O_NONBLOCK)`: `O_ASYNC` puts the
//!    file on the endpoint's fasync list, which the driver's `data_ready`
//!    (`sock_def_readable`) signals with `kill_fasync(POLL_IN)` for every
//!    datagram it queues; `O_NONBLOCK` because a signal says "something
//!    arrived", not how much, so the program reads until `EAGAIN`.
//!
//! Waiting is either `sigtimedwait()` (`--wait sigwait`, the default:
//! `sigwaitinfo()` with a timeout) or, as in Stevens' figure 6.4, a
//! `SA_SIGINFO` handler and `sigsuspend()` (`--wait handler`), which
//! unblocks the signal while it sleeps.
//!
//! What to look for: part 1 lets three datagrams arrive before the program
//! looks. Real-time signals *queue*: three signals, one per datagram, each
//! with its siginfo. SIGIO, like every standard signal, *coalesces*: one
//! pending SIGIO stands for any number of events. Either way one drain reads
//! all three datagrams, so with real-time signals the later signals find
//! nothing left ("stale"); with SIGIO a program must never assume one
//! datagram per signal. Part 2 receives a forked sender's traffic
//! (`--burst` datagrams per round) with the two phases timed.
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
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicUsize, Ordering};

use clap::{Parser, ValueEnum};

use multiplex::{poll_names, Tally};
use simnic::uapi::{EpStats, SIMNIC_IOC_EP_STATS};
use traffic::{errno, errno_text, fmt_ns, now_ns, Traffic};

/// `fcntl` command: the signal to send instead of SIGIO (`<fcntl.h>`,
/// Linux-specific; the libc crate lacks it).
const F_SETSIG: libc::c_int = 10;

/// `si_code` values of a SIGIO-type signal (`<asm-generic/siginfo.h>`).
const SI_CODES: [(libc::c_int, &str); 8] = [
    (1, "POLL_IN"),
    (2, "POLL_OUT"),
    (3, "POLL_MSG"),
    (4, "POLL_ERR"),
    (5, "POLL_PRI"),
    (6, "POLL_HUP"),
    (libc::SI_KERNEL, "SI_KERNEL"),
    (libc::SI_USER, "SI_USER"),
];

/// POLL_IN: the `si_code` of an input event.
const POLL_IN: libc::c_int = 1;

/// Receive datagrams through signal-driven I/O and show each signal's
/// siginfo.
#[derive(Debug, Parser)]
#[command(name = "sample-sigio", version)]
struct Cli {
    #[command(flatten)]
    traffic: Traffic,
    /// The signal the kernel sends.
    #[arg(long, value_enum, default_value_t = Signal::Rt)]
    signal: Signal,
    /// How the program waits for it.
    #[arg(long, value_enum, default_value_t = Wait::Sigwait)]
    wait: Wait,
    /// Datagrams in each round, back to back (--count is the number of
    /// rounds).
    #[arg(short, long, value_name = "B", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    burst: u32,
}

/// The signal the kernel sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Signal {
    /// F_SETSIG SIGRTMIN: queued, one per event, with si_fd, si_code and
    /// si_band.
    Rt,
    /// Plain SIGIO: coalesced, and its siginfo says only SI_KERNEL.
    Sigio,
}

/// How the program waits for the signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Wait {
    /// sigtimedwait() on the blocked signal (sigwaitinfo with a timeout).
    Sigwait,
    /// An SA_SIGINFO handler, and sigsuspend() to sleep with the signal
    /// unblocked (alarm() guards each against a signal that never comes).
    Handler,
}

fn main() -> ExitCode {
    traffic::default_sigpipe();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sample-sigio: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// What a signal told: the siginfo fields of a SIGIO-type signal.
#[derive(Clone, Copy, Debug)]
struct Info {
    signo: libc::c_int,
    code: libc::c_int,
    fd: libc::c_int,
    band: i64,
}

impl Info {
    /// "si_signo=SIGRTMIN (34), si_code=POLL_IN (1), si_fd=3,
    /// si_band=POLLIN|POLLRDNORM (0x41)".
    fn describe(&self) -> String {
        let code = SI_CODES
            .iter()
            .find(|&&(c, _)| c == self.code)
            .map_or("?", |&(_, name)| name);
        let mut s = format!(
            "si_signo={} ({}), si_code={code} ({:#x})",
            signame(self.signo),
            self.signo,
            self.code
        );
        if self.code == libc::SI_KERNEL {
            s.push_str(": no si_fd, no si_band, the program must find the ready fd itself");
        } else {
            s.push_str(&format!(
                ", si_fd={}, si_band={} ({:#x})",
                self.fd,
                poll_names(self.band),
                self.band
            ));
        }
        s
    }
}

/// "SIGIO", "SIGRTMIN", "SIGRTMIN+3", "SIGALRM", or the number.
fn signame(sig: libc::c_int) -> String {
    let rtmin = libc::SIGRTMIN();
    match sig {
        libc::SIGIO => "SIGIO".to_string(),
        libc::SIGALRM => "SIGALRM".to_string(),
        s if s == rtmin => "SIGRTMIN".to_string(),
        s if s > rtmin && s <= libc::SIGRTMAX() => format!("SIGRTMIN+{}", s - rtmin),
        s => s.to_string(),
    }
}

/// The handler's record of one signal, written in the handler, read by the
/// main program while the signal is blocked (so never both at once).
struct Slot {
    signo: AtomicI32,
    code: AtomicI32,
    fd: AtomicI32,
    band: AtomicI64,
}

/// Signals the handler can record before the main program reads them.
const SLOTS: usize = 256;

static RECORDS: [Slot; SLOTS] = [const {
    Slot {
        signo: AtomicI32::new(0),
        code: AtomicI32::new(0),
        fd: AtomicI32::new(0),
        band: AtomicI64::new(0),
    }
}; SLOTS];

/// Handler calls so far (may exceed SLOTS: the excess is not recorded).
static RECORDED: AtomicUsize = AtomicUsize::new(0);

/// Set by the SIGALRM handler: a sigsuspend() timed out.
static ALARMED: AtomicBool = AtomicBool::new(false);

/// The SA_SIGINFO handler of `--wait handler`: stores the siginfo fields.
/// Only atomics: nothing else is safe in a signal handler.
extern "C" fn on_signal(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    let i = RECORDED.load(Ordering::Relaxed);
    if let Some(slot) = RECORDS.get(i) {
        // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO
        // handler; si_fd and si_band are the SIGPOLL fields of its union.
        let (signo, code, fd, band) = unsafe {
            (
                (*info).si_signo,
                (*info).si_code,
                (*info).si_fd(),
                (*info).si_band(),
            )
        };
        slot.signo.store(signo, Ordering::Relaxed);
        slot.code.store(code, Ordering::Relaxed);
        slot.fd.store(fd, Ordering::Relaxed);
        slot.band.store(band, Ordering::Relaxed);
    }
    RECORDED.store(i + 1, Ordering::Release);
}

/// The SIGALRM handler: notes the timeout, so sigsuspend() returns.
extern "C" fn on_alarm(_sig: libc::c_int) {
    ALARMED.store(true, Ordering::Relaxed);
}

/// The records the handler wrote since the last call, oldest first. Call
/// with the signal blocked.
fn take_records() -> Vec<Info> {
    let n = RECORDED.swap(0, Ordering::Acquire);
    if n > SLOTS {
        println!(
            "  ({} signals handled but not recorded: too many at once)",
            n - SLOTS
        );
    }
    RECORDS[..n.min(SLOTS)]
        .iter()
        .map(|s| Info {
            signo: s.signo.load(Ordering::Relaxed),
            code: s.code.load(Ordering::Relaxed),
            fd: s.fd.load(Ordering::Relaxed),
            band: s.band.load(Ordering::Relaxed),
        })
        .collect()
}

/// A signal set holding `sig` only.
fn sigset_of(sig: libc::c_int) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, made valid by sigemptyset.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live sigset_t.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
    }
    set
}

/// How the program waits, with what it needs for that.
struct Waiter {
    wait: Wait,
    sig: libc::c_int,
    /// `{sig}`, for sigtimedwait.
    set: libc::sigset_t,
    /// The mask sigsuspend sleeps with: the usual one, without `sig`.
    unblocked: libc::sigset_t,
    /// Handler records not yet returned.
    backlog: std::collections::VecDeque<Info>,
}

impl Waiter {
    /// What the wait call looks like in C, for the output.
    fn call_text(&self, timeout_ns: u64) -> String {
        match self.wait {
            Wait::Sigwait => format!(
                "sigtimedwait({{{}}}, &info, {{{}}})",
                signame(self.sig),
                fmt_ns(timeout_ns)
            ),
            Wait::Handler if timeout_ns == 0 => format!(
                "sigpending(), and while it shows {0}, sigsuspend(mask without {0})",
                signame(self.sig)
            ),
            Wait::Handler => format!("sigsuspend(mask without {})", signame(self.sig)),
        }
    }

    /// The next signal, or `None` when none came within `timeout_ns` (0:
    /// only one already pending).
    fn next(&mut self, timeout_ns: u64) -> Result<Option<Info>, String> {
        match self.wait {
            Wait::Sigwait => self.next_sigwait(timeout_ns),
            Wait::Handler => self.next_handled(timeout_ns),
        }
    }

    fn next_sigwait(&self, timeout_ns: u64) -> Result<Option<Info>, String> {
        let ts = libc::timespec {
            tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
        };
        loop {
            // SAFETY: siginfo_t is plain data; the kernel fills it.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: `set`, `info` and `ts` are live.
            let r = unsafe { libc::sigtimedwait(&self.set, &mut info, &ts) };
            if r > 0 {
                // SAFETY: a SIGIO-type siginfo (or zeroes, for SI_KERNEL).
                let (fd, band) = unsafe { (info.si_fd(), info.si_band()) };
                return Ok(Some(Info {
                    signo: info.si_signo,
                    code: info.si_code,
                    fd,
                    band,
                }));
            }
            match errno() {
                libc::EAGAIN => return Ok(None),
                libc::EINTR => continue,
                e => return Err(format!("sigtimedwait: {}", errno_text(e))),
            }
        }
    }

    fn next_handled(&mut self, timeout_ns: u64) -> Result<Option<Info>, String> {
        if let Some(info) = self.backlog.pop_front() {
            return Ok(Some(info));
        }
        if timeout_ns == 0 && !self.pending()? {
            return Ok(None);
        }
        ALARMED.store(false, Ordering::Relaxed);
        // Whole seconds, rounded up; at least one.
        let secs = timeout_ns.div_ceil(1_000_000_000).max(1) as libc::c_uint;
        // SAFETY: alarm and sigsuspend take no pointers but the live mask.
        unsafe {
            libc::alarm(secs);
            // Returns -1 EINTR after a handler ran: the signal's, or
            // SIGALRM's.
            libc::sigsuspend(&self.unblocked);
            libc::alarm(0);
        }
        self.backlog.extend(take_records());
        if self.backlog.is_empty() && ALARMED.load(Ordering::Relaxed) {
            return Ok(None);
        }
        Ok(self.backlog.pop_front())
    }

    /// Is our signal pending (sigpending)?
    fn pending(&self) -> Result<bool, String> {
        // SAFETY: sigset_t is plain data; sigpending fills it.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a live sigset_t.
        if unsafe { libc::sigpending(&mut set) } < 0 {
            return Err(format!("sigpending: {}", errno_text(errno())));
        }
        // SAFETY: `set` is a live, initialised sigset_t.
        Ok(unsafe { libc::sigismember(&set, self.sig) } == 1)
    }
}

/// `fcntl(fd, cmd, arg)`, printed as `text`; returns the result.
fn fcntl(fd: RawFd, cmd: libc::c_int, arg: libc::c_int, text: &str) -> Result<libc::c_int, String> {
    // SAFETY: these commands take an int argument.
    let r = unsafe { libc::fcntl(fd, cmd, arg) };
    if r < 0 {
        return Err(format!("{text}: {}", errno_text(errno())));
    }
    Ok(r)
}

fn run(cli: &Cli) -> Result<(), String> {
    if let Some(warning) = traffic::clock_warning() {
        println!("{warning}");
    }
    let t = &cli.traffic;
    let fd = traffic::open_and_bind(
        libc::O_RDWR | libc::O_CLOEXEC,
        "O_RDWR",
        "(O_NONBLOCK and O_ASYNC come with F_SETFL below)",
        t.port,
    )?;
    let result = set_up(cli, fd).and_then(|mut waiter| {
        println!();
        println!("== Part 1: three datagrams arrive before the program looks ==");
        part1(fd, &mut waiter, t.patience_ns())?;
        println!();
        println!("== Part 2: a sender's traffic, the two phases timed ==");
        part2(cli, fd, &mut waiter)
    });
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    result
}

/// Blocks the signal, installs the handlers, and makes `fd` signal-driven.
fn set_up(cli: &Cli, fd: RawFd) -> Result<Waiter, String> {
    let sig = match cli.signal {
        Signal::Rt => libc::SIGRTMIN(),
        Signal::Sigio => libc::SIGIO,
    };
    let name = signame(sig);
    // Blocked first: from O_ASYNC on, a signal can come at any time, and its
    // default action would end the process.
    let set = sigset_of(sig);
    // SAFETY: sigset_t is plain data; sigprocmask fills it.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` and `old` are live sigset_t.
    if unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old) } < 0 {
        return Err(format!("sigprocmask: {}", errno_text(errno())));
    }
    println!(
        "receiver: sigprocmask(SIG_BLOCK, {{{name}}}, &old) = 0   (held pending until asked for)"
    );
    let mut unblocked = old;
    // SAFETY: `unblocked` is a live, initialised sigset_t.
    unsafe { libc::sigdelset(&mut unblocked, sig) };
    if cli.wait == Wait::Handler {
        install(
            sig,
            on_signal as *const () as libc::sighandler_t,
            libc::SA_SIGINFO,
        )?;
        println!("receiver: sigaction({name}, {{sa_sigaction=on_signal, SA_SIGINFO}}) = 0");
        install(
            libc::SIGALRM,
            on_alarm as *const () as libc::sighandler_t,
            0,
        )?;
        println!(
            "receiver: sigaction(SIGALRM, {{sa_handler=on_alarm}}) = 0   (alarm() ends a \
             sigsuspend() that no signal ends)"
        );
    }
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    fcntl(fd, libc::F_SETOWN, pid, "fcntl(F_SETOWN)")?;
    println!("receiver: fcntl({fd}, F_SETOWN, {pid}) = 0   (signals go to this process)");
    if cli.signal == Signal::Rt {
        fcntl(fd, F_SETSIG, sig, "fcntl(F_SETSIG)")?;
        println!(
            "receiver: fcntl({fd}, F_SETSIG, {name} ({sig})) = 0   (a real-time signal, with si_fd, \
             si_code and si_band)"
        );
    } else {
        println!("receiver: (no F_SETSIG: the kernel sends plain SIGIO)");
    }
    let flags = fcntl(fd, libc::F_GETFL, 0, "fcntl(F_GETFL)")?;
    println!("receiver: fcntl({fd}, F_GETFL) = {flags:#x}");
    let new = flags | libc::O_ASYNC | libc::O_NONBLOCK;
    fcntl(fd, libc::F_SETFL, new, "fcntl(F_SETFL)")?;
    println!(
        "receiver: fcntl({fd}, F_SETFL, {flags:#x}|O_ASYNC|O_NONBLOCK) = 0   (a signal per \
         arrival; reads never sleep)"
    );
    Ok(Waiter {
        wait: cli.wait,
        sig,
        set,
        unblocked,
        backlog: Default::default(),
    })
}

/// sigaction(sig, {handler, flags}) with an empty sa_mask.
fn install(
    sig: libc::c_int,
    handler: libc::sighandler_t,
    flags: libc::c_int,
) -> Result<(), String> {
    // SAFETY: sigaction is plain data; the fields set below make it valid.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = handler;
    sa.sa_flags = flags;
    // SAFETY: `sa` is live; the handler is an extern "C" fn of the right
    // signature for `flags`, and only touches atomics.
    let r = unsafe {
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut())
    };
    if r < 0 {
        return Err(format!(
            "sigaction({}): {}",
            signame(sig),
            errno_text(errno())
        ));
    }
    Ok(())
}

/// Datagrams in `fd`'s receive queue (`SIMNIC_IOC_EP_STATS`).
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

/// Part 1: three datagrams queued with the signal blocked, then every
/// signal pending collected.
fn part1(fd: RawFd, waiter: &mut Waiter, patience_ns: u64) -> Result<(), String> {
    let name = signame(waiter.sig);
    println!("The endpoint sends three datagrams to itself (write() goes to its own port):");
    for text in ["d-1", "d-2", "d-3"] {
        // SAFETY: the pointer and length describe the live string.
        let n = unsafe { libc::write(fd, text.as_ptr().cast(), text.len()) };
        if n < 0 {
            return Err(format!("write({fd}): {}", errno_text(errno())));
        }
        println!("write({fd}, \"{text}\", {}) = {n}", text.len());
    }
    let deadline = now_ns() + patience_ns;
    while queued(fd)? < 3 {
        if now_ns() > deadline {
            return Err("the three datagrams did not all arrive".to_string());
        }
        traffic::sleep_ns(1_000_000);
    }
    println!(
        "ioctl({fd}, SIMNIC_IOC_EP_STATS): queued = {}   (all three arrived; {name} is blocked, \
         so whatever the driver sent is pending)",
        queued(fd)?
    );
    println!(
        "sigpending(): {name} {}",
        if waiter.pending()? {
            "is pending"
        } else {
            "is NOT pending"
        }
    );
    println!(
        "Collect every pending signal, never waiting ({}):",
        waiter.call_text(0)
    );
    let mut signals = 0;
    while let Some(info) = waiter.next(0)? {
        signals += 1;
        println!("  signal {signals}: {}", info.describe());
    }
    println!(
        "  then none left ({})",
        match waiter.wait {
            Wait::Sigwait => "sigtimedwait = -1 EAGAIN",
            Wait::Handler => "sigpending: not pending",
        }
    );
    println!("Read until EAGAIN:");
    let mut buf = [0u8; 64];
    let mut datagrams = 0;
    loop {
        match multiplex::read_timed(fd, &mut buf)? {
            Some((n, _)) => {
                datagrams += 1;
                println!(
                    "  read({fd}, buf, {}) = {n} \"{}\"",
                    buf.len(),
                    String::from_utf8_lossy(&buf[..n])
                );
            }
            None => {
                println!("  read({fd}, buf, {}) = -1 EAGAIN", buf.len());
                break;
            }
        }
    }
    let verdict = if signals == datagrams {
        format!("{name} is a real-time signal: they queue, one per arrival, each with its siginfo")
    } else if signals == 1 {
        format!(
            "{name} is a standard signal: one pending instance stands for all the arrivals \
             (they coalesce)"
        )
    } else {
        "neither one per datagram nor coalesced into one: unexpected".to_string()
    };
    let plural = if signals == 1 { "" } else { "s" };
    println!("{datagrams} datagrams, {signals} signal{plural}: {verdict}.");
    Ok(())
}

/// Part 2: the sender's traffic, one signal wait and one drain at a time.
fn part2(cli: &Cli, fd: RawFd, waiter: &mut Waiter) -> Result<(), String> {
    let t = &cli.traffic;
    let rounds = vec![vec![t.port; cli.burst as usize]; t.count as usize];
    let mut tally = Tally::new(&rounds);
    println!(
        "receiver: phase 1: {} until a signal comes; phase 2: read({fd}, buf, 65536) until EAGAIN.",
        waiter.call_text(t.patience_ns())
    );
    let sender =
        traffic::spawn_sender_rounds(t, &rounds, &[fd]).map_err(|e| format!("fork: {e}"))?;
    println!();
    // Nothing of ours is on the endpoint's wait queue: data_ready's
    // kill_fasync() walks the fasync list instead.
    let view = wq_view::show_no_callback(
        &[t.port],
        "the program waits for SIGIO",
        "the signal comes from the endpoint's fasync list (kill_fasync), not from a wait queue entry",
    );
    let mut counts = Counts::default();
    let received = receive(fd, t.port, waiter, t.patience_ns(), &mut tally, &mut counts);
    let _ = view.join();
    if let Err(msg) = received {
        traffic::kill_sender(sender);
        return Err(msg);
    }
    traffic::wait_sender(sender)?;
    // Signals still queued for datagrams already read.
    while let Some(info) = waiter.next(0)? {
        counts.signals += 1;
        counts.stale += 1;
        println!(
            "still pending after the last datagram, for one already read: {}",
            info.describe()
        );
    }

    println!();
    tally.print_summary(match waiter.wait {
        Wait::Sigwait => "sigtimedwait",
        Wait::Handler => "sigsuspend",
    });
    println!(
        "signals                      {} for {} datagrams; {} found the queue already drained",
        counts.signals,
        tally.received(),
        counts.stale
    );
    if counts.unexpected > 0 {
        println!(
            "                             {} with a siginfo other than {{POLL_IN, si_fd={fd}}}",
            counts.unexpected
        );
    }
    println!();
    println!(
        "Phase 1 was spent in {}, but it need not be: between signals the process is free to do \
         other work, and the signal interrupts it. With several datagrams per signal, or signals \
         for datagrams already read, the program cannot count on one datagram per signal: it \
         reads until EAGAIN.",
        waiter.call_text(t.patience_ns())
    );
    Ok(())
}

/// Signals of part 2.
#[derive(Default)]
struct Counts {
    signals: u64,
    /// Signals whose drain found nothing: read by an earlier drain.
    stale: u64,
    /// Signals whose siginfo did not say POLL_IN on our fd.
    unexpected: u64,
}

/// Part 2's loop: a signal, then a drain, until every datagram of the
/// schedule (all to `port`) is in.
fn receive(
    fd: RawFd,
    port: u32,
    waiter: &mut Waiter,
    patience_ns: u64,
    tally: &mut Tally,
    counts: &mut Counts,
) -> Result<(), String> {
    let mut buf = vec![0u8; simnic::MAX_DATAGRAM + 1];
    while !tally.complete() {
        let t0 = now_ns();
        let got = waiter.next(patience_ns)?;
        let t1 = now_ns();
        let Some(info) = got else {
            return Err(tally.timeout_error(&waiter.call_text(patience_ns), patience_ns));
        };
        counts.signals += 1;
        let wait_ns = t1 - t0;
        println!(
            "{} = {}   phase 1: {}",
            waiter.call_text(patience_ns),
            signame(info.signo),
            fmt_ns(wait_ns)
        );
        println!("  {}", info.describe());
        let expected_code = if info.signo == libc::SIGIO {
            libc::SI_KERNEL
        } else {
            POLL_IN
        };
        if info.signo != waiter.sig
            || info.code != expected_code
            || (info.code == POLL_IN && info.fd != fd)
        {
            counts.unexpected += 1;
            println!("  (unexpected siginfo for this endpoint)");
        }
        // Phase 2: read until EAGAIN, however many datagrams the signal
        // stands for.
        let mut read = 0;
        while let Some((n, copy_ns)) = multiplex::read_timed(fd, &mut buf)? {
            read += 1;
            let note = tally.record(&buf[..n], port, wait_ns, copy_ns, t1);
            println!(
                "    read({fd}, buf, {}) = {n}   phase 2: {:>9}   {note}",
                buf.len(),
                fmt_ns(copy_ns)
            );
        }
        let why = if read == 0 {
            counts.stale += 1;
            "   (nothing: this signal's datagram was read by an earlier drain)"
        } else {
            ""
        };
        println!("    read({fd}, buf, {}) = -1 EAGAIN{why}", buf.len());
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
        let cli = Cli::try_parse_from(["sample-sigio"]).unwrap();
        assert_eq!(
            (cli.signal, cli.wait, cli.burst),
            (Signal::Rt, Wait::Sigwait, 1)
        );
        let cli = Cli::try_parse_from([
            "sample-sigio",
            "--signal",
            "sigio",
            "--wait",
            "handler",
            "-b",
            "3",
        ])
        .unwrap();
        assert_eq!(
            (cli.signal, cli.wait, cli.burst),
            (Signal::Sigio, Wait::Handler, 3)
        );
        assert!(Cli::try_parse_from(["sample-sigio", "--signal", "sigusr1"]).is_err());
    }

    #[test]
    fn siginfo_text() {
        let rt = Info {
            signo: libc::SIGRTMIN(),
            code: POLL_IN,
            fd: 3,
            band: (libc::POLLIN | libc::POLLRDNORM) as i64,
        };
        let s = rt.describe();
        assert!(s.starts_with("si_signo=SIGRTMIN ("), "{s}");
        assert!(
            s.contains("si_code=POLL_IN (0x1), si_fd=3, si_band=POLLIN|POLLRDNORM (0x41)"),
            "{s}"
        );
        let plain = Info {
            signo: libc::SIGIO,
            code: libc::SI_KERNEL,
            fd: 0,
            band: 0,
        };
        assert!(plain
            .describe()
            .contains("si_code=SI_KERNEL (0x80): no si_fd"));
        assert_eq!(signame(libc::SIGRTMIN() + 2), "SIGRTMIN+2");
    }

    #[test]
    fn handler_records_in_order() {
        // Raise our own SIGUSR2 through the handler path, as the kernel
        // would deliver a SIGIO-type signal, and read the records back.
        let sig = libc::SIGUSR2;
        let set = sigset_of(sig);
        install(
            sig,
            on_signal as *const () as libc::sighandler_t,
            libc::SA_SIGINFO,
        )
        .unwrap();
        // SAFETY: blocking and raising a signal we handle.
        unsafe {
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            libc::raise(sig);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
        let got = take_records();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].signo, got[0].code), (sig, libc::SI_TKILL));
        assert!(take_records().is_empty(), "records are taken once");
    }
}
