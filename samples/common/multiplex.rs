//! What the select, poll, epoll, sigio and c10k samples share, included
//! like `traffic.rs` with `#[path = "../../common/multiplex.rs"] mod
//! multiplex;`: opening a row of endpoints, the sender's random schedule,
//! reading one datagram without sleeping, a timed `epoll_wait()`, the names
//! of event bits, and the per-datagram record of the two phases with its
//! summary.
//!
//! It needs `traffic.rs` included beside it as `mod traffic`.

use std::os::fd::RawFd;

use crate::traffic::{self, errno, errno_text, fmt_ns, now_ns};

/// Endpoints opened side by side: `fds[i]` is bound to `ports[i]`.
pub struct Endpoints {
    /// The descriptors, in the order they were opened.
    pub fds: Vec<RawFd>,
    /// The port each one is bound to.
    pub ports: Vec<u32>,
}

impl Endpoints {
    /// Opens `n` endpoints with `flags` and binds them to `first_port`,
    /// `first_port + 1`, ...; prints each open and bind when there are a
    /// few, one line for all of them otherwise.
    pub fn open(
        n: usize,
        flags: libc::c_int,
        flags_text: &str,
        note: &str,
        first_port: u32,
    ) -> Result<Self, String> {
        let last = first_port as usize + n - 1;
        if last > 65535 {
            return Err(format!(
                "{n} endpoints from port {first_port} would need ports up to {last}: \
                 pick a lower --port"
            ));
        }
        let mut eps = Endpoints {
            fds: Vec::with_capacity(n),
            ports: Vec::with_capacity(n),
        };
        for i in 0..n {
            let port = first_port + i as u32;
            let opened = if n <= 4 {
                traffic::open_and_bind(flags, flags_text, note, port)
            } else {
                traffic::open_and_bind_quietly(flags, flags_text, port)
            };
            match opened {
                Ok(fd) => {
                    eps.fds.push(fd);
                    eps.ports.push(port);
                }
                Err(msg) => {
                    let hint = if msg.contains("EMFILE") {
                        format!(
                            " (after {i} endpoints: raise the limit of open files, \
                             `ulimit -n`; sample-c10k does it with setrlimit)"
                        )
                    } else {
                        String::new()
                    };
                    eps.close();
                    return Err(format!("{msg}{hint}"));
                }
            }
        }
        if n > 4 {
            // SAFETY: getpid has no preconditions.
            let pid = unsafe { libc::getpid() };
            println!(
                "receiver (pid {pid}): {n} x open(\"/dev/simnic\", {flags_text}) = fds {}   {note}",
                fmt_fds(&eps.fds)
            );
            println!(
                "receiver: {n} x ioctl(fd, SIMNIC_IOC_BIND, &port): ports {first_port}-{}, \
                 in the same order",
                first_port as usize + n - 1
            );
        }
        Ok(eps)
    }

    /// The port of descriptor `fd`, if it is one of ours.
    pub fn port_of(&self, fd: RawFd) -> Option<u32> {
        let i = self.fds.iter().position(|&f| f == fd)?;
        Some(self.ports[i])
    }

    /// Closes every descriptor.
    pub fn close(&mut self) {
        for fd in self.fds.drain(..) {
            // SAFETY: our own descriptor, closed once (drained from the list).
            unsafe { libc::close(fd) };
        }
        self.ports.clear();
    }
}

/// A schedule for [`traffic::spawn_sender_rounds`]: `rounds` rounds, each
/// sending one datagram to each of `per_round` different ports picked at
/// random from `ports` (with a fixed `seed`, so a run can be repeated).
pub fn random_rounds(ports: &[u32], rounds: u32, per_round: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..rounds)
        .map(|_| {
            let mut round = rng.choose_multiple(ports.iter().copied(), per_round);
            // choose_multiple keeps no particular order; send in port order
            // so that the output is easier to follow.
            round.sort_unstable();
            round
        })
        .collect()
}

/// Descriptors for people: consecutive runs collapsed, "{3-6, 9}".
pub fn fmt_fds(fds: &[RawFd]) -> String {
    let mut sorted = fds.to_vec();
    sorted.sort_unstable();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    format!("{{{}}}", parts.join(", "))
}

/// The poll(2) event bits and their names, as `revents` and `si_band`
/// carry them.
const POLL_BITS: [(libc::c_short, &str); 11] = [
    (libc::POLLIN, "POLLIN"),
    (libc::POLLPRI, "POLLPRI"),
    (libc::POLLOUT, "POLLOUT"),
    (libc::POLLERR, "POLLERR"),
    (libc::POLLHUP, "POLLHUP"),
    (libc::POLLNVAL, "POLLNVAL"),
    (libc::POLLRDNORM, "POLLRDNORM"),
    (libc::POLLRDBAND, "POLLRDBAND"),
    (libc::POLLWRNORM, "POLLWRNORM"),
    (libc::POLLWRBAND, "POLLWRBAND"),
    (libc::POLLRDHUP, "POLLRDHUP"),
];

/// The epoll event bits and flags and their names.
const EPOLL_BITS: [(libc::c_int, &str); 15] = [
    (libc::EPOLLIN, "EPOLLIN"),
    (libc::EPOLLPRI, "EPOLLPRI"),
    (libc::EPOLLOUT, "EPOLLOUT"),
    (libc::EPOLLERR, "EPOLLERR"),
    (libc::EPOLLHUP, "EPOLLHUP"),
    (libc::EPOLLRDNORM, "EPOLLRDNORM"),
    (libc::EPOLLRDBAND, "EPOLLRDBAND"),
    (libc::EPOLLWRNORM, "EPOLLWRNORM"),
    (libc::EPOLLWRBAND, "EPOLLWRBAND"),
    (libc::EPOLLMSG, "EPOLLMSG"),
    (libc::EPOLLRDHUP, "EPOLLRDHUP"),
    (libc::EPOLLEXCLUSIVE, "EPOLLEXCLUSIVE"),
    (libc::EPOLLWAKEUP, "EPOLLWAKEUP"),
    (libc::EPOLLONESHOT, "EPOLLONESHOT"),
    (libc::EPOLLET, "EPOLLET"),
];

/// Names of the bits set in `bits`, joined with `|`, plus any unknown rest
/// in hex; "0" for none.
fn names(bits: u64, table: &[(u64, &str)]) -> String {
    let mut parts = Vec::new();
    let mut rest = bits;
    for &(bit, name) in table {
        if bits & bit == bit {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        "0".to_string()
    } else {
        parts.join("|")
    }
}

/// poll(2) event bits by name: "POLLIN|POLLRDNORM". Also for `si_band`,
/// which the kernel fills with the same bits.
pub fn poll_names(bits: i64) -> String {
    let table: Vec<(u64, &str)> = POLL_BITS
        .iter()
        .map(|&(b, n)| (b as u16 as u64, n))
        .collect();
    names(bits as u64, &table)
}

/// epoll event bits and flags by name: "EPOLLIN|EPOLLET".
pub fn epoll_names(bits: u32) -> String {
    let table: Vec<(u64, &str)> = EPOLL_BITS
        .iter()
        .map(|&(b, n)| (b as u32 as u64, n))
        .collect();
    names(u64::from(bits), &table)
}

/// One `read()` that must not sleep: the endpoint was reported readable,
/// or is `O_NONBLOCK`. Returns the bytes read and how long the call took
/// (phase 2), or `None` for `EAGAIN` (nothing queued).
pub fn read_timed(fd: RawFd, buf: &mut [u8]) -> Result<Option<(usize, u64)>, String> {
    let t0 = now_ns();
    // SAFETY: the pointer and length describe the live, writable `buf`.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    let t1 = now_ns();
    if n >= 0 {
        return Ok(Some((n as usize, t1 - t0)));
    }
    match errno() {
        libc::EAGAIN => Ok(None),
        e => Err(format!("read({fd}): {}", errno_text(e))),
    }
}

/// What one `epoll_wait()` returned.
pub struct Waited {
    /// The `(data.u64, events)` of each ready descriptor.
    pub ready: Vec<(usize, u32)>,
    /// How long the call took.
    pub wait_ns: u64,
    /// When it returned.
    pub woke_ns: u64,
}

/// One `epoll_wait(epfd, events, events.len(), timeout_ms)`, retried on
/// `EINTR`; printing is the caller's.
pub fn epoll_wait_timed(
    epfd: RawFd,
    events: &mut [libc::epoll_event],
    timeout_ms: i32,
) -> Result<Waited, String> {
    loop {
        let t0 = now_ns();
        // SAFETY: `events` is a live array of that many epoll_events.
        let n =
            unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, timeout_ms) };
        let t1 = now_ns();
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(format!("epoll_wait({epfd}): {}", errno_text(e)));
        }
        // Copied out of the packed struct field by field.
        let ready = events[..n as usize]
            .iter()
            .map(|ev| (ev.u64 as usize, ev.events))
            .collect();
        return Ok(Waited {
            ready,
            wait_ns: t1 - t0,
            woke_ns: t1,
        });
    }
}

/// The datagrams received so far, against the schedule they were sent on,
/// with the time of each phase.
pub struct Tally {
    /// The port each sequence number was sent to.
    dest_of: Vec<u32>,
    /// Sequence numbers seen.
    seen: Vec<bool>,
    /// Phase 1 of each datagram: the wait that ended with it reported.
    pub waits: Vec<u64>,
    /// Phase 2 of each datagram: the read() that copied it.
    pub copies: Vec<u64>,
    /// From the sender's system call to the end of the wait.
    pub deliveries: Vec<u64>,
    /// Datagrams that were not ours or not where the schedule sent them.
    pub strays: u32,
}

impl Tally {
    /// An empty tally for the datagrams of `rounds`.
    pub fn new(rounds: &[Vec<u32>]) -> Self {
        let dest_of: Vec<u32> = rounds.iter().flatten().copied().collect();
        Tally {
            seen: vec![false; dest_of.len()],
            dest_of,
            waits: Vec::new(),
            copies: Vec::new(),
            deliveries: Vec::new(),
            strays: 0,
        }
    }

    /// Datagrams the schedule sends.
    pub fn expected(&self) -> usize {
        self.dest_of.len()
    }

    /// Datagrams received (of ours, each counted once).
    pub fn received(&self) -> usize {
        self.seen.iter().filter(|&&s| s).count()
    }

    /// True when every datagram of the schedule was received.
    pub fn complete(&self) -> bool {
        self.received() == self.expected()
    }

    /// Records the datagram `payload` read on `port`, whose phase 1 was
    /// `wait_ns` and ended at `woke_ns`, and whose phase 2 was `copy_ns`.
    /// Returns what to print about it: its sequence number and its
    /// delivery time, or why it does not fit the schedule. A datagram sent
    /// after `woke_ns` counts for phase 2 only.
    pub fn record(
        &mut self,
        payload: &[u8],
        port: u32,
        wait_ns: u64,
        copy_ns: u64,
        woke_ns: u64,
    ) -> String {
        let Some((seq, sent)) = traffic::decode(payload) else {
            self.strays += 1;
            return "not from our sender".to_string();
        };
        let Some(&dest) = self.dest_of.get(seq as usize) else {
            self.strays += 1;
            return format!("seq {seq}: not in the schedule");
        };
        if dest != port {
            self.strays += 1;
            return format!("seq {seq}: sent to port {dest}, read on port {port}!");
        }
        if std::mem::replace(&mut self.seen[seq as usize], true) {
            self.strays += 1;
            return format!("seq {seq}: received twice!");
        }
        self.copies.push(copy_ns);
        if sent > woke_ns {
            // It arrived while the program was reading what woke it: no
            // wait of its own, so it stays out of the phase 1 and delivery
            // figures.
            return format!(
                "seq {seq}, sent {} after the wake-up: found by the same drain",
                fmt_ns(sent - woke_ns)
            );
        }
        let delivery = woke_ns - sent;
        self.waits.push(wait_ns);
        self.deliveries.push(delivery);
        format!("seq {seq}, sent {} before the wake-up", fmt_ns(delivery))
    }

    /// The summary lines of the two phases; `waiting` names the call that
    /// waited, as "select" in "phase 1, waiting (select)".
    pub fn print_summary(&self, waiting: &str) {
        println!(
            "{}",
            traffic::summary_line(&format!("phase 1, waiting ({waiting})"), &self.waits)
        );
        println!(
            "{}",
            traffic::summary_line("phase 2, copying (read)", &self.copies)
        );
        println!(
            "{}",
            traffic::summary_line("send -> wake-up", &self.deliveries)
        );
        let late = self.copies.len() - self.waits.len();
        if late > 0 {
            println!("({late} datagrams arrived during a drain, after the wake-up: phase 2 only)");
        }
        let missing = self.expected() - self.received();
        if missing > 0 || self.strays > 0 {
            println!(
                "datagrams: {} of {} received, {missing} missing, {} unexpected",
                self.received(),
                self.expected(),
                self.strays
            );
        }
    }

    /// The error for a wait that timed out: how many datagrams are missing.
    pub fn timeout_error(&self, call: &str, patience_ns: u64) -> String {
        format!(
            "{call}: nothing within {} with {} of {} datagrams received: were some dropped? \
             (`simnicctl stats` counts rx_no_port, rx_queue_full, rx_missed)",
            fmt_ns(patience_ns),
            self.received(),
            self.expected()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_lists() {
        assert_eq!(fmt_fds(&[]), "{}");
        assert_eq!(fmt_fds(&[5]), "{5}");
        assert_eq!(fmt_fds(&[6, 3, 4, 5, 9]), "{3-6, 9}");
        assert_eq!(fmt_fds(&[1, 3, 5]), "{1, 3, 5}");
    }

    #[test]
    fn event_names() {
        assert_eq!(poll_names(0), "0");
        assert_eq!(
            poll_names((libc::POLLIN | libc::POLLRDNORM) as i64),
            "POLLIN|POLLRDNORM"
        );
        assert_eq!(poll_names(0x10_0000), "0x100000");
        assert_eq!(
            epoll_names((libc::EPOLLIN | libc::EPOLLET) as u32),
            "EPOLLIN|EPOLLET"
        );
        assert_eq!(epoll_names(libc::EPOLLONESHOT as u32), "EPOLLONESHOT");
    }

    #[test]
    fn schedules() {
        let ports = [10, 11, 12, 13, 14];
        let rounds = random_rounds(&ports, 50, 3, 7);
        assert_eq!(rounds.len(), 50);
        for r in &rounds {
            assert_eq!(r.len(), 3);
            assert!(
                r.windows(2).all(|w| w[0] < w[1]),
                "{r:?}: not distinct, sorted"
            );
            assert!(r.iter().all(|p| ports.contains(p)));
        }
        assert_eq!(
            rounds,
            random_rounds(&ports, 50, 3, 7),
            "same seed, same schedule"
        );
        // With 50 rounds every port is picked sometime.
        for p in ports {
            assert!(
                rounds.iter().any(|r| r.contains(&p)),
                "port {p} never picked"
            );
        }
    }

    #[test]
    fn tally_checks_the_schedule() {
        let rounds = vec![vec![7000], vec![7001, 7002]];
        let mut t = Tally::new(&rounds);
        assert_eq!((t.expected(), t.received()), (3, 0));
        let mut p = [0u8; 16];
        traffic::encode(&mut p, 1, 100);
        assert!(t
            .record(&p, 7001, 5, 6, 150)
            .starts_with("seq 1, sent 50 ns"));
        assert!(t.record(&p, 7001, 5, 6, 150).contains("twice"));
        traffic::encode(&mut p, 2, 100);
        assert!(t.record(&p, 7000, 5, 6, 150).contains("sent to port 7002"));
        traffic::encode(&mut p, 9, 100);
        assert!(t
            .record(&p, 7000, 5, 6, 150)
            .contains("not in the schedule"));
        assert!(t
            .record(&p[..4], 7000, 5, 6, 150)
            .contains("not from our sender"));
        assert_eq!((t.received(), t.strays), (1, 4));
        assert!(!t.complete());
        assert_eq!((t.waits.len(), t.copies[0], t.deliveries[0]), (1, 6, 50));
        // Sent after the wake-up: copied, but no phase 1 of its own.
        traffic::encode(&mut p, 0, 200);
        assert!(t
            .record(&p, 7000, 5, 7, 150)
            .contains("sent 50 ns after the wake-up"));
        assert_eq!((t.received(), t.waits.len(), t.copies.len()), (2, 1, 2));
    }
}
