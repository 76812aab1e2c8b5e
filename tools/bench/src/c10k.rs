//! C10K: what one ready event costs while many idle endpoints are watched,
//! for `select`, `poll` and `epoll`, and what opening many costs.
//!
//! N objects are opened (simnic endpoints; UDP sockets bound to 127.0.0.1
//! as the reference), all idle but the last one opened, the active one. A
//! waiter thread watches all N for input with one mechanism. The sender
//! (the calling thread) waits until the waiter is asleep, stamps
//! `CLOCK_MONOTONIC` into a datagram and sends it to the active one. The
//! waiter notes when its wait call returned (one-way: send to wake-up,
//! with the wait call's return path in it) and the CPU time it spent in the
//! call (`CLOCK_THREAD_CPUTIME_ID` around it), checks that the active one
//! is the only one reported ready, reads the datagram and echoes it back;
//! the sender waits for the echo before the next round.
//!
//! What the waiter's CPU time holds differs by mechanism, which is the
//! point of the measurement: `select` and `poll` (`do_select`, `do_poll`)
//! call every watched file's `->poll` before sleeping, queueing on every
//! wait queue, call them all again after the wake-up, and take every queue
//! entry off again (`poll_freewait`): O(N) per event by construction.
//! `epoll_wait` (`ep_poll`) looks at the ready list that `ep_poll_callback`
//! filled, and re-polls only what is on it: O(1) per event. The driver's
//! share is its `->poll` (`Endpoint::poll`), run twice per watched endpoint
//! per `select`/`poll` call, and the port lookup (an rbtree) and wake-up in
//! the receive path, run once per datagram whatever N is.
//!
//! The objects are opened one by one with a clock read after each, so the
//! same run also gives the cost of opening N, and of closing them.

use crate::progress::Progress;
use crate::stats::Summary;
use crate::sys::{self, Epoll, FdSet, Pinning};
use simnic::Endpoint;
use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::mpsc;

/// How the waiter waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mechanism {
    Select,
    Poll,
    Epoll,
    /// The module's own `do_poll` (`SIMNIC_MUX_IOC_POLL` on
    /// /dev/simnic-epoll), built from custom `poll_table` queue procs.
    MiniPoll,
    /// The module's own epoll (`SIMNIC_MUX_IOC_CTL`/`WAIT`), built from
    /// custom wait-queue entries and a ready list.
    MiniEpoll,
}

pub const MECHANISMS: [Mechanism; 5] = [
    Mechanism::Select,
    Mechanism::Poll,
    Mechanism::Epoll,
    Mechanism::MiniPoll,
    Mechanism::MiniEpoll,
];

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Select => "select",
            Mechanism::Poll => "poll",
            Mechanism::Epoll => "epoll",
            Mechanism::MiniPoll => "mini-poll",
            Mechanism::MiniEpoll => "mini-epoll",
        }
    }
}

/// What is opened N times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Simnic,
    Udp,
}

pub const KINDS: [Kind; 2] = [Kind::Simnic, Kind::Udp];

impl Kind {
    /// Short name, for tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Simnic => "simnic",
            Kind::Udp => "UDP",
        }
    }

    /// What one of them is.
    pub fn object(self) -> &'static str {
        match self {
            Kind::Simnic => "simnic endpoint",
            Kind::Udp => "UDP socket (socket+bind)",
        }
    }
}

/// The parameters of the section.
pub struct Params {
    /// The numbers of endpoints watched (and open), ascending.
    pub sizes: Vec<usize>,
    /// Measured events per transport, mechanism and N, over all blocks.
    pub rounds: usize,
    /// Blocks; every (transport, N, mechanism) runs once per block.
    pub blocks: usize,
    /// Events at the start of each run that are not counted (at most; a
    /// run's warm-up also ends after a fifth of its time limit).
    pub warmup: usize,
    /// Where the sender (first) and the waiter (second) run.
    pub pin: Pinning,
    /// Datagram payload bytes (at least 24).
    pub size: usize,
    /// Seconds one run of a mechanism on a crowd may take (see
    /// [`Budget::cap_ns`]).
    pub cell_secs: f64,
    /// Pairs of epoll runs (smallest N, largest N) for the goal.
    pub goal_pairs: usize,
    /// Measured events per run of the goal's pairs.
    pub goal_rounds: usize,
}

/// What opening (and closing) N objects of one kind cost, every block.
#[derive(Default)]
pub struct OpenResult {
    /// Nanoseconds each open took, all blocks pooled.
    pub per_open: Vec<u64>,
    /// Nanoseconds to open all N, per block.
    pub open_total: Vec<u64>,
    /// Nanoseconds spent in the first and in the last tenth of the opens,
    /// per block.
    pub tenths: Vec<(u64, u64)>,
    /// Nanoseconds to close all N, per block.
    pub close_total: Vec<u64>,
    /// Nanoseconds to `epoll_ctl(EPOLL_CTL_ADD)` all N, per block.
    pub epoll_add_total: Vec<u64>,
    /// Nanoseconds of each `poll(all N, timeout 0)`: one `->poll` per
    /// descriptor, nothing registered, nothing ready.
    pub scan: Vec<u64>,
}

impl OpenResult {
    /// The median of per-block totals, divided by `n`: nanoseconds per
    /// object. The median, because on a shared host one block in a few
    /// loses milliseconds to the emulator being descheduled.
    pub fn per_object(totals: &[u64], n: usize) -> f64 {
        if totals.is_empty() || n == 0 {
            return 0.0;
        }
        Summary::of(totals).p50 as f64 / n as f64
    }
}

/// What the events of one (transport, mechanism, N) measured.
#[derive(Default)]
pub struct EventResult {
    /// Send called to the wait call returned, nanoseconds.
    pub oneway: Vec<u64>,
    /// The waiter's CPU time in the wait call, nanoseconds.
    pub cpu: Vec<u64>,
    /// Half the sender's round trip (send to echo read), nanoseconds.
    pub half_rtt: Vec<u64>,
    /// One-way and CPU medians of each block, in the order they ran.
    pub block_p50: Vec<(u64, u64)>,
    /// Polls of the waiter's state that found it not asleep yet.
    pub not_asleep_polls: u64,
    /// `ENOBUFS` retries of either side.
    pub tx_busy_retries: u64,
    /// simnic: the active endpoint's `wakeups` over the measured events.
    pub wakeups: Option<u64>,
    /// The highest descriptor watched.
    pub max_fd: RawFd,
    /// Runs, and warm-up events over all of them (not measured).
    pub runs: usize,
    pub warmup_events: usize,
}

impl EventResult {
    pub fn oneway(&self) -> Summary {
        Summary::of(&self.oneway)
    }
    pub fn cpu(&self) -> Summary {
        Summary::of(&self.cpu)
    }
    pub fn half_rtt(&self) -> Summary {
        Summary::of(&self.half_rtt)
    }
}

/// Everything the section measured.
pub struct C10kResult {
    pub sizes: Vec<usize>,
    pub pin: Pinning,
    pub rounds_per_block: usize,
    pub blocks: usize,
    pub warmup: usize,
    pub cell_secs: f64,
    pub events: BTreeMap<(Kind, Mechanism, usize), EventResult>,
    pub opens: BTreeMap<(Kind, usize), OpenResult>,
    /// (transport, N, highest descriptor) where `select` could not be used.
    pub select_skipped: Vec<(Kind, usize, RawFd)>,
    /// The goal's epoll runs, by (transport, N); `block_p50` holds one
    /// entry per pair.
    pub goal: BTreeMap<(Kind, usize), EventResult>,
    /// For each pair: whether the smallest N ran first.
    pub goal_small_first: Vec<bool>,
    pub goal_rounds: usize,
    /// What one call costs without sleeping.
    pub calls: Vec<CallCost>,
}

/// One call's cost per call (ns), in rounds: (what, mini-epoll's, the
/// kernel's).
pub type CallCost = (&'static str, Vec<f64>, Vec<f64>);

/// The wait calls alone, without sleeping: mini-epoll's
/// `SIMNIC_MUX_IOC_WAIT` against `epoll_wait`, both with timeout 0, on one
/// level-triggered endpoint with a datagram queued (reported every call)
/// and on an empty set; and an `ioctl` that does almost nothing
/// (`FIONREAD` on an endpoint) against a system call that does nothing
/// (`getppid`), for what the ioctl path alone costs. `rounds` rounds of
/// `calls` calls each, the four taking turns.
fn call_costs(rounds: usize, calls: usize) -> io::Result<Vec<CallCost>> {
    let ep = Endpoint::open_nonblocking()?;
    let fd = ep.as_raw_fd();
    sys::write_fd(fd, &[0u8; 8])?;
    let deadline = sys::now_ns() + 5_000_000_000;
    while ep.ep_stats()?.queued == 0 {
        if sys::now_ns() > deadline {
            return Err(io::Error::other("call costs: the datagram did not arrive"));
        }
        sys::yield_cpu();
    }
    let (mini, empty_mini) = (simnic::MiniEpoll::open()?, simnic::MiniEpoll::open()?);
    mini.ctl(simnic::uapi::MINI_EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, 1)?;
    let (kep, empty_kep) = (Epoll::new()?, Epoll::new()?);
    kep.add(fd, libc::EPOLLIN as u32, 1)?;
    let mut mbuf = vec![simnic::uapi::MiniEpollEvent::default(); 16];
    let mut kbuf = vec![libc::epoll_event { events: 0, u64: 0 }; 16];
    let time = |f: &mut dyn FnMut() -> io::Result<usize>, want: usize| -> io::Result<f64> {
        let t0 = sys::now_ns();
        for _ in 0..calls {
            let n = f()?;
            if n != want {
                return Err(io::Error::other(format!("call costs: a wait returned {n}, expected {want}")));
            }
        }
        Ok((sys::now_ns() - t0) as f64 / calls as f64)
    };
    let mut out: Vec<CallCost> = vec![
        ("wait, one item ready", Vec::new(), Vec::new()),
        ("wait, nothing watched", Vec::new(), Vec::new()),
        ("ioctl FIONREAD / getppid", Vec::new(), Vec::new()),
    ];
    for _ in 0..rounds {
        out[0].1.push(time(&mut || mini.wait_into(&mut mbuf, 0), 1)?);
        out[0].2.push(time(&mut || kep.wait_timeout(&mut kbuf, 0), 1)?);
        out[1].1.push(time(&mut || empty_mini.wait_into(&mut mbuf, 0), 0)?);
        out[1].2.push(time(&mut || empty_kep.wait_timeout(&mut kbuf, 0), 0)?);
        out[2].1.push(time(&mut || ep.pending_len().map(|_| 0), 0)?);
        out[2].2.push(time(
            &mut || {
                // SAFETY: getppid has no arguments and cannot fail.
                unsafe { libc::getppid() };
                Ok(0)
            },
            0,
        )?);
    }
    Ok(out)
}

/// N open objects of one kind; the last one is the active one.
enum Crowd {
    Simnic(Vec<Endpoint>),
    Udp(Vec<OwnedFd>),
}

impl Crowd {
    fn fds(&self) -> Vec<RawFd> {
        match self {
            Crowd::Simnic(v) => v.iter().map(AsRawFd::as_raw_fd).collect(),
            Crowd::Udp(v) => v.iter().map(AsRawFd::as_raw_fd).collect(),
        }
    }

    fn active_simnic(&self) -> Option<&Endpoint> {
        match self {
            Crowd::Simnic(v) => v.last(),
            Crowd::Udp(_) => None,
        }
    }
}

/// Opens `n` objects with `open`, reading the clock after each: the
/// objects, and the nanoseconds each open took.
fn open_timed<T>(
    n: usize,
    progress: &Progress,
    mut open: impl FnMut() -> io::Result<T>,
) -> io::Result<(Vec<T>, Vec<u64>)> {
    let mut objs = Vec::with_capacity(n);
    let mut stamps = Vec::with_capacity(n + 1);
    stamps.push(sys::now_ns());
    for _ in 0..n {
        objs.push(open()?);
        stamps.push(sys::now_ns());
        progress.bump();
    }
    Ok((objs, stamps.windows(2).map(|w| w[1] - w[0]).collect()))
}

/// Opens the crowd of `n` and its sender, and connects the active one and
/// the sender to each other. The sender is opened first, so that the
/// crowd's descriptors are the highest.
fn open_crowd(kind: Kind, n: usize, progress: &Progress) -> io::Result<(OwnedFd, Crowd, Vec<u64>)> {
    match kind {
        Kind::Simnic => {
            let sender = Endpoint::open()?;
            let (eps, times) = open_timed(n, progress, Endpoint::open)?;
            let active = eps.last().expect("n >= 1");
            sender.connect(active.port()?)?;
            active.connect(sender.port()?)?;
            Ok((endpoint_fd(sender), Crowd::Simnic(eps), times))
        }
        Kind::Udp => {
            let (sender, sender_port) = sys::udp_bound()?;
            let (socks, times) = open_timed(n, progress, sys::udp_bind_any)?;
            let active = socks.last().expect("n >= 1");
            sys::udp_connect(&sender, sys::udp_local_port(active)?)?;
            sys::udp_connect(active, sender_port)?;
            Ok((sender, Crowd::Udp(socks), times))
        }
    }
}

/// The endpoint's descriptor, owned as a plain file descriptor.
fn endpoint_fd(ep: Endpoint) -> OwnedFd {
    use std::os::fd::{FromRawFd, IntoRawFd};
    // SAFETY: into_raw_fd gives up the endpoint's descriptor, which nothing
    // else owns then.
    unsafe { OwnedFd::from_raw_fd(ep.into_raw_fd()) }
}

/// select's arguments: the watched set, kept to refill the set the call
/// overwrites with the ready ones.
struct SelectArgs {
    all: FdSet,
    ready: FdSet,
    nfds: RawFd,
}

/// The waiter's side of one mechanism: what it watches and how it checks
/// that exactly the active descriptor was reported.
enum Waiter {
    Select(Box<SelectArgs>),
    Poll(Vec<libc::pollfd>),
    Epoll(Epoll, Vec<libc::epoll_event>),
    MiniPoll(simnic::MiniEpoll, Vec<simnic::uapi::MiniPollFd>),
    MiniEpoll(simnic::MiniEpoll, Vec<simnic::uapi::MiniEpollEvent>, usize),
}

impl Waiter {
    /// Sets up `mech` on `fds`; for epoll, also the nanoseconds the
    /// `EPOLL_CTL_ADD` of all of them took.
    fn new(mech: Mechanism, fds: &[RawFd]) -> io::Result<(Self, Option<u64>)> {
        Ok(match mech {
            Mechanism::Select => {
                let all = FdSet::of(fds);
                let nfds = fds.iter().copied().max().unwrap_or(0) + 1;
                (
                    Waiter::Select(Box::new(SelectArgs {
                        all,
                        ready: all,
                        nfds,
                    })),
                    None,
                )
            }
            Mechanism::Poll => (
                Waiter::Poll(
                    fds.iter()
                        .map(|&fd| libc::pollfd {
                            fd,
                            events: libc::POLLIN,
                            revents: 0,
                        })
                        .collect(),
                ),
                None,
            ),
            Mechanism::Epoll => {
                let ep = Epoll::new()?;
                let t0 = sys::now_ns();
                for (i, &fd) in fds.iter().enumerate() {
                    ep.add(fd, libc::EPOLLIN as u32, i as u64)?;
                }
                let t = sys::now_ns() - t0;
                let events = vec![libc::epoll_event { events: 0, u64: 0 }; 16];
                (Waiter::Epoll(ep, events), Some(t))
            }
            Mechanism::MiniPoll => (
                Waiter::MiniPoll(
                    simnic::MiniEpoll::open()?,
                    fds.iter()
                        .map(|&fd| simnic::uapi::MiniPollFd {
                            fd,
                            events: libc::POLLIN as u32,
                            ..Default::default()
                        })
                        .collect(),
                ),
                None,
            ),
            Mechanism::MiniEpoll => {
                let ep = simnic::MiniEpoll::open()?;
                let t0 = sys::now_ns();
                for (i, &fd) in fds.iter().enumerate() {
                    ep.ctl(simnic::uapi::MINI_EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, i as u64)?;
                }
                let t = sys::now_ns() - t0;
                (Waiter::MiniEpoll(ep, vec![Default::default(); 16], 0), Some(t))
            }
        })
    }

    /// Readies the call's arguments (select overwrites its set).
    fn prepare(&mut self) {
        if let Waiter::Select(a) = self {
            a.ready = a.all;
        }
    }

    /// The wait call, and nothing else.
    fn wait(&mut self) -> io::Result<usize> {
        match self {
            Waiter::Select(a) => sys::select_read(a.nfds, &mut a.ready),
            Waiter::Poll(fds) => sys::poll_forever(fds),
            Waiter::Epoll(ep, events) => ep.wait(events),
            Waiter::MiniPoll(mux, fds) => mux.mini_poll(fds, -1).map(|(n, _)| n),
            Waiter::MiniEpoll(mux, events, n) => {
                *n = mux.wait_into(events, -1)?;
                Ok(*n)
            }
        }
    }

    /// That the wait reported `n` ready, the active one (the last of the
    /// watched, at `active_idx`, descriptor `active`) and only it: an idle
    /// endpoint reported readable would be a driver bug.
    fn check(&self, n: usize, active: RawFd, active_idx: usize) -> Result<(), String> {
        let ok = n == 1
            && match self {
                Waiter::Select(a) => a.ready.contains(active),
                Waiter::Poll(fds) => fds[active_idx].revents & libc::POLLIN != 0,
                Waiter::Epoll(_, events) => {
                    events[0].u64 == active_idx as u64
                        && events[0].events & libc::EPOLLIN as u32 != 0
                }
                Waiter::MiniPoll(_, fds) => fds[active_idx].revents & libc::POLLIN as u32 != 0,
                Waiter::MiniEpoll(_, events, _) => {
                    events[0].data == active_idx as u64 && events[0].events & libc::EPOLLIN as u32 != 0
                }
            };
        if ok {
            return Ok(());
        }
        let what = match self {
            Waiter::Select(a) => {
                let set: Vec<RawFd> = (0..a.nfds).filter(|&fd| a.ready.contains(fd)).collect();
                format!("select reported {set:?}")
            }
            Waiter::Poll(fds) => {
                let set: Vec<(RawFd, i16)> = fds
                    .iter()
                    .filter(|p| p.revents != 0)
                    .map(|p| (p.fd, p.revents))
                    .collect();
                format!("poll reported (fd, revents) {set:?}")
            }
            Waiter::Epoll(_, events) => {
                let set: Vec<(u64, u32)> = events[..n.min(events.len())]
                    .iter()
                    .map(|e| (e.u64, e.events))
                    .collect();
                format!("epoll reported (index, events) {set:?}")
            }
            Waiter::MiniPoll(_, fds) => {
                let set: Vec<(RawFd, u32)> = fds
                    .iter()
                    .filter(|p| p.revents != 0)
                    .map(|p| (p.fd, p.revents))
                    .collect();
                format!("mini-poll reported (fd, revents) {set:?}")
            }
            Waiter::MiniEpoll(_, events, got) => {
                let set: Vec<(u64, u32)> = events[..*got].iter().map(|e| (e.data, e.events)).collect();
                format!("mini-epoll reported (index, events) {set:?}")
            }
        };
        Err(format!(
            "{n} ready where only the active descriptor {active} (index {active_idx}) should be: {what}"
        ))
    }
}

/// `write(fd, buf)`, a refused send (`ENOBUFS`: a full simnic TX ring, not
/// expected with one datagram in flight) waited out by yielding.
fn send_retry(fd: RawFd, buf: &[u8], busy: &mut u64) -> io::Result<()> {
    loop {
        match sys::write_fd(fd, buf) {
            Ok(_) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                *busy += 1;
                sys::yield_cpu();
            }
            Err(e) => return Err(e),
        }
    }
}

fn put_u64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

fn get_u64(buf: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

/// Where the datagram carries its send time, its round number, and
/// whether it is the last of the run.
const AT_STAMP: usize = 0;
const AT_ROUND: usize = 8;
const AT_LAST: usize = 16;
/// The smallest datagram that holds them.
const MIN_LEN: usize = 24;

/// The waiter thread's loop, until it has echoed the datagram marked last.
/// An error cannot be handed to the sender, which would wait for the echo
/// forever: it ends the program.
fn waiter_loop(
    mut w: Waiter,
    active: RawFd,
    active_idx: usize,
    len: usize,
    tid_tx: mpsc::Sender<libc::pid_t>,
    cpu: Option<usize>,
) -> (Vec<u64>, Vec<u64>, u64) {
    let die = |what: String| -> ! {
        eprintln!("simnic-bench: c10k waiter: {what}");
        std::process::exit(1);
    };
    if let Some(cpu) = cpu {
        if let Err(e) = sys::pin_to_cpu(cpu) {
            die(format!("binding to CPU {cpu}: {e}"));
        }
    }
    tid_tx.send(sys::gettid()).expect("sender alive");
    let mut buf = vec![0u8; len];
    let (mut oneway, mut cpu_ns) = (Vec::new(), Vec::new());
    let mut busy = 0;
    loop {
        w.prepare();
        let c0 = sys::thread_cpu_ns();
        let r = w.wait();
        let t1 = sys::now_ns();
        let c1 = sys::thread_cpu_ns();
        let n = r.unwrap_or_else(|e| die(simnic::describe(&e)));
        w.check(n, active, active_idx).unwrap_or_else(|e| die(e));
        let got = sys::read_fd(active, &mut buf).unwrap_or_else(|e| die(simnic::describe(&e)));
        if got != len {
            die(format!("read {got} bytes of a {len}-byte datagram"));
        }
        oneway.push(t1.saturating_sub(get_u64(&buf, AT_STAMP)));
        cpu_ns.push(c1 - c0);
        send_retry(active, &buf, &mut busy).unwrap_or_else(|e| die(simnic::describe(&e)));
        if get_u64(&buf, AT_LAST) != 0 {
            return (oneway, cpu_ns, busy);
        }
    }
}

/// How many events one run of a mechanism on a crowd makes.
#[derive(Clone, Copy)]
struct Budget {
    /// Events measured, at most.
    rounds: usize,
    /// Events first, not measured, at most.
    warmup: usize,
    /// Time limit of the run, warm-up included, in nanoseconds: once it is
    /// past, the run ends after at least `min_rounds` measured events (and
    /// the warm-up after a fifth of it). select and poll over thousands of
    /// descriptors take milliseconds per event; this keeps them from
    /// taking most of the section's time.
    cap_ns: u64,
    min_rounds: usize,
}

/// One run of `mech` on the crowd: the measured events go to `acc`.
/// Returns the epoll registration time, for epoll.
#[allow(clippy::too_many_arguments)]
fn events(
    kind: Kind,
    sender: &OwnedFd,
    crowd: &Crowd,
    mech: Mechanism,
    p: &Params,
    budget: Budget,
    progress: &Progress,
    acc: &mut EventResult,
) -> io::Result<Option<u64>> {
    let fds = crowd.fds();
    let active_idx = fds.len() - 1;
    let active = fds[active_idx];
    let (waiter, add_ns) = Waiter::new(mech, &fds)?;
    let len = p.size.max(MIN_LEN);
    let cpus = p.pin.cpus();

    std::thread::scope(|s| -> io::Result<()> {
        let (tid_tx, tid_rx) = mpsc::channel();
        let b = std::thread::Builder::new()
            .name("c10k-waiter".into())
            .spawn_scoped(s, move || {
                waiter_loop(waiter, active, active_idx, len, tid_tx, cpus.map(|c| c.1))
            })?;
        let b_tid = tid_rx
            .recv()
            .map_err(|_| io::Error::other("waiter thread died"))?;
        let mut engine = None;
        if let Some((cpu, _)) = cpus {
            sys::pin_to_cpu(cpu)?;
            if kind == Kind::Simnic {
                engine = Some(sys::EnginePin::new(cpu)?);
            }
        }

        let mut buf = vec![0u8; len];
        let mut rtt = Vec::new();
        let (mut busy, mut not_asleep) = (0, 0);
        let mut wakeups_before = None;
        let start = sys::now_ns();
        let mut warm = None;
        for i in 0.. {
            let elapsed = sys::now_ns() - start;
            if warm.is_none() && (i >= budget.warmup || (i >= 1 && elapsed > budget.cap_ns / 5)) {
                warm = Some(i);
                if let Some(ep) = crowd.active_simnic() {
                    wakeups_before = Some(ep.ep_stats()?.wakeups);
                }
            }
            let measured = warm.map_or(0, |w| i + 1 - w);
            let last = measured >= budget.rounds
                || (measured >= budget.min_rounds && elapsed > budget.cap_ns);
            // The waiter must be asleep in its wait call: only then does
            // the datagram measure a wake-up (and, for select and poll, the
            // pass before sleeping is behind us, in the CPU time only).
            while sys::thread_state(b_tid)? != b'S' {
                not_asleep += 1;
                sys::yield_cpu();
            }
            let t0 = sys::now_ns();
            put_u64(&mut buf, AT_STAMP, t0);
            put_u64(&mut buf, AT_ROUND, i as u64);
            put_u64(&mut buf, AT_LAST, last as u64);
            send_retry(sender.as_raw_fd(), &buf, &mut busy)?;
            let n = sys::read_fd(sender.as_raw_fd(), &mut buf)?;
            let t1 = sys::now_ns();
            if n != len || get_u64(&buf, AT_STAMP) != t0 {
                return Err(io::Error::other(format!(
                    "c10k round {i}: echo of {n} bytes does not match what was sent"
                )));
            }
            rtt.push(t1 - t0);
            progress.bump();
            if last {
                break;
            }
        }
        let (oneway, cpu, b_busy) = b
            .join()
            .map_err(|_| io::Error::other("waiter thread panicked"))?;
        drop(engine);
        if cpus.is_some() {
            sys::unpin()?;
        }

        if let (Some(ep), Some(w0)) = (crowd.active_simnic(), wakeups_before) {
            *acc.wakeups.get_or_insert(0) += ep.ep_stats()?.wakeups - w0;
        }
        let w = warm.expect("the last event comes after the warm-up");
        acc.block_p50
            .push((Summary::of(&oneway[w..]).p50, Summary::of(&cpu[w..]).p50));
        acc.oneway.extend_from_slice(&oneway[w..]);
        acc.cpu.extend_from_slice(&cpu[w..]);
        acc.half_rtt.extend(rtt[w..].iter().map(|t| t / 2));
        acc.warmup_events += w;
        acc.runs += 1;
        acc.not_asleep_polls += not_asleep;
        acc.tx_busy_retries += busy + b_busy;
        acc.max_fd = acc.max_fd.max(active);
        Ok(())
    })?;
    Ok(add_ns)
}

/// Calls `poll(fds, 0)` on the whole crowd, `calls` times or for `secs`
/// seconds (at least 3 calls), and records how long each call took: the
/// `->poll` of every descriptor once, without the wait-queue registration
/// and removal a sleeping poll adds. Every descriptor is idle, so a call
/// that finds one ready is an error.
fn scan(crowd: &Crowd, calls: usize, secs: f64, open: &mut OpenResult) -> io::Result<()> {
    let mut fds: Vec<libc::pollfd> = crowd
        .fds()
        .into_iter()
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let start = sys::now_ns();
    for i in 0..calls {
        if i >= 3 && (sys::now_ns() - start) as f64 > secs * 1e9 {
            break;
        }
        let t0 = sys::now_ns();
        let ready = sys::poll_timeout(&mut fds, 0)?;
        open.scan.push(sys::now_ns() - t0);
        if ready != 0 {
            return Err(io::Error::other(format!(
                "poll(timeout 0) over {} idle descriptors found {ready} ready",
                fds.len()
            )));
        }
    }
    Ok(())
}

/// Opens a crowd of `n`, records what opening it cost in `open`, runs
/// `body` on it, then closes it and records that too.
fn with_crowd(
    kind: Kind,
    n: usize,
    progress: &Progress,
    open: &mut OpenResult,
    body: impl FnOnce(&OwnedFd, &Crowd, &mut OpenResult) -> io::Result<()>,
) -> io::Result<()> {
    let (sender, crowd, times) = open_crowd(kind, n, progress)?;
    let tenth = (n / 10).max(1);
    open.tenths.push((
        times[..tenth].iter().sum::<u64>(),
        times[n - tenth..].iter().sum::<u64>(),
    ));
    open.open_total.push(times.iter().sum());
    open.per_open.extend_from_slice(&times);
    body(&sender, &crowd, open)?;
    let t0 = sys::now_ns();
    drop(crowd);
    open.close_total.push(sys::now_ns() - t0);
    Ok(())
}

/// Runs the section.
///
/// 1. Block by block, for each N and transport: open the crowd (timed),
///    run each mechanism on it, close it (timed).
/// 2. The epoll goal, smallest N against largest, in pairs of runs close
///    together in time: open the small crowd, run epoll, close it; open
///    the large one, run epoll, close it (every other pair the other way
///    round), for each transport. The blocks of step 1 are seconds apart,
///    and on a shared host the emulation's speed changes on that scale.
pub fn run(p: &Params, progress: &Progress) -> io::Result<C10kResult> {
    let blocks = p.blocks.max(1);
    let per_block = p.rounds.div_ceil(blocks);
    let mut res = C10kResult {
        sizes: p.sizes.clone(),
        pin: p.pin,
        rounds_per_block: per_block,
        blocks,
        warmup: p.warmup,
        cell_secs: p.cell_secs,
        events: BTreeMap::new(),
        opens: BTreeMap::new(),
        select_skipped: Vec::new(),
        goal: BTreeMap::new(),
        goal_small_first: Vec::new(),
        goal_rounds: p.goal_rounds,
        calls: Vec::new(),
    };
    progress.phase("c10k: what one wait call costs");
    res.calls = call_costs(5, 2000)?;
    let budget = Budget {
        rounds: per_block,
        warmup: p.warmup,
        cap_ns: (p.cell_secs * 1e9) as u64,
        min_rounds: 10.min(per_block),
    };
    for block in 1..=blocks {
        for &n in &p.sizes {
            for kind in KINDS {
                progress.phase(&format!(
                    "c10k {block}/{blocks}: opening {n} {}s",
                    kind.object()
                ));
                let open = res.opens.entry((kind, n)).or_default();
                let events_map = &mut res.events;
                let skipped = &mut res.select_skipped;
                with_crowd(kind, n, progress, open, |sender, crowd, open| {
                    let max_fd = crowd.fds().into_iter().max().unwrap_or(0);
                    for mech in MECHANISMS {
                        if mech == Mechanism::Select && max_fd as usize >= sys::FD_SETSIZE {
                            if block == 1 {
                                skipped.push((kind, n, max_fd));
                            }
                            continue;
                        }
                        progress.phase(&format!(
                            "c10k {block}/{blocks}: {} {}, {n} watched",
                            kind.name(),
                            mech.name(),
                        ));
                        let acc = events_map.entry((kind, mech, n)).or_default();
                        let add = events(kind, sender, crowd, mech, p, budget, progress, acc)?;
                        if let (Mechanism::Epoll, Some(t)) = (mech, add) {
                            open.epoll_add_total.push(t);
                        }
                    }
                    scan(crowd, 20, p.cell_secs / 4.0, open)
                })?;
            }
        }
    }

    let (Some(&small), Some(&big)) = (p.sizes.first(), p.sizes.last()) else {
        return Ok(res);
    };
    if small == big || p.goal_pairs == 0 {
        return Ok(res);
    }
    let goal_budget = Budget {
        rounds: p.goal_rounds.max(1),
        warmup: p.warmup,
        cap_ns: u64::MAX,
        min_rounds: p.goal_rounds.max(1),
    };
    for pair in 0..p.goal_pairs {
        let small_first = pair % 2 == 0;
        res.goal_small_first.push(small_first);
        let order = if small_first {
            [small, big]
        } else {
            [big, small]
        };
        for kind in KINDS {
            for n in order {
                progress.phase(&format!(
                    "c10k epoll goal, pair {}/{}: {} epoll, {n} open",
                    pair + 1,
                    p.goal_pairs,
                    kind.name()
                ));
                let acc = res.goal.entry((kind, n)).or_default();
                // What opening costs is taken from step 1 only.
                let mut scratch = OpenResult::default();
                with_crowd(kind, n, progress, &mut scratch, |sender, crowd, _| {
                    events(
                        kind,
                        sender,
                        crowd,
                        Mechanism::Epoll,
                        p,
                        goal_budget,
                        progress,
                        acc,
                    )
                    .map(drop)
                })?;
            }
        }
    }
    Ok(res)
}

/// The bound the issue sets on epoll's cost with 10,000 endpoints open,
/// relative to 10.
pub const EPOLL_GOAL: f64 = 1.2;

/// The bound on mini-epoll's cost per event, relative to epoll's on the
/// same endpoints.
pub const MINI_EPOLL_GOAL: f64 = 1.5;

/// "met", or by how much `r` exceeds `goal`.
fn verdict(r: f64, goal: f64) -> String {
    if r <= goal {
        "met".into()
    } else {
        format!("MISSED by {:.1} %", (r / goal - 1.0) * 100.0)
    }
}

/// `a / b` of two medians, 0 when `b` is.
fn fratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len().is_multiple_of(2) {
        (s[m - 1] + s[m]) / 2.0
    } else {
        s[m]
    })
}

/// "lo..hi" of per-block ratios.
fn ratio_range(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    if v.is_empty() {
        "-".into()
    } else {
        format!("{lo:.2}x..{hi:.2}x")
    }
}

impl C10kResult {
    fn sizes_of(&self, kind: Kind, mech: Mechanism) -> Vec<usize> {
        self.sizes
            .iter()
            .copied()
            .filter(|&n| self.events.contains_key(&(kind, mech, n)))
            .collect()
    }

    /// The report's section 4.
    pub fn render(&self, size: usize, o: &mut String) {
        use crate::table::{ratio, thousands, us, Table};
        use std::fmt::Write as _;
        let _ = writeln!(
            o,
            "\n4. C10K: one ready event among N watched idle endpoints. N objects open (simnic endpoints; UDP\n   \
             sockets on 127.0.0.1 as the reference), all idle but the last one opened; a waiter thread watches\n   \
             all N for input with select, poll or epoll (level-triggered); once it is asleep, the sender sends\n   \
             one {}-byte datagram to the active one, which the waiter reads and echoes. one-way = send() called\n   \
             -> the wait call returned; waiter CPU = the waiter's CPU time in the wait call\n   \
             (CLOCK_THREAD_CPUTIME_ID: for select and poll, the pass over all N before sleeping and the one after\n   \
             the wake-up). {} blocks, N and the transports taking turns; per block and (transport, mechanism, N)\n   \
             one run of up to {} events after up to {} warm-up events, cut short after {} s (with at least 10\n   \
             measured). Placement: {}.\n",
            size.max(MIN_LEN),
            self.blocks,
            self.rounds_per_block,
            self.warmup,
            self.cell_secs,
            self.pin
        );
        let min_n = thousands(*self.sizes.first().unwrap_or(&0) as f64);
        let mut t = Table::new(&[
            "transport",
            "mechanism",
            "N",
            "events",
            "one-way p50",
            "one-way p99",
            "waiter CPU p50",
            "waiter CPU p99",
            &format!("one-way vs N={min_n}"),
            &format!("CPU vs N={min_n}"),
            "one-way p50 per block",
        ]);
        for kind in KINDS {
            for mech in MECHANISMS {
                let sizes = self.sizes_of(kind, mech);
                let Some(base) = sizes.first().map(|&n| &self.events[&(kind, mech, n)]) else {
                    continue;
                };
                for n in sizes {
                    let r = &self.events[&(kind, mech, n)];
                    let (ow, cpu) = (r.oneway(), r.cpu());
                    let lo = r.block_p50.iter().map(|b| b.0).min().unwrap_or(0);
                    let hi = r.block_p50.iter().map(|b| b.0).max().unwrap_or(0);
                    t.row(vec![
                        kind.name().into(),
                        mech.name().into(),
                        thousands(n as f64),
                        r.oneway.len().to_string(),
                        us(ow.p50),
                        us(ow.p99),
                        us(cpu.p50),
                        us(cpu.p99),
                        ratio(ow.p50 as f64, base.oneway().p50 as f64),
                        ratio(cpu.p50 as f64, base.cpu().p50 as f64),
                        format!("{:.1}..{:.1} us", lo as f64 / 1000.0, hi as f64 / 1000.0),
                    ]);
                }
            }
        }
        *o += &t.render();
        for (kind, n, fd) in &self.select_skipped {
            let _ = writeln!(
                o,
                "({} select with N={}: not run, the descriptors reach {fd}, and select takes only those below FD_SETSIZE = {})",
                kind.name(),
                thousands(*n as f64),
                sys::FD_SETSIZE
            );
        }

        // Growth from the smallest to the largest N, and the slope: what
        // one more watched descriptor adds.
        let _ = writeln!(
            o,
            "\nGrowth from the smallest to the largest N (p50), and what each additional watched descriptor adds:"
        );
        let mut t = Table::new(&[
            "mechanism",
            "N",
            "one-way simnic",
            "one-way UDP",
            "CPU simnic",
            "CPU UDP",
            "CPU per extra fd simnic",
            "CPU per extra fd UDP",
            "per fd simnic / UDP",
        ]);
        for mech in MECHANISMS {
            let growth = |kind: Kind| {
                let sizes = self.sizes_of(kind, mech);
                let (&a, &b) = (sizes.first()?, sizes.last()?);
                let (ra, rb) = (
                    &self.events[&(kind, mech, a)],
                    &self.events[&(kind, mech, b)],
                );
                let (ca, cb) = (ra.cpu().p50 as f64, rb.cpu().p50 as f64);
                let slope = if b > a {
                    (cb - ca) / (b - a) as f64
                } else {
                    0.0
                };
                Some((
                    a,
                    b,
                    fratio(rb.oneway().p50, ra.oneway().p50),
                    cb / ca.max(1.0),
                    slope,
                ))
            };
            let (s, u) = (growth(Kind::Simnic), growth(Kind::Udp));
            let Some((a, b, ..)) = s.or(u) else { continue };
            let f = |g: Option<(usize, usize, f64, f64, f64)>, i: usize| {
                g.map(|g| match i {
                    0 => format!("{:.2}x", g.2),
                    1 => format!("{:.2}x", g.3),
                    _ => format!("{:.1} ns", g.4),
                })
                .unwrap_or_else(|| "-".into())
            };
            let per_fd = match (s, u) {
                // A slope within noise of zero says nothing as a ratio.
                (Some(s), Some(u)) if u.4 >= 10.0 && s.4 >= 10.0 => ratio(s.4, u.4),
                _ => "-".into(),
            };
            t.row(vec![
                mech.name().into(),
                format!("{} -> {}", thousands(a as f64), thousands(b as f64)),
                f(s, 0),
                f(u, 0),
                f(s, 1),
                f(u, 1),
                f(s, 2),
                f(u, 2),
                per_fd,
            ]);
        }
        *o += &t.render();

        let _ = writeln!(
            o,
            "\nOne ->poll per descriptor: poll(all N, timeout 0), which calls every file's ->poll once and\n\
             registers on no wait queue (the median call, divided by N):"
        );
        let mut head = vec!["transport".to_string()];
        head.extend(
            self.sizes
                .iter()
                .map(|&n| format!("N={}", thousands(n as f64))),
        );
        let head: Vec<&str> = head.iter().map(String::as_str).collect();
        let mut t = Table::new(&head);
        let per_fd = |kind: Kind, n: usize| {
            self.opens
                .get(&(kind, n))
                .filter(|r| !r.scan.is_empty())
                .map(|r| Summary::of(&r.scan).p50 as f64 / n as f64)
        };
        for kind in KINDS {
            let mut row = vec![kind.name().to_string()];
            row.extend(
                self.sizes
                    .iter()
                    .map(|&n| per_fd(kind, n).map_or_else(|| "-".into(), |v| format!("{v:.0} ns"))),
            );
            t.row(row);
        }
        let mut row = vec!["simnic / UDP".to_string()];
        row.extend(self.sizes.iter().map(|&n| {
            match (per_fd(Kind::Simnic, n), per_fd(Kind::Udp, n)) {
                (Some(a), Some(b)) => ratio(a, b),
                _ => "-".into(),
            }
        }));
        t.row(row);
        *o += &t.render();

        self.render_epoll_goal(o);
        self.render_mini(o);
        self.render_open(o);
    }

    /// The module's multiplexers against the kernel's, on the same crowds
    /// in the same blocks: mini-epoll within 1.5x of epoll per event and
    /// flat in N; mini-poll linear in N, as poll is.
    fn render_mini(&self, o: &mut String) {
        use crate::table::{thousands, us, Table};
        use std::fmt::Write as _;
        let kind = Kind::Simnic;
        let pairs = [(Mechanism::MiniEpoll, Mechanism::Epoll), (Mechanism::MiniPoll, Mechanism::Poll)];
        if !pairs.iter().any(|&(m, _)| !self.sizes_of(kind, m).is_empty()) {
            return;
        }
        let _ = writeln!(
            o,
            "\nThe module's multiplexers (/dev/simnic-epoll) against the kernel's, watching the same simnic\n\
             endpoints, one run after the other in each block. per block = the median of the blocks' own p50\n\
             ratios (both runs of a block see the same host load). Goal: mini-epoll within {MINI_EPOLL_GOAL}x of epoll\n\
             per event, and flat in N (largest N within {EPOLL_GOAL}x of the smallest, epoll's own bound):"
        );
        let mut t = Table::new(&[
            "mechanism",
            "N",
            "one-way p50",
            "kernel's",
            "ratio (per block)",
            "waiter CPU p50",
            "kernel's",
            "ratio (per block)",
            &format!("goal {MINI_EPOLL_GOAL}x"),
        ]);
        let mut verdicts = Vec::new();
        for (mine, theirs) in pairs {
            for n in self.sizes_of(kind, mine) {
                let (Some(a), Some(b)) = (
                    self.events.get(&(kind, mine, n)),
                    self.events.get(&(kind, theirs, n)),
                ) else {
                    continue;
                };
                let per_block = |oneway: bool| -> Option<f64> {
                    let v: Vec<f64> = a
                        .block_p50
                        .iter()
                        .zip(&b.block_p50)
                        .map(|(x, y)| if oneway { fratio(x.0, y.0) } else { fratio(x.1, y.1) })
                        .collect();
                    median(&v)
                };
                let (ow, cpu) = (per_block(true), per_block(false));
                let judged = mine == Mechanism::MiniEpoll;
                let worst = ow.into_iter().chain(cpu).fold(0.0, f64::max);
                if judged {
                    verdicts.push((format!("N={}", thousands(n as f64)), worst, MINI_EPOLL_GOAL));
                }
                let show = |r: Option<f64>| r.map_or_else(|| "-".into(), |r| format!("{r:.2}x"));
                t.row(vec![
                    mine.name().into(),
                    thousands(n as f64),
                    us(a.oneway().p50),
                    us(b.oneway().p50),
                    show(ow),
                    us(a.cpu().p50),
                    us(b.cpu().p50),
                    show(cpu),
                    if judged { verdict(worst, MINI_EPOLL_GOAL) } else { "-".into() },
                ]);
            }
        }
        *o += &t.render();

        // Flatness and slope, from the same events.
        let mut t = Table::new(&[
            "mechanism",
            "N",
            "one-way growth",
            "CPU growth",
            "CPU per extra fd",
            "kernel's per extra fd",
            "flat?",
        ]);
        for (mine, theirs) in pairs {
            let sizes = self.sizes_of(kind, mine);
            let (Some(&lo), Some(&hi)) = (sizes.first(), sizes.last()) else {
                continue;
            };
            if lo == hi {
                continue;
            }
            let slope = |m: Mechanism| -> Option<(f64, f64, f64)> {
                let (a, b) = (self.events.get(&(kind, m, lo))?, self.events.get(&(kind, m, hi))?);
                let (ca, cb) = (a.cpu().p50 as f64, b.cpu().p50 as f64);
                Some((fratio(b.oneway().p50, a.oneway().p50), cb / ca.max(1.0), (cb - ca) / (hi - lo) as f64))
            };
            let Some((ow, cpu, per_fd)) = slope(mine) else { continue };
            let kernel = slope(theirs).map_or_else(|| "-".into(), |k| format!("{:.1} ns", k.2));
            let flat = if mine == Mechanism::MiniEpoll {
                let worst = ow.max(cpu);
                verdicts.push((format!("flat {} -> {}", thousands(lo as f64), thousands(hi as f64)), worst, EPOLL_GOAL));
                verdict(worst, EPOLL_GOAL)
            } else {
                "- (linear, as poll)".into()
            };
            t.row(vec![
                mine.name().into(),
                format!("{} -> {}", thousands(lo as f64), thousands(hi as f64)),
                format!("{ow:.2}x"),
                format!("{cpu:.2}x"),
                format!("{per_fd:.1} ns"),
                kernel,
                flat,
            ]);
        }
        *o += &t.render();
        if !self.calls.is_empty() {
            let _ = writeln!(
                o,
                "\nOne call without sleeping (timeout 0), mean over 2,000 calls, median of 5 rounds; the last row\n\
                 is what the ioctl path costs by itself (FIONREAD on an endpoint against getppid):"
            );
            let mut t = Table::new(&["call", "mini-epoll / ioctl", "epoll / syscall", "ratio"]);
            for (what, mine, theirs) in &self.calls {
                let (Some(a), Some(b)) = (median(mine), median(theirs)) else { continue };
                t.row(vec![(*what).into(), format!("{a:.0} ns"), format!("{b:.0} ns"), format!("{:.2}x", a / b.max(1.0))]);
            }
            *o += &t.render();
        }
        if !verdicts.is_empty() {
            let missed: Vec<String> = verdicts
                .iter()
                .filter(|(_, r, goal)| r > goal)
                .map(|(w, ..)| w.clone())
                .collect();
            let _ = writeln!(
                o,
                "mini-epoll goal: {}",
                if missed.is_empty() { "MET".to_string() } else { format!("MISSED ({})", missed.join(", ")) }
            );
        }
    }

    /// The issue's goal: epoll with the largest N open against the
    /// smallest, within 1.2x, from the pairs of runs close in time.
    fn render_epoll_goal(&self, o: &mut String) {
        use crate::table::{thousands, us, Table};
        use std::fmt::Write as _;
        let (Some(&a), Some(&b)) = (self.sizes.first(), self.sizes.last()) else {
            return;
        };
        if a == b || self.goal_small_first.is_empty() {
            return;
        }
        let (sa, sb) = (thousands(a as f64), thousands(b as f64));
        let pairs = self.goal_small_first.len();
        let _ = writeln!(
            o,
            "\nGoal: {sb} endpoints open in one process and all in one epoll set: one datagram to one of them costs\n\
             no more than {EPOLL_GOAL}x what it costs with {sa} open. Measured apart from the table above, in {pairs} pairs\n\
             of runs back to back (open {sa}, epoll_ctl ADD them all, {} events on epoll, close; the same with {sb};\n\
             every other pair {sb} first), so that both sides of a pair see the same host load. ratio = of the\n\
             p50s over all pairs; per pair = the range, and the median, of the pairs' own p50 ratios. The goal\n\
             is judged on the median pair, which a pair caught by a change of host load does not move:",
            self.goal_rounds
        );
        let mut t = Table::new(&[
            "epoll",
            &format!("{sa} open"),
            &format!("{sb} open"),
            "ratio",
            "per pair",
            "median pair",
            &format!("goal {EPOLL_GOAL}x"),
        ]);
        let mut verdicts = Vec::new();
        for kind in KINDS {
            let (Some(ra), Some(rb)) = (self.goal.get(&(kind, a)), self.goal.get(&(kind, b)))
            else {
                continue;
            };
            // (label, p50 or p99, one-way or CPU)
            let rows: [(&str, bool, bool); 3] = [
                ("one-way p50", false, true),
                ("one-way p99", true, true),
                ("waiter CPU p50", false, false),
            ];
            for (what, p99, oneway) in rows {
                let get = |r: &EventResult| {
                    let s = if oneway { r.oneway() } else { r.cpu() };
                    if p99 {
                        s.p99
                    } else {
                        s.p50
                    }
                };
                let (va, vb) = (get(ra), get(rb));
                let r = fratio(vb, va);
                let per_pair: Vec<f64> = if p99 {
                    Vec::new()
                } else {
                    ra.block_p50
                        .iter()
                        .zip(&rb.block_p50)
                        .map(|(x, y)| {
                            if oneway {
                                fratio(y.0, x.0)
                            } else {
                                fratio(y.1, x.1)
                            }
                        })
                        .collect()
                };
                let mid = median(&per_pair);
                let judge = !p99 && kind == Kind::Simnic;
                if let (true, Some(m)) = (judge, mid) {
                    verdicts.push((what, m));
                }
                t.row(vec![
                    format!(
                        "{} {what}{}",
                        kind.name(),
                        if kind == Kind::Udp {
                            " (reference)"
                        } else {
                            ""
                        }
                    ),
                    us(va),
                    us(vb),
                    format!("{r:.2}x"),
                    ratio_range(&per_pair),
                    mid.map_or_else(|| "-".into(), |m| format!("{m:.2}x")),
                    match (judge, mid) {
                        (true, Some(m)) => verdict(m, EPOLL_GOAL),
                        _ => "-".into(),
                    },
                ]);
            }
        }
        *o += &t.render();
        if !verdicts.is_empty() {
            let all = verdicts.iter().all(|(_, r)| *r <= EPOLL_GOAL);
            let list: Vec<String> = verdicts
                .iter()
                .map(|(w, r)| format!("{w} {r:.2}x"))
                .collect();
            let _ = writeln!(
                o,
                "=> epoll goal {}: simnic median pair {} (bound {EPOLL_GOAL}x)",
                if all { "MET" } else { "MISSED" },
                list.join(", ")
            );
        }
    }

    /// Opening and closing N: per object, and how that changes with N.
    fn render_open(&self, o: &mut String) {
        use crate::table::{ms, ratio, thousands, us, Table};
        use std::fmt::Write as _;
        let sizes = &self.sizes;
        // The per-open cost of the largest N is compared with that of the
        // next size down (below that, a handful of opens is mostly noise).
        let base = if sizes.len() >= 2 {
            sizes[sizes.len() - 2]
        } else {
            sizes[0]
        };
        let _ = writeln!(
            o,
            "\nOpening N (one after another, each timed), closing them (all at once) and adding them to an epoll\n\
             set (EPOLL_CTL_ADD, one by one), in every block; open all = the median over the blocks, per open =\n\
             that / N, per open p50 = the median single open; last 10% / first 10% = time spent in the last\n\
             tenth of the opens over the first, median over the blocks (1.00x: flat):"
        );
        let mut t = Table::new(&[
            "object",
            "N",
            "open all",
            "per open",
            "per open p50",
            "last 10% / first 10%",
            &format!("per open vs N={}", thousands(base as f64)),
            "close per",
            "epoll_ctl ADD per fd",
        ]);
        let mut goal = None;
        for kind in KINDS {
            let base_per = self
                .opens
                .get(&(kind, base))
                .map(|r| OpenResult::per_object(&r.open_total, base));
            for &n in sizes {
                let Some(r) = self.opens.get(&(kind, n)) else {
                    continue;
                };
                let per = OpenResult::per_object(&r.open_total, n);
                let total = OpenResult::per_object(&r.open_total, 1);
                // A tenth of fewer than 100 opens is too few to compare.
                let per_block: Vec<f64> = r
                    .tenths
                    .iter()
                    .map(|&(first, last)| fratio(last, first))
                    .collect();
                let tenths = match median(&per_block) {
                    Some(m) if n >= 1000 => format!("{m:.2}x"),
                    _ => "-".into(),
                };
                let vs = base_per
                    .map(|b| ratio(per, b))
                    .unwrap_or_else(|| "-".into());
                if kind == Kind::Simnic && n == *sizes.last().expect("sizes") && n > base {
                    goal = base_per.map(|b| (per / b, n));
                }
                t.row(vec![
                    kind.object().into(),
                    thousands(n as f64),
                    ms(total as u64),
                    us(per as u64),
                    us(Summary::of(&r.per_open).p50),
                    tenths,
                    vs,
                    us(OpenResult::per_object(&r.close_total, n) as u64),
                    us(OpenResult::per_object(&r.epoll_add_total, n) as u64),
                ]);
            }
        }
        *o += &t.render();
        if let Some((g, n)) = goal {
            // Opening n in O(n log n) means a per-open cost that grows like
            // log n at most; O(n^2), like n.
            let allow = (n as f64).ln() / (base as f64).ln();
            let quad = n as f64 / base as f64;
            let _ = writeln!(
                o,
                "=> opening {} simnic endpoints: per-open cost {g:.2}x that of opening {} (O(n log n) allows up to {allow:.2}x,\n   \
                 O(n^2) would give {quad:.0}x): {}",
                thousands(n as f64),
                thousands(base as f64),
                if g <= allow { "O(n log n) at most: MET" } else { "grows faster than n log n: MISSED" }
            );
        }
    }

    /// Raw numbers of the section.
    pub fn render_raw(&self, o: &mut String) {
        use std::fmt::Write as _;
        for ((kind, mech, n), r) in &self.events {
            let tag = format!("c10k {} {} N={n}", kind.name(), mech.name());
            let _ = writeln!(o, "{tag}: one-way    {}", r.oneway().raw());
            let _ = writeln!(o, "{tag}: waiter CPU {}", r.cpu().raw());
            let _ = writeln!(o, "{tag}: RTT/2      {}", r.half_rtt().raw());
            let b: Vec<String> = r
                .block_p50
                .iter()
                .map(|(a, c)| format!("{a}/{c}"))
                .collect();
            let _ = writeln!(
                o,
                "{tag}: one-way/CPU p50 of each block (ns): {}",
                b.join(" ")
            );
            let mut extra = format!(
                "{tag}: runs={} warm-up events={} highest fd watched={} polls finding the waiter not yet asleep={} ENOBUFS retries={}",
                r.runs, r.warmup_events, r.max_fd, r.not_asleep_polls, r.tx_busy_retries
            );
            if let Some(w) = r.wakeups {
                let _ = write!(
                    extra,
                    " active endpoint wakeups={w} over {} events",
                    r.oneway.len()
                );
            }
            let _ = writeln!(o, "{extra}");
        }
        for ((kind, n), r) in &self.goal {
            let tag = format!("c10k goal {} epoll N={n}", kind.name());
            let _ = writeln!(o, "{tag}: one-way    {}", r.oneway().raw());
            let _ = writeln!(o, "{tag}: waiter CPU {}", r.cpu().raw());
            let mut extra = format!(
                "{tag}: polls finding the waiter not yet asleep={} ENOBUFS retries={}",
                r.not_asleep_polls, r.tx_busy_retries
            );
            if let Some(w) = r.wakeups {
                let _ = write!(
                    extra,
                    " active endpoint wakeups={w} over {} events",
                    r.oneway.len()
                );
            }
            let _ = writeln!(o, "{extra}");
        }
        if let (Some(&a), Some(&b)) = (self.sizes.first(), self.sizes.last()) {
            for kind in KINDS {
                let (Some(ra), Some(rb)) = (self.goal.get(&(kind, a)), self.goal.get(&(kind, b)))
                else {
                    continue;
                };
                let pairs: Vec<String> = ra
                    .block_p50
                    .iter()
                    .zip(&rb.block_p50)
                    .zip(&self.goal_small_first)
                    .map(|((x, y), &first)| {
                        format!(
                            "{:.2}/{:.2}{}",
                            fratio(y.0, x.0),
                            fratio(y.1, x.1),
                            if first { "" } else { "r" }
                        )
                    })
                    .collect();
                let _ = writeln!(
                    o,
                    "c10k goal {} epoll: N={b} over N={a}, one-way/CPU p50 ratio of each pair (r: N={b} ran first): {}",
                    kind.name(),
                    pairs.join(" ")
                );
            }
        }
        for ((kind, n), r) in &self.opens {
            let tag = format!("c10k open {} x{n}", kind.object());
            let _ = writeln!(o, "{tag}: per open {}", Summary::of(&r.per_open).raw());
            let j = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
            let _ = writeln!(
                o,
                "{tag}: totals of each block (ns): open {} close {} epoll add {}; first/last tenth of the opens: {}",
                j(&r.open_total),
                j(&r.close_total),
                j(&r.epoll_add_total),
                r.tenths
                    .iter()
                    .map(|(a, b)| format!("{a}/{b}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            let _ = writeln!(
                o,
                "{tag}: poll(timeout 0) over all {}",
                Summary::of(&r.scan).raw()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goal_verdicts() {
        assert_eq!(verdict(1.2, EPOLL_GOAL), "met");
        assert_eq!(verdict(0.7, EPOLL_GOAL), "met");
        assert_eq!(verdict(1.32, EPOLL_GOAL), "MISSED by 10.0 %");
    }

    #[test]
    fn pair_statistics() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(ratio_range(&[1.1, 0.9, 1.0]), "0.90x..1.10x");
        assert_eq!(ratio_range(&[]), "-");
        assert_eq!(fratio(3, 2), 1.5);
        assert_eq!(fratio(3, 0), 0.0);
    }

    #[test]
    fn per_object_cost() {
        assert_eq!(OpenResult::per_object(&[1000, 9000, 2000], 10), 200.0);
        assert_eq!(OpenResult::per_object(&[], 10), 0.0);
    }
}
