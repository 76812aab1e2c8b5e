//! The module's own multiplexers against the kernel's.
//!
//! The conformance suite runs one workload against real epoll and against
//! mini-epoll (`/dev/simnic-epoll`) and requires the same transcript of
//! events: level-triggered, edge-triggered and one-shot, on simnic
//! endpoints, pipes, eventfds and UDP sockets, and nested. The other tests
//! cover what is mini-epoll's own: items hold their file (and the test shows
//! the difference from epoll), `POLLFREE`, loops, `EPOLLEXCLUSIVE`, and
//! mini-poll's count of what it did.

use std::net::UdpSocket;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

use simnic::{
    Endpoint, MiniEpoll, MiniPollFd, MINI_EPOLL_CTL_ADD, MINI_EPOLL_CTL_DEL, MINI_EPOLL_CTL_MOD,
};

use crate::net::*;
use crate::sys::*;
use crate::udp::*;

const IN: u32 = libc::EPOLLIN as u32;
const ET: u32 = libc::EPOLLET as u32;
const ONESHOT: u32 = libc::EPOLLONESHOT as u32;
const EXCLUSIVE: u32 = libc::EPOLLEXCLUSIVE as u32;

/// What a workload needs of an epoll implementation.
trait Poller {
    fn name(&self) -> &'static str;
    fn fd(&self) -> RawFd;
    fn ctl(&self, op: u32, fd: RawFd, events: u32, data: u64) -> Result<(), i32>;
    /// Up to 16 events, sorted by data, waiting up to `timeout_ms`.
    fn wait(&self, timeout_ms: i32) -> Result<Vec<(u32, u64)>, i32>;
    /// Up to `max` events in the order reported, without waiting.
    fn wait_max(&self, max: usize) -> Result<Vec<(u32, u64)>, i32>;
}

/// The kernel's epoll.
struct Real(OwnedFd);

impl Real {
    fn new() -> Result<Self, String> {
        // SAFETY: epoll_create1 with a valid flag.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        ensure!(fd >= 0, "epoll_create1: {}", errname(errno()));
        // SAFETY: a fresh descriptor.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
}

impl Poller for Real {
    fn name(&self) -> &'static str {
        "epoll"
    }

    fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    fn ctl(&self, op: u32, fd: RawFd, events: u32, data: u64) -> Result<(), i32> {
        let op = match op {
            MINI_EPOLL_CTL_ADD => libc::EPOLL_CTL_ADD,
            MINI_EPOLL_CTL_DEL => libc::EPOLL_CTL_DEL,
            _ => libc::EPOLL_CTL_MOD,
        };
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: a valid event.
        if unsafe { libc::epoll_ctl(self.fd(), op, fd, &mut ev) } == 0 {
            Ok(())
        } else {
            Err(errno())
        }
    }

    fn wait(&self, timeout_ms: i32) -> Result<Vec<(u32, u64)>, i32> {
        let mut out = [libc::epoll_event { events: 0, u64: 0 }; 16];
        // SAFETY: room for 16 events.
        let n = unsafe { libc::epoll_wait(self.fd(), out.as_mut_ptr(), 16, timeout_ms) };
        if n < 0 {
            return Err(errno());
        }
        let mut v: Vec<(u32, u64)> = out[..n as usize]
            .iter()
            .map(|e| (e.events, e.u64))
            .collect();
        v.sort_by_key(|e| e.1);
        Ok(v)
    }

    fn wait_max(&self, max: usize) -> Result<Vec<(u32, u64)>, i32> {
        let mut out = vec![libc::epoll_event { events: 0, u64: 0 }; max];
        // SAFETY: room for `max` events.
        let n = unsafe { libc::epoll_wait(self.fd(), out.as_mut_ptr(), max as i32, 0) };
        if n < 0 {
            return Err(errno());
        }
        Ok(out[..n as usize]
            .iter()
            .map(|e| (e.events, e.u64))
            .collect())
    }
}

/// mini-epoll.
struct Mini(MiniEpoll);

impl Mini {
    fn new() -> Result<Self, String> {
        okay(MiniEpoll::open(), "open /dev/simnic-epoll").map(Self)
    }
}

impl Poller for Mini {
    fn name(&self) -> &'static str {
        "mini-epoll"
    }

    fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    fn ctl(&self, op: u32, fd: RawFd, events: u32, data: u64) -> Result<(), i32> {
        self.0.ctl(op, fd, events, data).map_err(|e| raw(&e))
    }

    fn wait(&self, timeout_ms: i32) -> Result<Vec<(u32, u64)>, i32> {
        let mut v = self.0.wait(16, timeout_ms).map_err(|e| raw(&e))?;
        v.sort_by_key(|e| e.1);
        Ok(v)
    }

    fn wait_max(&self, max: usize) -> Result<Vec<(u32, u64)>, i32> {
        self.0.wait(max, 0).map_err(|e| raw(&e))
    }
}

/// A readable thing a workload drives: make it readable, drain it.
trait Source {
    fn kind(&self) -> &'static str;
    fn fd(&self) -> RawFd;
    /// Make one more unit readable, and wait until it is (asynchronous
    /// sources: the NIC delivers later).
    fn feed(&self) -> TestResult;
    /// Read everything that is readable.
    fn drain(&self) -> TestResult;
}

struct EpSource(Endpoint);

impl Source for EpSource {
    fn kind(&self) -> &'static str {
        "simnic endpoint"
    }
    fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
    fn feed(&self) -> TestResult {
        let before = ep_stats(&self.0)?.rx_packets;
        send(self.fd(), b"x", "write")?;
        let deadline = Instant::now() + ARRIVAL;
        while ep_stats(&self.0)?.rx_packets == before {
            ensure!(
                Instant::now() < deadline,
                "the datagram did not arrive within {} s",
                ARRIVAL.as_secs()
            );
            sleep_ms(2);
        }
        Ok(())
    }
    fn drain(&self) -> TestResult {
        let mut buf = [0u8; 64];
        while read(self.fd(), &mut buf).is_ok() {}
        Ok(())
    }
}

struct PipeSource(Pipe);

impl Source for PipeSource {
    fn kind(&self) -> &'static str {
        "pipe"
    }
    fn fd(&self) -> RawFd {
        self.0.r.as_raw_fd()
    }
    fn feed(&self) -> TestResult {
        expect_count(write(self.0.w.as_raw_fd(), b"p"), 1, "pipe write")
    }
    fn drain(&self) -> TestResult {
        let mut buf = [0u8; 64];
        while read(self.fd(), &mut buf).is_ok_and(|n| n > 0) {}
        Ok(())
    }
}

struct EventFd(OwnedFd);

impl Source for EventFd {
    fn kind(&self) -> &'static str {
        "eventfd"
    }
    fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
    fn feed(&self) -> TestResult {
        expect_count(write(self.fd(), &1u64.to_ne_bytes()), 8, "eventfd write")
    }
    fn drain(&self) -> TestResult {
        let _ = read(self.fd(), &mut [0u8; 8]);
        Ok(())
    }
}

struct UdpSource(UdpSocket);

impl Source for UdpSource {
    fn kind(&self) -> &'static str {
        "UDP socket"
    }
    fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
    fn feed(&self) -> TestResult {
        let addr = self.0.local_addr().map_err(|e| e.to_string())?;
        self.0.send_to(b"u", addr).map_err(|e| e.to_string())?;
        Ok(())
    }
    fn drain(&self) -> TestResult {
        let mut buf = [0u8; 64];
        while self.0.recv(&mut buf).is_ok() {}
        Ok(())
    }
}

fn sources() -> Result<Vec<Box<dyn Source>>, String> {
    let ep = open_dev_nonblocking()?;
    let pipe = Pipe::new()?;
    set_nonblocking(pipe.r.as_raw_fd(), true)?;
    // SAFETY: eventfd with valid flags.
    let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    ensure!(efd >= 0, "eventfd: {}", errname(errno()));
    let udp = udp_socket()?;
    udp.set_nonblocking(true).map_err(|e| e.to_string())?;
    // SAFETY: a fresh descriptor.
    Ok(vec![
        Box::new(EpSource(ep)),
        Box::new(PipeSource(pipe)),
        Box::new(EventFd(unsafe { OwnedFd::from_raw_fd(efd) })),
        Box::new(UdpSource(udp)),
    ])
}

/// One line of a transcript: what a wait returned.
fn step(t: &mut Vec<String>, what: &str, r: Result<Vec<(u32, u64)>, i32>) {
    t.push(match r {
        Ok(v) => format!("{what}: {v:x?}"),
        Err(e) => format!("{what}: {}", errname(e)),
    });
}

/// The workload: level, edge and one-shot on one source, a transcript of
/// every wait's result.
fn workload(p: &dyn Poller, s: &dyn Source) -> Result<Vec<String>, String> {
    let mut t = Vec::new();
    let fd = s.fd();
    // Level-triggered.
    p.ctl(MINI_EPOLL_CTL_ADD, fd, IN, 1)
        .map_err(|e| format!("ADD: {}", errname(e)))?;
    step(&mut t, "LT idle", p.wait(0));
    s.feed()?;
    step(&mut t, "LT fed", p.wait(5000));
    step(&mut t, "LT again (still readable)", p.wait(0));
    s.drain()?;
    step(&mut t, "LT drained", p.wait(0));
    // Edge-triggered.
    p.ctl(MINI_EPOLL_CTL_MOD, fd, IN | ET, 2)
        .map_err(|e| format!("MOD ET: {}", errname(e)))?;
    step(&mut t, "ET idle", p.wait(0));
    s.feed()?;
    step(&mut t, "ET fed", p.wait(5000));
    step(&mut t, "ET no new data", p.wait(0));
    s.feed()?;
    step(&mut t, "ET fed again", p.wait(5000));
    s.drain()?;
    step(&mut t, "ET drained", p.wait(0));
    // Two arrivals before a wait: one event, then nothing.
    s.feed()?;
    s.feed()?;
    step(&mut t, "ET fed twice", p.wait(5000));
    step(&mut t, "ET after two arrivals and one event", p.wait(0));
    s.drain()?;
    // One-shot.
    p.ctl(MINI_EPOLL_CTL_MOD, fd, IN | ONESHOT, 3)
        .map_err(|e| format!("MOD ONESHOT: {}", errname(e)))?;
    s.feed()?;
    step(&mut t, "ONESHOT fed", p.wait(5000));
    s.feed()?;
    step(&mut t, "ONESHOT disarmed", p.wait(0));
    p.ctl(MINI_EPOLL_CTL_MOD, fd, IN | ONESHOT, 4)
        .map_err(|e| format!("re-arm: {}", errname(e)))?;
    step(&mut t, "ONESHOT re-armed", p.wait(0));
    s.drain()?;
    // Errors of the interface.
    t.push(format!(
        "ADD again: {:?}",
        p.ctl(MINI_EPOLL_CTL_ADD, fd, IN, 5).map_err(errname)
    ));
    t.push(format!(
        "DEL: {:?}",
        p.ctl(MINI_EPOLL_CTL_DEL, fd, 0, 0).map_err(errname)
    ));
    t.push(format!(
        "DEL again: {:?}",
        p.ctl(MINI_EPOLL_CTL_DEL, fd, 0, 0).map_err(errname)
    ));
    t.push(format!(
        "MOD absent: {:?}",
        p.ctl(MINI_EPOLL_CTL_MOD, fd, IN, 0).map_err(errname)
    ));
    t.push(format!(
        "ADD bad fd: {:?}",
        p.ctl(MINI_EPOLL_CTL_ADD, 9999, IN, 0).map_err(errname)
    ));
    t.push(format!(
        "ADD itself: {:?}",
        p.ctl(MINI_EPOLL_CTL_ADD, p.fd(), IN, 0).map_err(errname)
    ));
    Ok(t)
}

fn compare(what: &str, real: Vec<String>, mini: Vec<String>) -> TestResult {
    for (r, m) in real.iter().zip(mini.iter()) {
        ensure!(
            r == m,
            "{what}: epoll and mini-epoll differ: epoll \"{r}\", mini-epoll \"{m}\""
        );
    }
    ensure!(
        real.len() == mini.len(),
        "{what}: transcripts of {} and {} lines",
        real.len(),
        mini.len()
    );
    Ok(())
}

/// Level, edge and one-shot on an endpoint, a pipe, an eventfd and a UDP
/// socket: mini-epoll's transcript is epoll's, line by line.
pub fn mux_conformance_sources() -> TestResult {
    for s in sources()? {
        let real = workload(&Real::new()?, s.as_ref())?;
        s.drain()?;
        let mini = workload(&Mini::new()?, s.as_ref())?;
        compare(s.kind(), real, mini)?;
    }
    Ok(())
}

/// Nesting: an inner instance holding an endpoint, inside an outer one, for
/// every combination of epoll and mini-epoll; the outer reports the inner
/// readable when a datagram arrives (level-triggered: again while it is
/// there), and not once it is read. The transcripts agree.
pub fn mux_conformance_nested() -> TestResult {
    let mut transcripts = Vec::new();
    for (outer_mini, inner_mini) in [(false, false), (true, true), (true, false), (false, true)] {
        let ep = EpSource(open_dev_nonblocking()?);
        let inner: Box<dyn Poller> = if inner_mini {
            Box::new(Mini::new()?)
        } else {
            Box::new(Real::new()?)
        };
        let outer: Box<dyn Poller> = if outer_mini {
            Box::new(Mini::new()?)
        } else {
            Box::new(Real::new()?)
        };
        inner
            .ctl(MINI_EPOLL_CTL_ADD, ep.fd(), IN, 7)
            .map_err(|e| format!("inner ADD: {}", errname(e)))?;
        outer
            .ctl(MINI_EPOLL_CTL_ADD, inner.fd(), IN, 8)
            .map_err(|e| format!("outer ADD: {}", errname(e)))?;
        let mut t = Vec::new();
        step(&mut t, "idle", outer.wait(0));
        ep.feed()?;
        step(&mut t, "fed", outer.wait(5000));
        step(&mut t, "inner", inner.wait(0));
        step(&mut t, "again", outer.wait(0));
        ep.drain()?;
        step(&mut t, "drained", outer.wait(0));
        transcripts.push((format!("outer {} inner {}", outer.name(), inner.name()), t));
    }
    let (name0, t0) = &transcripts[0];
    for (name, t) in &transcripts[1..] {
        compare(&format!("{name0} vs {name}"), t0.clone(), t.clone())?;
    }
    Ok(())
}

/// A wait blocked in a child wakes on a datagram, for both.
pub fn mux_blocked_wait_wakes() -> TestResult {
    for mini in [false, true] {
        let ep = open_dev_nonblocking()?;
        let fd = ep.as_raw_fd();
        let p: Box<dyn Poller> = if mini {
            Box::new(Mini::new()?)
        } else {
            Box::new(Real::new()?)
        };
        p.ctl(MINI_EPOLL_CTL_ADD, fd, IN, 3)
            .map_err(|e| format!("ADD: {}", errname(e)))?;
        let pipe = Pipe::new()?;
        let report = pipe.w.as_raw_fd();
        let pp = &*p;
        let mut child = Child::spawn(move || {
            let start = Instant::now();
            if !Report::ready(0).send(report) {
                return 2;
            }
            let r = pp.wait(CHILD_BLOCK_MS).map(|v| v.len());
            i32::from(!Report::done(0, r, start, &[]).send(report))
        })?;
        drop(pipe.w);
        let mut reports = Reports::new(pipe.r);
        reports.expect(Kind::Ready, WAIT, "child start")?;
        child.wait_sleeping(WAIT, &format!("{} wait on an idle endpoint", p.name()))?;
        let asleep = child.voluntary_switches()?;
        // Must not return before the write. The window shows it early; the
        // child's state and switch count, unchanged, prove nothing woke it
        // even if a stall kept a wrong return out of the window.
        reports.expect_none(QUIET, "the wait returned before the write")?;
        child.expect_still_asleep(asleep, &format!("{} wait before the write", p.name()))?;
        send(fd, b"w", "write")?;
        let done = reports.expect(Kind::Done, WAIT, "the blocked wait")?;
        ensure!(
            done.ret == 1,
            "{}: the blocked wait {}",
            p.name(),
            done.outcome()
        );
        child.expect_exit0(WAIT, "waiter")?;
    }
    Ok(())
}

/// `EPOLLEXCLUSIVE` on mini-epoll: four processes, one instance each, all
/// blocked; each datagram wakes exactly one of them.
pub fn mux_exclusive_wakes_one() -> TestResult {
    const N: u32 = 4;
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let pipe = Pipe::new()?;
    let report = pipe.w.as_raw_fd();
    let mut children = Vec::new();
    for id in 0..N {
        let m = Mini::new()?;
        m.ctl(MINI_EPOLL_CTL_ADD, fd, IN | EXCLUSIVE, id.into())
            .map_err(|e| format!("ADD EXCLUSIVE: {}", errname(e)))?;
        children.push(Child::spawn(move || {
            let start = Instant::now();
            if !Report::ready(id).send(report) {
                return 2;
            }
            let r = m.wait(CHILD_BLOCK_MS).map(|v| v.len());
            i32::from(!Report::done(id, r, start, &[]).send(report))
        })?);
    }
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    for _ in 0..N {
        reports.expect(Kind::Ready, WAIT, "child start")?;
    }
    for c in children.iter_mut() {
        c.wait_sleeping(WAIT, "mini-epoll wait (EPOLLEXCLUSIVE)")?;
    }
    let mut woken = Vec::new();
    for round in 0..N {
        // The children still waiting, and their switch counts before the
        // datagram: those it did not wake must show no wake-up at all.
        let before: Vec<(usize, u64)> = children
            .iter()
            .enumerate()
            .filter(|(i, _)| !woken.contains(&(*i as u32)))
            .map(|(i, c)| Ok((i, c.voluntary_switches()?)))
            .collect::<Result<_, String>>()?;
        send(fd, &[round as u8], "write")?;
        let done = reports.expect(Kind::Done, WAIT, &format!("datagram #{round}"))?;
        ensure!(done.ret == 1, "datagram #{round}: wait {}", done.outcome());
        ensure!(!woken.contains(&done.id), "child {} woke twice", done.id);
        woken.push(done.id);
        if round + 1 < N {
            // Must not happen; a stall can keep a second return out of the
            // window but not undo the second child's wake-up, checked next.
            reports.expect_none(QUIET, &format!("datagram #{round} woke more than one"))?;
            for (i, sw) in before.into_iter().filter(|(i, _)| *i as u32 != done.id) {
                children[i].expect_still_asleep(
                    sw,
                    &format!("datagram #{round}: child {i}, not the one woken"),
                )?;
            }
        }
    }
    Ok(())
}

/// An item holds its file: closing the descriptor does not remove it from
/// a mini-epoll set (epoll forgets it at the file's release), so the
/// endpoint keeps its port until `MINI_EPOLL_CTL_DEL`, which still finds it
/// by number. With real epoll the port is free as soon as the descriptor
/// is closed, and DEL says `EBADF`.
pub fn mux_item_holds_file() -> TestResult {
    for mini in [false, true] {
        let p: Box<dyn Poller> = if mini {
            Box::new(Mini::new()?)
        } else {
            Box::new(Real::new()?)
        };
        let ep = open_dev_nonblocking()?;
        let port = port_of(&ep)?;
        let fd = ep.as_raw_fd();
        p.ctl(MINI_EPOLL_CTL_ADD, fd, IN, 1)
            .map_err(|e| format!("ADD: {}", errname(e)))?;
        // Opened first, so that it does not get the closed one's number.
        let other = open_dev_nonblocking()?;
        // A datagram queued and an event pending: the item is on the ready
        // list when it is deleted, and must let go of the file at once.
        send(fd, b"q", "write")?;
        wait_queued(&ep, 1, "the datagram")?;
        drop(ep);
        let bind = other.bind(port).map_err(|e| raw(&e));
        let del = p.ctl(MINI_EPOLL_CTL_DEL, fd, 0, 0);
        if mini {
            ensure!(bind == Err(libc::EADDRINUSE), "mini-epoll: binding the closed endpoint's port gave {bind:?}, expected EADDRINUSE (the item holds the file)");
            ensure!(
                del.is_ok(),
                "mini-epoll: DEL of the closed descriptor gave {del:?}"
            );
            // No wait in between: DEL itself released the file.
            okay(other.bind(port), "BIND right after the DEL")?;
        } else {
            ensure!(
                bind.is_ok(),
                "epoll: binding the closed endpoint's port gave {bind:?}"
            );
            ensure!(
                del == Err(libc::EBADF),
                "epoll: DEL of a closed descriptor gave {del:?}, expected EBADF"
            );
        }
    }
    Ok(())
}

/// `SIMNIC_MUX_IOC_WAIT` with `events` at `addr`, raw: the count or the
/// errno.
fn mini_wait_at(mux: &MiniEpoll, addr: usize, maxevents: u32) -> Result<usize, i32> {
    let mut w = simnic::uapi::MiniEpollWait {
        events: addr as u64,
        maxevents,
        timeout_ms: 0,
    };
    // SAFETY: the request takes a pointer to a live MiniEpollWait; the
    // events pointer is the kernel's to check.
    let r = unsafe {
        libc::ioctl(
            mux.as_raw_fd(),
            simnic::uapi::SIMNIC_MUX_IOC_WAIT as libc::Ioctl,
            &mut w,
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as usize)
    }
}

/// A wait whose buffer faults loses no event, as `ep_send_events` puts an
/// event it cannot copy back on the ready list: a buffer that faults at
/// once gives `EFAULT`; one with room for one event before it faults
/// reports that one; the other is still there for the next wait, and a
/// one-shot item is disarmed only once its event was copied.
pub fn mux_wait_efault_keeps_events() -> TestResult {
    let mux = okay(MiniEpoll::open(), "open /dev/simnic-epoll")?;
    let (a, b) = (open_dev_nonblocking()?, open_dev_nonblocking()?);
    for (ep, data, extra) in [(&a, 1u64, ONESHOT), (&b, 2, 0)] {
        send(ep.as_raw_fd(), b"x", "write")?;
        wait_queued(ep, 1, "the datagram")?;
        okay(
            mux.ctl(MINI_EPOLL_CTL_ADD, ep.as_raw_fd(), IN | extra, data),
            "ADD",
        )?;
    }
    let page = page_size();
    let base = map_pages(2, libc::PROT_READ | libc::PROT_WRITE)?;
    unmap(base + page, 1)?;
    let ev = simnic::uapi::MiniEpollEvent::SIZE;

    let r = mini_wait_at(&mux, base + page, 2);
    ensure!(
        r == Err(libc::EFAULT),
        "wait into an unmapped page gave {r:?}, expected EFAULT"
    );

    // Room for exactly one event before the hole.
    let at = base + page - ev;
    let r = mini_wait_at(&mux, at, 2);
    ensure!(
        r == Ok(1),
        "wait with room for one event before a hole gave {r:?}, expected 1"
    );
    // SAFETY: `at` lies in the page still mapped, with room for one event.
    let first = unsafe { std::ptr::read_unaligned(at as *const simnic::uapi::MiniEpollEvent) };
    ensure!(
        first.data == 1 || first.data == 2,
        "the copied event has data {}",
        first.data
    );
    ensure!(
        first.events & IN != 0,
        "the copied event is {:#x}, without EPOLLIN",
        first.events
    );
    let other = 3 - first.data;

    let mut got: Vec<u64> = okay(mux.wait(16, 0), "wait")?
        .into_iter()
        .map(|e| e.1)
        .collect();
    got.sort();
    // The one not copied is still ready; the copied one again only if it is
    // level-triggered (data 2), not if it was the one-shot one.
    let want: Vec<u64> = if first.data == 1 { vec![2] } else { vec![1, 2] };
    ensure!(got == want, "after the short copy of item {}, the next wait reported items {got:?}, expected {want:?} (item {other} must not be lost)", first.data);
    unmap(base, 1)
}

/// Level-triggered items ready together are reported in turn when the
/// caller takes fewer events than are ready, as epoll does (a reported
/// item goes back behind the ones not yet looked at): three endpoints with
/// a datagram each, waits for one event at a time, and then for two,
/// report the same sequence on both.
pub fn mux_lt_round_robin_like_epoll() -> TestResult {
    let mut seqs = Vec::new();
    for mini in [false, true] {
        let p: Box<dyn Poller> = if mini {
            Box::new(Mini::new()?)
        } else {
            Box::new(Real::new()?)
        };
        let eps: Vec<Endpoint> = (0..3)
            .map(|_| open_dev_nonblocking())
            .collect::<Result<_, _>>()?;
        for (i, ep) in eps.iter().enumerate() {
            send(ep.as_raw_fd(), b"x", "write")?;
            wait_queued(ep, 1, "the datagram")?;
            p.ctl(MINI_EPOLL_CTL_ADD, ep.as_raw_fd(), IN, i as u64)
                .map_err(|e| format!("{}: ADD: {}", p.name(), errname(e)))?;
        }
        let mut seq = Vec::new();
        for max in [1, 1, 1, 1, 1, 1, 2, 2, 2] {
            let got = p
                .wait_max(max)
                .map_err(|e| format!("{}: wait: {}", p.name(), errname(e)))?;
            ensure!(
                got.len() == max,
                "{}: a wait for {max} with 3 ready reported {got:?}",
                p.name()
            );
            seq.push(got.iter().map(|e| e.1).collect::<Vec<u64>>());
        }
        seqs.push(seq);
    }
    let (real, mini) = (&seqs[0], &seqs[1]);
    let firsts: Vec<u64> = real[..3].iter().map(|v| v[0]).collect();
    let mut sorted = firsts.clone();
    sorted.sort();
    ensure!(
        sorted == [0, 1, 2],
        "epoll itself did not report each item once in the first three waits: {real:?}"
    );
    ensure!(real == mini, "waits of 1, 1, 1, 1, 1, 1, 2, 2, 2 events: epoll reported items {real:?}, mini-epoll {mini:?}");
    Ok(())
}

/// Loops are refused: an instance in itself (`EINVAL`, as epoll), two in
/// each other, a longer cycle, and nesting deeper than four (`ELOOP`).
pub fn mux_loops_refused() -> TestResult {
    let a = Mini::new()?;
    let b = Mini::new()?;
    let c = Mini::new()?;
    let r = a.ctl(MINI_EPOLL_CTL_ADD, a.fd(), IN, 0);
    ensure!(r == Err(libc::EINVAL), "A in A: {r:?}, expected EINVAL");
    okay(a.0.ctl(MINI_EPOLL_CTL_ADD, b.fd(), IN, 0), "B in A")?;
    let r = b.ctl(MINI_EPOLL_CTL_ADD, a.fd(), IN, 0);
    ensure!(
        r == Err(libc::ELOOP),
        "A in B with B in A: {r:?}, expected ELOOP"
    );
    okay(b.0.ctl(MINI_EPOLL_CTL_ADD, c.fd(), IN, 0), "C in B")?;
    let r = c.ctl(MINI_EPOLL_CTL_ADD, a.fd(), IN, 0);
    ensure!(
        r == Err(libc::ELOOP),
        "A in C, closing A>B>C>A: {r:?}, expected ELOOP"
    );
    // A chain of five instances: the fifth level is refused.
    let chain: Vec<Mini> = (0..6).map(|_| Mini::new()).collect::<Result<_, _>>()?;
    let mut depth_err = None;
    for i in (0..5).rev() {
        if let Err(e) = chain[i].ctl(MINI_EPOLL_CTL_ADD, chain[i + 1].fd(), IN, 0) {
            depth_err = Some((i, e));
            break;
        }
    }
    ensure!(
        matches!(depth_err, Some((_, libc::ELOOP))),
        "a chain of six instances nested without complaint: {depth_err:?}"
    );
    // Still working after all that: an endpoint's datagram through A > B.
    let ep = open_dev_nonblocking()?;
    okay(
        b.0.ctl(MINI_EPOLL_CTL_ADD, ep.as_raw_fd(), IN, 9),
        "endpoint in B",
    )?;
    send(ep.as_raw_fd(), b"l", "write")?;
    let got = a.wait(WAIT.as_millis() as i32).map_err(errname)?;
    ensure!(
        got.len() == 1 && got[0].1 == 0,
        "A after a datagram in B: {got:?}"
    );
    Ok(())
}

/// Loops through real epoll, which neither side's check can see: mini
/// instance A in epoll instance E, and E in A. A datagram to an endpoint in
/// A goes round A > E > A; the wake-up stops where it came back
/// (`wake_loops`) instead of locking up, and waits and polls on both return.
/// Deep chains built top-down are refused, and so are files that can hold
/// files (a unix socket), which could close a reference cycle.
pub fn mux_loops_through_epoll() -> TestResult {
    let a = Mini::new()?;
    let e = Real::new()?;
    let ep = open_dev_nonblocking()?;
    e.ctl(MINI_EPOLL_CTL_ADD, a.fd(), IN, 1)
        .map_err(|e| format!("A in E: {}", errname(e)))?;
    a.ctl(MINI_EPOLL_CTL_ADD, e.fd(), IN, 2)
        .map_err(|e| format!("E in A: {}", errname(e)))?;
    a.ctl(MINI_EPOLL_CTL_ADD, ep.as_raw_fd(), IN, 3)
        .map_err(|e| format!("endpoint in A: {}", errname(e)))?;
    // Someone must be polling A for its wake-up to go to E: a blocked wait
    // on E in a child.
    let efd = e.fd();
    let mut child = Child::spawn(move || {
        let mut out = [libc::epoll_event { events: 0, u64: 0 }; 4];
        // SAFETY: room for 4 events.
        let n = unsafe { libc::epoll_wait(efd, out.as_mut_ptr(), 4, CHILD_BLOCK_MS) };
        i32::from(n != 1)
    })?;
    child.wait_sleeping(WAIT, "epoll_wait on E")?;
    let info0 = okay(a.0.info(), "INFO")?;
    send(ep.as_raw_fd(), b"loop", "write")?;
    child.expect_exit0(WAIT, "the wait on E, woken through A")?;
    let got = a.wait(WAIT.as_millis() as i32).map_err(errname)?;
    ensure!(
        got.iter().any(|&(_, d)| d == 3),
        "A after the datagram: {got:?}"
    );
    let info = okay(a.0.info(), "INFO")?;
    ensure!(
        info.wake_loops > info0.wake_loops,
        "the wake-up went round without being stopped? {info:?}"
    );
    // Polls through the loop return too (A polls E, which polls A).
    let (r, _) = poll_one(a.fd(), libc::POLLIN, 0)?;
    ensure!(r == 1, "poll on A with a datagram queued below: {r}");

    // A chain built from the top down is refused past four levels.
    let chain: Vec<Mini> = (0..6).map(|_| Mini::new()).collect::<Result<_, _>>()?;
    let mut refused = None;
    for i in 0..5 {
        if let Err(err) = chain[i].ctl(MINI_EPOLL_CTL_ADD, chain[i + 1].fd(), IN, 0) {
            refused = Some((i, err));
            break;
        }
    }
    ensure!(
        matches!(refused, Some((3, libc::ELOOP))),
        "top-down chain: refused at {refused:?}, expected the 4th ADD (5 levels) with ELOOP"
    );

    // A unix socket could carry the instance's own descriptor: refused.
    let mut sv = [0; 2];
    // SAFETY: room for two descriptors.
    ensure!(
        unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, sv.as_mut_ptr()) } == 0,
        "socketpair"
    );
    let r = a.ctl(MINI_EPOLL_CTL_ADD, sv[0], IN, 9);
    // SAFETY: our descriptors.
    unsafe {
        libc::close(sv[0]);
        libc::close(sv[1]);
    }
    ensure!(
        r == Err(libc::EINVAL),
        "a unix socket in a mini instance: {r:?}, expected EINVAL"
    );
    Ok(())
}

/// `POLLFREE`: a child adds a signalfd (whose queue lives in the child's
/// `sighand`, freed when the child exits, with `wake_up_pollfree`) to an
/// instance it shares with the parent, and exits. The entry detaches on
/// `POLLFREE`; deleting the item and closing the instance afterwards touch
/// no freed queue (KASAN watches), and the wake-up was seen.
pub fn mux_pollfree_signalfd() -> TestResult {
    let m = Mini::new()?;
    let mfd = m.fd();
    let pipe = Pipe::new()?;
    let report = pipe.w.as_raw_fd();
    let mut child = Child::spawn(move || {
        let start = Instant::now();
        // SAFETY: a set with SIGUSR1, blocked, and a signalfd on it.
        let sfd = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            libc::signalfd(-1, &set, libc::SFD_NONBLOCK)
        };
        if sfd < 0 {
            return 3;
        }
        let mut c = simnic::uapi::MiniEpollCtl {
            op: MINI_EPOLL_CTL_ADD,
            fd: sfd,
            events: IN,
            reserved: 0,
            data: 42,
        };
        // SAFETY: the instance's ioctl with a live struct.
        let r =
            unsafe { libc::ioctl(mfd, simnic::uapi::SIMNIC_MUX_IOC_CTL as libc::Ioctl, &mut c) };
        let r = if r < 0 {
            Err(errno())
        } else {
            Ok(sfd as usize)
        };
        i32::from(!Report::done(0, r, start, &[]).send(report))
    })?;
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    let done = reports.expect(Kind::Done, WAIT, "the child's ADD")?;
    ensure!(
        done.ret >= 0,
        "the child's ADD of its signalfd {}",
        done.outcome()
    );
    let sfd = done.ret as RawFd;
    child.expect_exit0(WAIT, "child")?;
    // The child's exit freed its sighand: the wake-up with POLLFREE ran.
    let deadline = Instant::now() + WAIT;
    loop {
        let info = okay(m.0.info(), "INFO")?;
        if info.callbacks >= 1 {
            ensure!(info.items == 1, "items after POLLFREE: {info:?}");
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "no wake-up on the instance after the child exited: {info:?}"
        );
        sleep_ms(20);
    }
    // The item's entry left the freed queue; waits, DEL and close are safe.
    let _ = m.wait(0);
    // The descriptor number is the child's, closed here: DEL finds the item
    // by number (see mux_item_holds_file).
    let r = m.ctl(MINI_EPOLL_CTL_DEL, sfd, 0, 0);
    ensure!(
        r.is_ok() || r == Err(libc::EBADF),
        "DEL after POLLFREE: {r:?}"
    );
    drop(m);
    Ok(())
}

/// mini-poll agrees with poll(2) on the same descriptors (ready, idle,
/// closed: `POLLNVAL`, negative: skipped), and reports what it did: with a
/// timeout, one entry hooked per watched queue and a rescan after the wake-up;
/// with timeout 0, no entry at all.
pub fn mini_poll_like_poll() -> TestResult {
    const IDLE: usize = 10;
    let m = Mini::new()?;
    let idle: Vec<Endpoint> = (0..IDLE)
        .map(|_| open_dev_nonblocking())
        .collect::<Result<_, _>>()?;
    let busy = open_dev_nonblocking()?;
    let mut fds: Vec<MiniPollFd> = idle
        .iter()
        .map(|e| MiniPollFd {
            fd: e.as_raw_fd(),
            events: libc::POLLIN as u32,
            ..Default::default()
        })
        .collect();
    fds.push(MiniPollFd {
        fd: busy.as_raw_fd(),
        events: libc::POLLIN as u32,
        ..Default::default()
    });
    fds.push(MiniPollFd {
        fd: -1,
        events: libc::POLLIN as u32,
        ..Default::default()
    });
    fds.push(MiniPollFd {
        fd: 9999,
        events: libc::POLLIN as u32,
        ..Default::default()
    });

    // Nothing ready, no wait: nothing hooked, one scan.
    let (n, st) = okay(m.0.mini_poll(&mut fds, 0), "mini-poll, timeout 0")?;
    ensure!(
        n == 1 && fds[IDLE + 2].revents == libc::POLLNVAL as u32,
        "timeout 0: {n} ready, revents {:?}",
        fds.iter().map(|f| f.revents).collect::<Vec<_>>()
    );
    ensure!(
        (st.rescans, st.entries, st.wakeups) == (1, 0, 0),
        "timeout 0: {st:?}"
    );

    // The same set through poll(2).
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|f| libc::pollfd {
            fd: f.fd,
            events: f.events as i16,
            revents: 0,
        })
        .collect();
    fds.pop(); // the closed one: nothing to wait for would end every wait at once
    pfds.pop();

    // A wait in a child, woken by a datagram to `busy`.
    let pipe = Pipe::new()?;
    let report = pipe.w.as_raw_fd();
    let mut fds_child = fds.clone();
    let mfd = m.fd();
    let mut child = Child::spawn(move || {
        let start = Instant::now();
        if !Report::ready(0).send(report) {
            return 2;
        }
        // SAFETY: an Endpoint-less view of the inherited instance, forgotten.
        let mm = std::mem::ManuallyDrop::new(unsafe { simnic_mini_from_fd(mfd) });
        let r = mm.mini_poll(&mut fds_child, CHILD_BLOCK_MS);
        let (ret, data) = match r {
            Ok((n, st)) => (
                Ok(n),
                [
                    st.rescans,
                    st.entries,
                    st.wakeups,
                    st.spurious,
                    fds_child[IDLE].revents,
                ]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
            ),
            Err(e) => (Err(raw(&e)), Vec::new()),
        };
        let mut d = Report::done(0, ret, start, &[]);
        d.data = data;
        i32::from(!d.send(report))
    })?;
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    reports.expect(Kind::Ready, WAIT, "child start")?;
    child.wait_sleeping(WAIT, "mini-poll on idle endpoints")?;
    send(busy.as_raw_fd(), b"mp", "write to the busy endpoint")?;
    let done = reports.expect(Kind::Done, WAIT, "the child's mini-poll")?;
    ensure!(
        done.ret == 1 && done.data.len() == 20,
        "the child's mini-poll {}",
        done.outcome()
    );
    let v: Vec<u32> = done
        .data
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let (rescans, entries, wakeups, spurious, revents) = (v[0], v[1], v[2], v[3], v[4]);
    ensure!(
        entries as usize == IDLE + 1,
        "entries hooked: {entries}, expected {} (one per endpoint queue)",
        IDLE + 1
    );
    ensure!(
        rescans == 2 && wakeups >= 1 && spurious == 0,
        "rescans {rescans}, wake-ups {wakeups}, spurious {spurious}: expected 2, at least 1, 0"
    );
    ensure!(
        revents & libc::POLLIN as u32 != 0,
        "the busy endpoint's revents {revents:#x}"
    );
    child.expect_exit0(WAIT, "child")?;

    // poll(2) now sees what mini-poll sees.
    // SAFETY: a valid array.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as u64, 0) };
    let (mn, _) = okay(
        m.0.mini_poll(&mut fds, 0),
        "mini-poll, timeout 0, after the datagram",
    )?;
    ensure!(n as usize == mn, "poll says {n} ready, mini-poll {mn}");
    for (p, f) in pfds.iter().zip(fds.iter()) {
        ensure!(
            p.revents as u32 == f.revents,
            "fd {}: poll revents {:#x}, mini-poll {:#x}",
            p.fd,
            p.revents,
            f.revents
        );
    }
    Ok(())
}

/// A `MiniEpoll` over an inherited descriptor (children of the tests).
///
/// # Safety
/// `fd` must be an open instance; the value must not be dropped (it would
/// close the parent's descriptor in the child, harmless, but untidy).
unsafe fn simnic_mini_from_fd(fd: RawFd) -> MiniEpoll {
    // SAFETY: the caller's promise.
    unsafe { MiniEpoll::from_raw_fd(fd) }
}
