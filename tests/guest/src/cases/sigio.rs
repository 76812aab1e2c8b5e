//! Signal-driven I/O (the fourth model): `O_ASYNC`, `F_SETOWN`,
//! `F_SETOWN_EX`, `F_SETSIG`, checked field by field against a UDP socket
//! on 127.0.0.1 doing the same thing in the same run.
//!
//! Signals are blocked and taken with `sigtimedwait`, so every test sees the
//! exact `siginfo` the kernel queued (`si_code` `POLL_IN`/`POLL_OUT`/
//! `POLL_ERR`, `si_band`, `si_fd`) and can count them: with `F_SETSIG`
//! real-time signals queue one per event instead of coalescing.

use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use crate::net::*;
use crate::sys::*;
use crate::udp::*;

/// `POLL_IN`, `POLL_OUT`, `POLL_ERR`: `si_code` of a `SIGIO` (uapi siginfo.h).
const POLL_IN: i32 = 1;
const POLL_OUT: i32 = 2;
const POLL_ERR: i32 = 4;
/// fcntl commands and the owner struct the libc crate does not have
/// (uapi asm-generic/fcntl.h).
const F_SETSIG: i32 = 10;
const F_SETOWN_EX: i32 = 15;
const F_OWNER_TID: i32 = 0;

#[repr(C)]
struct FOwnerEx {
    kind: libc::c_int,
    pid: libc::pid_t,
}

/// `SI_KERNEL`: `si_code` of a plain `SIGIO` (no `F_SETSIG`).
const SI_KERNEL: i32 = 0x80;
/// `si_band` for each `POLL_*` reason (`band_table` in fs/fcntl.c).
const BAND_IN: i64 = (libc::POLLIN | libc::POLLRDNORM) as i64;
const BAND_OUT: i64 = (libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND) as i64;
const BAND_ERR: i64 = libc::POLLERR as i64;

/// The fields of a `siginfo_t` that signal-driven I/O fills (its `_sigpoll`
/// member: `si_band`, then `si_fd`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollInfo {
    pub signo: i32,
    pub code: i32,
    pub band: i64,
    pub fd: i32,
}

impl PollInfo {
    fn from_raw(si: &libc::siginfo_t) -> Self {
        // x86_64 layout: si_signo, si_errno, si_code (3 ints), padding to
        // 16, then the union; for SIGPOLL it holds `long si_band; int si_fd`.
        // SAFETY: siginfo_t is 128 bytes of plain data.
        let b: &[u8; 128] = unsafe { &*(si as *const libc::siginfo_t).cast::<[u8; 128]>() };
        let int = |at: usize| i32::from_ne_bytes(b[at..at + 4].try_into().unwrap());
        Self {
            signo: int(0),
            code: int(8),
            band: i64::from_ne_bytes(b[16..24].try_into().unwrap()),
            fd: int(24),
        }
    }
}

fn sigset(sigs: &[i32]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set; sigaddset with valid signals.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in sigs {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Blocks `sigs` in the calling thread (and the threads and children it
/// creates afterwards), so they stay pending until `take_signal`.
pub fn block(sigs: &[i32]) -> TestResult {
    let set = sigset(sigs);
    // SAFETY: a valid set; the old mask is not needed.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    ensure!(r == 0, "pthread_sigmask(SIG_BLOCK): {}", errname(r));
    Ok(())
}

/// `sigtimedwait` for one of `sigs`: `None` if none came within `timeout`.
pub fn take_signal(sigs: &[i32], timeout: Duration) -> Result<Option<PollInfo>, String> {
    let set = sigset(sigs);
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    loop {
        // SAFETY: zeroed siginfo is valid; the pointers are live.
        let mut si: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let r = unsafe { libc::sigtimedwait(&set, &mut si, &ts) };
        if r >= 0 {
            return Ok(Some(PollInfo::from_raw(&si)));
        }
        match errno() {
            libc::EAGAIN => return Ok(None),
            // A stray signal of another kind: wait again (rarely shortens
            // the wait by what passed, which only makes it stricter).
            libc::EINTR => continue,
            e => return Err(format!("sigtimedwait: {}", errname(e))),
        }
    }
}

fn fcntl(fd: RawFd, cmd: i32, arg: libc::c_long) -> Result<i32, String> {
    // SAFETY: fcntl with an integer argument.
    let r = unsafe { libc::fcntl(fd, cmd, arg) };
    ensure!(r >= 0, "fcntl({fd}, {cmd}, {arg}): {}", errname(errno()));
    Ok(r)
}

/// `O_ASYNC` on or off, keeping the other status flags.
fn set_async(fd: RawFd, on: bool) -> TestResult {
    let fl = fcntl(fd, libc::F_GETFL, 0)?;
    let fl = if on {
        fl | libc::O_ASYNC
    } else {
        fl & !libc::O_ASYNC
    };
    fcntl(fd, libc::F_SETFL, fl as libc::c_long).map(drop)
}

fn getpid() -> i32 {
    // SAFETY: no preconditions.
    unsafe { libc::getpid() }
}

fn gettid() -> i32 {
    // SAFETY: no preconditions.
    unsafe { libc::gettid() }
}

fn rt(n: i32) -> i32 {
    libc::SIGRTMIN() + n
}

/// Signal-driven I/O on `fd` for this process: owner, signal (`None`:
/// plain `SIGIO`), then `O_ASYNC` (and `O_NONBLOCK`, as such programs do).
fn arm(fd: RawFd, sig: Option<i32>) -> TestResult {
    fcntl(fd, libc::F_SETOWN, getpid() as libc::c_long)?;
    fcntl(fd, F_SETSIG, sig.unwrap_or(0) as libc::c_long)?;
    set_nonblocking(fd, true)?;
    set_async(fd, true)
}

fn expect_signal(sigs: &[i32], want: PollInfo, what: &str) -> TestResult {
    match take_signal(sigs, WAIT)? {
        Some(got) if got == want => Ok(()),
        Some(got) => Err(format!("{what}: got {got:?}, expected {want:?}")),
        None => Err(format!(
            "{what}: no signal within {} s, expected {want:?}",
            WAIT.as_secs()
        )),
    }
}

/// No signal of `sigs` is pending or comes within `QUIET`. The signals are
/// blocked, so one that was sent stays pending until taken: the window
/// only has to outlast the sending itself, and each caller first makes sure
/// whatever could send one has run (`settle()`: the poll that calls
/// `data_ready` and `write_space` is done; or the one right signal of the
/// same `kill_fasync` call has already come). A stall cannot hide a wrong
/// signal then: it is already queued when the window opens.
fn expect_no_signal(sigs: &[i32], what: &str) -> TestResult {
    match take_signal(sigs, QUIET)? {
        None => Ok(()),
        Some(got) => Err(format!("{what}: unexpected signal {got:?}")),
    }
}

/// `O_ASYNC` shows in `F_GETFL` once set (the device has `->fasync`),
/// through `fcntl` and through `ioctl(FIOASYNC)`, and goes when cleared.
pub fn sigio_o_async_flag() -> TestResult {
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let has =
        |fd| -> Result<bool, String> { Ok(fcntl(fd, libc::F_GETFL, 0)? & libc::O_ASYNC != 0) };
    ensure!(!has(fd)?, "O_ASYNC set on a new endpoint");
    set_async(fd, true)?;
    ensure!(
        has(fd)?,
        "F_GETFL does not show O_ASYNC after F_SETFL(O_ASYNC)"
    );
    set_async(fd, false)?;
    ensure!(!has(fd)?, "F_GETFL still shows O_ASYNC after clearing it");
    let on: libc::c_int = 1;
    // SAFETY: FIOASYNC reads an int.
    let r = unsafe { libc::ioctl(fd, libc::FIOASYNC as _, &on) };
    ensure!(r == 0, "ioctl(FIOASYNC, 1): {}", errname(errno()));
    ensure!(
        has(fd)?,
        "F_GETFL does not show O_ASYNC after ioctl(FIOASYNC, 1)"
    );
    let off: libc::c_int = 0;
    // SAFETY: as above.
    let r = unsafe { libc::ioctl(fd, libc::FIOASYNC as _, &off) };
    ensure!(r == 0, "ioctl(FIOASYNC, 0): {}", errname(errno()));
    ensure!(!has(fd)?, "O_ASYNC still set after ioctl(FIOASYNC, 0)");
    Ok(())
}

/// With `F_SETSIG` a real-time signal per datagram, queued (three datagrams,
/// three signals), each with `si_code` `POLL_IN`, `si_band`
/// `POLLIN|POLLRDNORM` and `si_fd` the descriptor: exactly what a UDP
/// socket gives in the same situation.
pub fn sigio_setsig_siginfo_like_udp() -> TestResult {
    let sig = rt(1);
    block(&[sig, libc::SIGIO])?;

    let udp = udp_socket()?;
    let ufd = udp.as_raw_fd();
    arm(ufd, Some(sig))?;
    let uaddr = udp.local_addr().map_err(|e| e.to_string())?;
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    arm(fd, Some(sig))?;

    for (name, fd, send) in [
        (
            "UDP",
            ufd,
            &(|| {
                udp.send_to(b"u", uaddr)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }) as &dyn Fn() -> TestResult,
        ),
        (
            "simnic",
            fd,
            &(|| send(fd, b"s", "write")) as &dyn Fn() -> TestResult,
        ),
    ] {
        expect_no_signal(&[sig, libc::SIGIO], &format!("{name}: armed, nothing sent"))?;
        for i in 0..3 {
            send()?;
            expect_signal(
                &[sig, libc::SIGIO],
                PollInfo {
                    signo: sig,
                    code: POLL_IN,
                    band: BAND_IN,
                    fd,
                },
                &format!("{name}: datagram #{i}"),
            )?;
        }
        if name == "simnic" {
            settle(&ep)?;
        }
        expect_no_signal(
            &[sig, libc::SIGIO],
            &format!("{name}: after three datagrams and three signals"),
        )?;
    }
    Ok(())
}

/// Without `F_SETSIG`, plain `SIGIO` with `si_code` `SI_KERNEL` (no
/// `si_fd`: the kernel only fills it for a chosen signal), as for UDP; and
/// with the signal blocked, datagrams that arrive meanwhile coalesce into
/// one pending `SIGIO`, as standard signals do.
pub fn sigio_plain_sigio_like_udp() -> TestResult {
    block(&[libc::SIGIO])?;
    let udp = udp_socket()?;
    let ufd = udp.as_raw_fd();
    arm(ufd, None)?;
    let uaddr = udp.local_addr().map_err(|e| e.to_string())?;
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    arm(fd, None)?;

    udp.send_to(b"u", uaddr).map_err(|e| e.to_string())?;
    let u = take_signal(&[libc::SIGIO], WAIT)?.ok_or("UDP: no SIGIO")?;
    send(fd, b"s", "write")?;
    let s = take_signal(&[libc::SIGIO], WAIT)?.ok_or("simnic: no SIGIO")?;
    ensure!(
        (u.signo, u.code) == (libc::SIGIO, SI_KERNEL),
        "UDP gave {u:?}, expected SIGIO with si_code SI_KERNEL (the reference is off)"
    );
    ensure!(
        (s.signo, s.code) == (u.signo, u.code),
        "simnic gave {s:?}, UDP {u:?}"
    );

    for i in 0..3 {
        send(fd, &[i], "write")?;
    }
    wait_queued(&ep, 4, "four datagrams")?;
    settle(&ep)?;
    ensure!(
        take_signal(&[libc::SIGIO], WAIT)?.is_some(),
        "no SIGIO pending after three datagrams"
    );
    expect_no_signal(
        &[libc::SIGIO],
        "three datagrams: a standard signal is pending once",
    )
}

/// `F_SETOWN_EX` with `F_OWNER_TID`: the signal goes to that thread, not
/// to the process (another thread, with the signal blocked too, never
/// sees it).
pub fn sigio_thread_owner() -> TestResult {
    let sig = rt(2);
    block(&[sig])?;
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let (tx_tid, rx_tid) = std::sync::mpsc::channel();
    let (tx_go, rx_go) = std::sync::mpsc::channel::<()>();
    let waiter = std::thread::spawn(move || -> Result<Option<PollInfo>, String> {
        tx_tid.send(gettid()).map_err(|e| e.to_string())?;
        rx_go.recv().map_err(|e| e.to_string())?;
        take_signal(&[sig], WAIT)
    });
    let tid = rx_tid.recv().map_err(|e| e.to_string())?;
    ensure!(
        tid != gettid(),
        "the waiter thread has the main thread's id"
    );
    let owner = FOwnerEx {
        kind: F_OWNER_TID,
        pid: tid,
    };
    // SAFETY: F_SETOWN_EX reads a struct f_owner_ex.
    let r = unsafe { libc::fcntl(fd, F_SETOWN_EX, &owner) };
    ensure!(r == 0, "F_SETOWN_EX(TID {tid}): {}", errname(errno()));
    fcntl(fd, F_SETSIG, sig as libc::c_long)?;
    set_async(fd, true)?;
    tx_go.send(()).map_err(|e| e.to_string())?;
    send(fd, b"t", "write")?;
    let got = waiter
        .join()
        .map_err(|_| "the waiter thread panicked".to_string())??;
    let want = PollInfo {
        signo: sig,
        code: POLL_IN,
        band: BAND_IN,
        fd,
    };
    ensure!(
        got == Some(want),
        "the owner thread got {got:?}, expected {want:?}"
    );
    expect_no_signal(&[sig], "the main thread (not the owner)")
}

/// `F_SETOWN` with a negative process group: every process of the group
/// gets the signal (here the test's process and a child it forked).
pub fn sigio_process_group() -> TestResult {
    let sig = rt(3);
    block(&[sig])?;
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    // SAFETY: no preconditions.
    let pgrp = unsafe { libc::getpgrp() };
    fcntl(fd, libc::F_SETOWN, -(pgrp as libc::c_long))?;
    fcntl(fd, F_SETSIG, sig as libc::c_long)?;
    set_async(fd, true)?;
    let pipe = Pipe::new()?;
    let report = pipe.w.as_raw_fd();
    let want = PollInfo {
        signo: sig,
        code: POLL_IN,
        band: BAND_IN,
        fd,
    };
    let mut child = Child::spawn(move || {
        let start = std::time::Instant::now();
        if !Report::ready(0).send(report) {
            return 2;
        }
        // Bounded by the parent's WAIT for this report; this wait only has
        // to be longer.
        let ok = matches!(
            take_signal(&[sig], Duration::from_millis(CHILD_BLOCK_MS as u64)),
            Ok(Some(got)) if got == want
        );
        i32::from(!Report::done(0, Ok(usize::from(ok)), start, &[]).send(report))
    })?;
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    reports.expect(Kind::Ready, WAIT, "child start")?;
    send(fd, b"g", "write")?;
    expect_signal(&[sig], want, "the test process (in the group)")?;
    let done = reports.expect(Kind::Done, WAIT, "the child's wait")?;
    ensure!(
        done.ret == 1,
        "the child (same process group) did not get {want:?}"
    );
    child.expect_exit0(WAIT, "child")
}

/// Write space: a send that finds the TX ring full sets `NOSPACE`, and when
/// the hardware has sent the frames (no frame comes back: loopback off, so
/// no `POLL_IN` either) one signal with `POLL_OUT` and
/// `POLLOUT|POLLWRNORM|POLLWRBAND` follows, as `sock_def_write_space` sends.
pub fn sigio_pollout_write_space() -> TestResult {
    // The fill (a ring's worth of writes) must end before the first frame
    // leaves: the longest delay there is, for a slow guest.
    const DELAY: Duration = Duration::from_secs(1);
    let sig = rt(4);
    block(&[sig])?;
    let ep = open_dev()?;
    let _restore = NicRestore(&ep);
    let fd = ep.as_raw_fd();
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    okay(ep.set_loopback(false), "SET_LOOPBACK(0)")?;
    arm(fd, Some(sig))?;
    okay(
        ep.set_tx_delay_ns(DELAY.as_nanos() as u64),
        "SET_TX_DELAY(1 s)",
    )?;
    let n = crate::cases::nic::fill_tx(&ep, &[0u8; 1000], 4096, "fill")?;
    ensure!(n > 0, "not even one frame fitted on the TX ring");
    okay(ep.set_tx_delay_ns(0), "SET_TX_DELAY(0)")?;
    expect_signal(
        &[sig],
        PollInfo {
            signo: sig,
            code: POLL_OUT,
            band: BAND_OUT,
            fd,
        },
        "after the full TX ring drained",
    )?;
    settle(&ep)?;
    expect_no_signal(&[sig], "one POLL_OUT per NOSPACE")?;
    let d = nic_delta(&n0, &nic_stats(&ep)?);
    expect_nic(
        &d,
        &[
            ("tx_packets", n.into()),
            ("tx_lost", n.into()),
            ("rx_packets", 0),
        ],
        "loopback off",
    )?;
    ensure!(
        d.write_space >= 1,
        "write_space never ran: {}",
        nic_summary(&d)
    );
    Ok(())
}

/// A pending error: `POLL_ERR` with `si_band` `POLLERR`, on simnic as on a
/// connected UDP socket whose datagram hit a closed port.
pub fn sigio_pollerr_like_udp() -> TestResult {
    let sig = rt(5);
    block(&[sig])?;
    let udp = udp_socket()?;
    let ufd = udp.as_raw_fd();
    let closed = unused_udp_port()?;
    udp.connect(("127.0.0.1", closed))
        .map_err(|e| format!("UDP connect: {e}"))?;
    arm(ufd, Some(sig))?;
    udp.send(b"u").map_err(|e| format!("UDP send: {e}"))?;
    expect_signal(
        &[sig],
        PollInfo {
            signo: sig,
            code: POLL_ERR,
            band: BAND_ERR,
            fd: ufd,
        },
        "UDP",
    )?;

    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let port = unbound_port()?;
    okay(ep.connect(port), "CONNECT to an unbound port")?;
    arm(fd, Some(sig))?;
    send(fd, b"s", "write")?;
    expect_signal(
        &[sig],
        PollInfo {
            signo: sig,
            code: POLL_ERR,
            band: BAND_ERR,
            fd,
        },
        "simnic",
    )
}

/// No signal once `O_ASYNC` is cleared, none for a new endpoint on the
/// port of a closed one that had it; and a file shared by two descriptors
/// keeps signalling after one of them is closed.
pub fn sigio_off_and_close() -> TestResult {
    let sig = rt(6);
    block(&[sig])?;
    let ep = open_dev()?;
    let fd = ep.as_raw_fd();
    let port = port_of(&ep)?;
    arm(fd, Some(sig))?;
    let want = PollInfo {
        signo: sig,
        code: POLL_IN,
        band: BAND_IN,
        fd,
    };
    send(fd, b"1", "write")?;
    expect_signal(&[sig], want, "armed")?;

    set_async(fd, false)?;
    send(fd, b"2", "write with O_ASYNC off")?;
    wait_queued(&ep, 2, "the second datagram")?;
    settle(&ep)?;
    expect_no_signal(&[sig], "O_ASYNC cleared")?;

    // The same file through a second descriptor: closing one is no close.
    set_async(fd, true)?;
    // SAFETY: dup of an open descriptor.
    let dup = unsafe { libc::dup(fd) };
    ensure!(dup >= 0, "dup: {}", errname(errno()));
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(dup) };
    send(fd, b"3", "write after closing a dup")?;
    expect_signal(&[sig], want, "a dup closed, the file still open")?;

    // Closed: the file leaves the fasync list. A new endpoint on its port
    // (without O_ASYNC) must not make the old owner's signal.
    drop(ep);
    let ep2 = open_dev()?;
    okay(ep2.bind(port), "BIND the closed endpoint's port")?;
    send(ep2.as_raw_fd(), b"4", "write to the new endpoint")?;
    wait_queued(&ep2, 1, "the new endpoint's datagram")?;
    settle(&ep2)?;
    expect_no_signal(&[sig], "the endpoint with O_ASYNC was closed")
}

/// A port no endpoint has: bound once by a probe endpoint, then released.
pub fn unbound_port() -> Result<u32, String> {
    let probe = open_dev()?;
    let port = port_of(&probe)?;
    drop(probe);
    Ok(port)
}
