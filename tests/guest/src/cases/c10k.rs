//! C10K, functionally: one process with ten thousand endpoints open, all in
//! one epoll set, and a datagram to one of them wakes exactly that one.
//! How long each step took is printed (a `#` line), not asserted: under the
//! emulated debug kernel it says more about KASAN than about simnic.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

use simnic::{Endpoint, EPHEMERAL_PORT_FIRST};

use crate::net::*;
use crate::sys::*;

/// Raises `RLIMIT_NOFILE`, soft and hard, to `n` (the test runs as root).
fn raise_nofile(n: u64) -> TestResult {
    let r = libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    // SAFETY: `r` is a live rlimit the call only reads.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
        return Err(format!(
            "setrlimit(RLIMIT_NOFILE, {n}): {}",
            errname(errno())
        ));
    }
    Ok(())
}

fn epoll_create() -> Result<OwnedFd, String> {
    // SAFETY: epoll_create1 with a valid flag.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(format!("epoll_create1: {}", errname(errno())));
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// epoll_wait with room for `max` events: (events, token) pairs.
fn epoll_wait(epfd: RawFd, max: usize, timeout_ms: i32) -> Result<Vec<(u32, u64)>, String> {
    let mut ev = vec![libc::epoll_event { events: 0, u64: 0 }; max];
    // SAFETY: `ev` has room for `max` events.
    let n = unsafe { libc::epoll_wait(epfd, ev.as_mut_ptr(), max as i32, timeout_ms) };
    if n < 0 {
        return Err(format!("epoll_wait: {}", errname(errno())));
    }
    Ok(ev[..n as usize].iter().map(|e| (e.events, e.u64)).collect())
}

/// Opens 10,000 endpoints in one process (RLIMIT_NOFILE raised): each has
/// its own ephemeral port, all distinct. All go into one epoll set for
/// EPOLLIN; nothing is ready; a datagram sent to endpoint #7777 makes
/// epoll_wait return exactly that endpoint, with EPOLLIN, until it is read;
/// then nothing again. Closing them all frees their ports: a new endpoint
/// can bind the one #7777 had.
pub fn c10k_open_10000() -> TestResult {
    const N: usize = 10_000;
    const TARGET: usize = 7777;
    raise_nofile(N as u64 + 64)?;

    // Each half timed: a cost that grows with the number open shows as a
    // second half slower than the first.
    let t0 = Instant::now();
    let mut eps: Vec<Endpoint> = Vec::with_capacity(N);
    let mut t_half = t0.elapsed();
    for i in 0..N {
        if i == N / 2 {
            t_half = t0.elapsed();
        }
        eps.push(open_dev_nonblocking().map_err(|e| format!("endpoint #{i}: {e}"))?);
    }
    let t_open = [t_half, t0.elapsed() - t_half];

    let t0 = Instant::now();
    let mut owner: HashMap<u32, usize> = HashMap::with_capacity(N);
    let mut ports = Vec::with_capacity(N);
    for (i, ep) in eps.iter().enumerate() {
        let port = port_of(ep)?;
        ensure!(
            (u32::from(EPHEMERAL_PORT_FIRST)..=65535).contains(&port),
            "endpoint #{i} has port {port}, outside the ephemeral range"
        );
        if let Some(j) = owner.insert(port, i) {
            return Err(format!("endpoints #{j} and #{i} both have port {port}"));
        }
        ports.push(port);
    }
    let t_ports = t0.elapsed();

    let t0 = Instant::now();
    let epfd = epoll_create()?;
    for (i, ep) in eps.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: valid descriptors and a live event.
        if unsafe {
            libc::epoll_ctl(
                epfd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                ep.as_raw_fd(),
                &mut ev,
            )
        } != 0
        {
            return Err(format!(
                "epoll_ctl ADD of endpoint #{i}: {}",
                errname(errno())
            ));
        }
    }
    let t_epoll = t0.elapsed();

    let ready = epoll_wait(epfd.as_raw_fd(), 64, 0)?;
    ensure!(
        ready.is_empty(),
        "epoll_wait before any datagram: {ready:?}"
    );

    let t0 = Instant::now();
    okay(
        eps[0].send_to(ports[TARGET], b"c10k"),
        "SENDTO endpoint #7777",
    )?;
    let ready = epoll_wait(epfd.as_raw_fd(), 64, ARRIVAL.as_millis() as i32)?;
    let t_wake = t0.elapsed();
    ensure!(
        ready == [(libc::EPOLLIN as u32, TARGET as u64)],
        "epoll_wait after a datagram to endpoint #{TARGET}: {ready:?} (events, endpoint), \
         expected [({:#x}, {TARGET})]",
        libc::EPOLLIN
    );
    // Level-triggered: still ready until read.
    let ready = epoll_wait(epfd.as_raw_fd(), 64, 0)?;
    ensure!(
        ready == [(libc::EPOLLIN as u32, TARGET as u64)],
        "epoll_wait again before reading: {ready:?}"
    );
    let mut buf = [0u8; 16];
    let info = okay(
        eps[TARGET].recv_from(&mut buf, true),
        "RECVFROM on endpoint #7777",
    )?;
    check_data(&buf[..info.len], b"c10k", "the datagram")?;
    ensure!(
        info.src_port == ports[0],
        "the datagram's source port is {}, expected {} (endpoint #0)",
        info.src_port,
        ports[0]
    );
    let ready = epoll_wait(epfd.as_raw_fd(), 64, 0)?;
    ensure!(
        ready.is_empty(),
        "epoll_wait after reading the datagram: {ready:?}"
    );

    let t0 = Instant::now();
    let rest = eps.split_off(N / 2);
    drop(eps);
    let t_half = t0.elapsed();
    drop(rest);
    let t_close = [t_half, t0.elapsed() - t_half];
    drop(epfd);
    let ep = open_dev_nonblocking()?;
    okay(
        ep.bind(ports[TARGET]),
        "BIND to the port endpoint #7777 had, after closing all",
    )?;

    println!(
        "# c10k_open_10000: open {} + {} ms (two halves), GET_PORT {} ms, EPOLL_CTL_ADD {} ms, \
         datagram to wake-up {} ms, close {} + {} ms",
        ms(t_open[0]),
        ms(t_open[1]),
        ms(t_ports),
        ms(t_epoll),
        ms(t_wake),
        ms(t_close[0]),
        ms(t_close[1])
    );
    Ok(())
}
