//! The system calls the benchmark makes besides those of `simnic::Endpoint`:
//! the clock, UDP sockets on 127.0.0.1, eventfds, thread state, resource
//! limits, and the files under /proc it reads. Every call is a plain libc
//! call, so what is measured is visible.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// `ret`, or the errno as an `io::Error` when it is negative.
fn check(ret: libc::c_long) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock every timing here uses. All
/// threads and processes of the guest read the same clock, so a stamp taken
/// by one and compared by another is a one-way latency.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU time the calling thread has used, in nanoseconds
/// (`CLOCK_THREAD_CPUTIME_ID`: the scheduler's runtime of the task, so
/// time spent asleep in a system call does not count; a real system call,
/// the vDSO does not serve it).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The resolution of `CLOCK_MONOTONIC` in nanoseconds (`clock_getres`): 1
/// with high-resolution timers on a usable clocksource, a whole tick (4 ms
/// at HZ=250) when the kernel fell back to jiffies.
pub fn clock_res_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live, writable timespec.
    unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sleeps `secs` seconds (`nanosleep`, restarted after a signal).
pub fn sleep_secs(secs: f64) {
    std::thread::sleep(std::time::Duration::from_secs_f64(secs));
}

/// `sched_yield()`.
pub fn yield_cpu() {
    // SAFETY: no arguments, no memory.
    unsafe { libc::sched_yield() };
}

/// The calling thread's id (`gettid()`).
pub fn gettid() -> libc::pid_t {
    // SAFETY: no arguments, no memory.
    unsafe { libc::gettid() }
}

/// The scheduler state letter of thread `tid` of this process, from
/// `/proc/self/task/<tid>/stat` (`S`: sleeping interruptibly, that is,
/// blocked in a system call like `read`; `R`: running or runnable).
pub fn thread_state(tid: libc::pid_t) -> io::Result<u8> {
    let stat = std::fs::read(format!("/proc/self/task/{tid}/stat"))?;
    // "tid (comm) S ...": the comm may hold spaces and parentheses, so the
    // state is the first field after the last ')'.
    let close = stat
        .iter()
        .rposition(|&b| b == b')')
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no ')' in stat"))?;
    stat.get(close + 2)
        .copied()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short stat"))
}

/// Where the two threads of a test run: the ping-pong's A and B, or the
/// throughput tests' writer and reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Pinning {
    /// Wherever the scheduler puts them.
    None,
    /// Both on CPU 0, and simnic's hardware thread too: every wake-up is
    /// local.
    Same,
    /// The first (A, writer) on CPU 0 with simnic's hardware thread, the
    /// second (B, reader) on CPU 1: the wake-up of the receiver crosses CPUs,
    /// once, for every transport. (UDP on loopback, too, runs its receive
    /// softirq on the sender's CPU.)
    Split,
}

impl Pinning {
    /// The CPUs of the first and the second thread, if pinned.
    pub fn cpus(self) -> Option<(usize, usize)> {
        match self {
            Pinning::None => None,
            Pinning::Same => Some((0, 0)),
            Pinning::Split => Some((0, 1)),
        }
    }
}

impl std::fmt::Display for Pinning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Pinning::None => "threads unpinned",
            Pinning::Same => "both threads and simnic-hw on CPU 0",
            Pinning::Split => "sender and simnic-hw on CPU 0, receiver on CPU 1",
        })
    }
}

/// A CPU set of the CPUs listed.
fn cpu_set(cpus: impl IntoIterator<Item = usize>) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for cpu in cpus {
        // SAFETY: `set` is a live cpu_set_t; CPU_SET checks `cpu` against
        // its size.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    set
}

/// Sets the CPUs task `tid` (0: the calling thread) may run on.
pub fn set_affinity(tid: libc::pid_t, cpus: impl IntoIterator<Item = usize>) -> io::Result<()> {
    let set = cpu_set(cpus);
    // SAFETY: `set` is a live cpu_set_t of the size passed.
    check(
        unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) }
            .into(),
    )
    .map(drop)
}

/// Binds the calling thread to CPU `cpu`.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    set_affinity(0, [cpu])
}

/// Lets the calling thread run on every online CPU again.
pub fn unpin() -> io::Result<()> {
    set_affinity(0, 0..online_cpus().max(1) as usize)
}

/// The pid of the kernel thread named `comm`, if there is one.
pub fn find_kthread(comm: &str) -> Option<libc::pid_t> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: libc::pid_t = e.file_name().to_str()?.parse().ok()?;
        let c = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (c.trim_end() == comm).then_some(pid)
    })
}

/// Set once a test wanted to bind `simnic-hw` and the module had no such
/// thread (a hardware model that runs the engine elsewhere): the report
/// says so, since the placements then describe the user threads only.
static NO_ENGINE_THREAD: AtomicBool = AtomicBool::new(false);

/// Whether some test found no `simnic-hw` thread to bind.
pub fn engine_thread_missing() -> bool {
    NO_ENGINE_THREAD.load(Relaxed)
}

/// simnic's hardware engine thread, bound to one CPU for as long as this
/// lives, and let free again (every online CPU) when it is dropped; nothing
/// when the module runs no such thread.
pub struct EnginePin(Option<libc::pid_t>);

impl EnginePin {
    /// Binds the `simnic-hw` kernel thread to `cpu`, if there is one.
    pub fn new(cpu: usize) -> io::Result<Self> {
        let Some(pid) = find_kthread("simnic-hw") else {
            if !NO_ENGINE_THREAD.swap(true, Relaxed) {
                eprintln!(
                    "simnic-bench: no simnic-hw kernel thread: only the user threads are pinned"
                );
            }
            return Ok(Self(None));
        };
        set_affinity(pid, [cpu])
            .map_err(|e| io::Error::new(e.kind(), format!("binding simnic-hw: {e}")))?;
        Ok(Self(Some(pid)))
    }
}

impl Drop for EnginePin {
    fn drop(&mut self) {
        let Some(pid) = self.0 else { return };
        if let Err(e) = set_affinity(pid, 0..online_cpus().max(1) as usize) {
            eprintln!("simnic-bench: unbinding simnic-hw: {e}");
        }
    }
}

/// Raises `RLIMIT_NOFILE` (soft and hard) to at least `n` descriptors.
pub fn raise_nofile(n: u64) -> io::Result<()> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a live, writable rlimit.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }.into())?;
    if r.rlim_cur >= n {
        return Ok(());
    }
    r.rlim_cur = n;
    r.rlim_max = r.rlim_max.max(n);
    // SAFETY: `r` is a live rlimit the call only reads.
    check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) }.into()).map(drop)
}

/// `write(fd, buf)`, returning the bytes written.
pub fn write_fd(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe the live slice.
    check(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) } as libc::c_long)
}

/// `read(fd, buf)`, returning the bytes read.
pub fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe the live, writable slice.
    check(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } as libc::c_long)
}

/// `recv(fd, buf, MSG_DONTWAIT)`: one datagram, or `EAGAIN` at once when
/// none is queued, whatever the file's blocking mode.
pub fn recv_dontwait(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe the live, writable slice.
    check(
        unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) }
            as libc::c_long,
    )
}

/// `ioctl(fd, FIONREAD)`: for a UDP socket (`SIOCINQ`) and a simnic
/// endpoint alike, the length of the next queued datagram, 0 if none.
pub fn fionread(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: `n` is a live, writable int, what FIONREAD writes.
    check(unsafe { libc::ioctl(fd, libc::FIONREAD as _, &mut n as *mut libc::c_int) }.into())?;
    Ok(n.max(0) as usize)
}

/// A new eventfd (counter 0, blocking reads).
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: no pointers.
    let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) }.into())?;
    // SAFETY: the descriptor was just created and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The descriptors `select()` can watch: below `FD_SETSIZE` (1024), the
/// size of glibc's and the kernel's `fd_set` ABI.
pub const FD_SETSIZE: usize = libc::FD_SETSIZE;

/// A read set for `select()`.
#[derive(Clone, Copy)]
pub struct FdSet(libc::fd_set);

impl FdSet {
    /// The set of `fds`, each below [`FD_SETSIZE`] (`FD_ZERO`, `FD_SET`).
    pub fn of(fds: &[RawFd]) -> Self {
        // SAFETY: fd_set is a plain bit array; all-zero is the empty set.
        let mut set: libc::fd_set = unsafe { std::mem::zeroed() };
        for &fd in fds {
            assert!((fd as usize) < FD_SETSIZE, "fd {fd} does not fit an fd_set");
            // SAFETY: `set` is a live fd_set and `fd` is within it.
            unsafe { libc::FD_SET(fd, &mut set) };
        }
        Self(set)
    }

    /// Whether `fd` is in the set (`FD_ISSET`).
    pub fn contains(&self, fd: RawFd) -> bool {
        // SAFETY: `self.0` is a live fd_set; FD_ISSET checks `fd`'s range.
        unsafe { libc::FD_ISSET(fd, &self.0) }
    }
}

/// `select(nfds, read, NULL, NULL, NULL)`: sleeps until a descriptor of
/// `read` is readable, leaves only the readable ones in it, and returns
/// how many there are.
pub fn select_read(nfds: RawFd, read: &mut FdSet) -> io::Result<usize> {
    // SAFETY: `read` is a live fd_set covering descriptors below `nfds`
    // (at most FD_SETSIZE); the other sets and the timeout are null.
    check(
        unsafe {
            libc::select(
                nfds,
                &mut read.0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        }
        .into(),
    )
}

/// `poll(fds, -1)`: sleeps until one of `fds` has an event it asked for,
/// fills in `revents`, and returns how many entries have events.
pub fn poll_forever(fds: &mut [libc::pollfd]) -> io::Result<usize> {
    poll_timeout(fds, -1)
}

/// `poll(fds, timeout_ms)`; with 0 it never sleeps, and the kernel then
/// calls each file's `->poll` once without registering on any wait queue
/// (`do_poll` with no `_qproc`).
pub fn poll_timeout(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    // SAFETY: the pointer and length describe the live, writable slice.
    check(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) }.into())
}

/// An epoll instance (`epoll_create1`).
pub struct Epoll(OwnedFd);

impl Epoll {
    pub fn new() -> io::Result<Self> {
        // SAFETY: no pointers.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }.into())?;
        // SAFETY: the descriptor was just created and nothing else owns it.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }))
    }

    /// `epoll_ctl(EPOLL_CTL_ADD)` of `fd` for `events` (level-triggered
    /// unless `EPOLLET` is among them); `data` comes back with its events.
    pub fn add(&self, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: `ev` is a live epoll_event the call only reads.
        check(
            unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) }.into(),
        )
        .map(drop)
    }

    /// `epoll_wait(-1)`: sleeps until an event is ready, fills the front of
    /// `events` and returns how many it filled.
    pub fn wait(&self, events: &mut [libc::epoll_event]) -> io::Result<usize> {
        self.wait_timeout(events, -1)
    }

    /// `epoll_wait` with a timeout in milliseconds (0: do not sleep).
    pub fn wait_timeout(
        &self,
        events: &mut [libc::epoll_event],
        timeout_ms: i32,
    ) -> io::Result<usize> {
        // SAFETY: the pointer and length describe the live, writable slice.
        check(
            unsafe {
                libc::epoll_wait(
                    self.0.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len().min(i32::MAX as usize) as libc::c_int,
                    timeout_ms,
                )
            }
            .into(),
        )
    }
}

/// `sockaddr_in` for 127.0.0.1:`port`.
fn loopback_addr(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// A new, unbound UDP socket (`socket(AF_INET, SOCK_DGRAM)`).
fn udp_socket() -> io::Result<OwnedFd> {
    // SAFETY: no pointers.
    let fd = check(
        unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) }.into(),
    )?;
    // SAFETY: the descriptor was just created and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A UDP socket bound to 127.0.0.1 on a port the kernel picks, and that port.
pub fn udp_bound() -> io::Result<(OwnedFd, u16)> {
    let fd = udp_bind_any()?;
    let port = udp_local_port(&fd)?;
    Ok((fd, port))
}

/// A UDP socket bound to 127.0.0.1 on a port the kernel picks: `socket()`
/// and `bind()`, the two calls that make the counterpart of an `open()` of
/// /dev/simnic (which binds an ephemeral port by itself).
pub fn udp_bind_any() -> io::Result<OwnedFd> {
    let fd = udp_socket()?;
    let addr = loopback_addr(0);
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `addr` is a live sockaddr_in of `len` bytes.
    check(
        unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_in).cast(),
                len,
            )
        }
        .into(),
    )?;
    Ok(fd)
}

/// The port a bound UDP socket has (`getsockname()`).
pub fn udp_local_port(fd: &OwnedFd) -> io::Result<u16> {
    let mut got = loopback_addr(0);
    let mut got_len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `got` is a live, writable sockaddr_in of `got_len` bytes.
    check(
        unsafe {
            libc::getsockname(
                fd.as_raw_fd(),
                (&mut got as *mut libc::sockaddr_in).cast(),
                &mut got_len,
            )
        }
        .into(),
    )?;
    Ok(u16::from_be(got.sin_port))
}

/// `connect()`s a UDP socket to 127.0.0.1:`port`: its default destination.
pub fn udp_connect(fd: &OwnedFd, port: u16) -> io::Result<()> {
    let addr = loopback_addr(port);
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `addr` is a live sockaddr_in of `len` bytes.
    check(
        unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_in).cast(),
                len,
            )
        }
        .into(),
    )
    .map(drop)
}

/// `sendto(fd, buf, 127.0.0.1:port)`: one datagram from an unconnected
/// socket, the destination given with each call.
pub fn udp_sendto(fd: RawFd, port: u16, buf: &[u8]) -> io::Result<usize> {
    let addr = loopback_addr(port);
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: the buffer pointer and length describe the live slice; `addr`
    // is a live sockaddr_in of `len` bytes.
    check(unsafe {
        libc::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            0,
            (&addr as *const libc::sockaddr_in).cast(),
            len,
        )
    } as libc::c_long)
}

/// `struct ifreq` with the flags member of its union: 16 bytes of name, then
/// the union, which is 24 bytes on 64-bit Linux (a `struct ifmap`).
#[repr(C)]
struct IfreqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Brings the loopback interface up (the guest's /init does not), which also
/// gives it 127.0.0.1. Returns whether it was down.
pub fn loopback_up() -> io::Result<bool> {
    let s = udp_socket()?;
    let mut req = IfreqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..2].copy_from_slice(b"lo");
    // SAFETY: `req` is a live ifreq the call reads and writes.
    check(
        unsafe {
            libc::ioctl(
                s.as_raw_fd(),
                libc::SIOCGIFFLAGS as _,
                &mut req as *mut IfreqFlags,
            )
        }
        .into(),
    )?;
    let up = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    if req.flags & libc::IFF_UP as libc::c_short != 0 {
        return Ok(false);
    }
    req.flags |= up;
    // SAFETY: as above.
    check(
        unsafe {
            libc::ioctl(
                s.as_raw_fd(),
                libc::SIOCSIFFLAGS as _,
                &mut req as *mut IfreqFlags,
            )
        }
        .into(),
    )?;
    Ok(true)
}

/// `/proc/meminfo` as field name -> bytes.
pub fn meminfo() -> io::Result<BTreeMap<String, u64>> {
    let text = std::fs::read_to_string("/proc/meminfo")?;
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let mut it = rest.split_whitespace();
        let Some(Ok(v)) = it.next().map(str::parse::<u64>) else {
            continue;
        };
        let mult = if it.next() == Some("kB") { 1024 } else { 1 };
        m.insert(name.to_string(), v * mult);
    }
    Ok(m)
}

/// Pages on the per-CPU free lists of every zone: the `count:` lines of
/// the `pagesets` in `/proc/zoneinfo`; `None` without that file.
pub fn pcp_free_pages() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/zoneinfo").ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("count:"))
            .filter_map(|v| v.trim().parse::<u64>().ok())
            .sum(),
    )
}

/// The page size, bytes.
pub fn page_size() -> u64 {
    // SAFETY: no pointers.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64
}

/// `/proc/slabinfo` as cache name -> (active objects, object size), or `None`
/// when the kernel has none (it needs `CONFIG_SLUB_DEBUG`, which
/// `CONFIG_SLUB_TINY` turns off) or it cannot be read.
pub fn slabinfo() -> Option<BTreeMap<String, (u64, u64)>> {
    let text = std::fs::read_to_string("/proc/slabinfo").ok()?;
    let mut m = BTreeMap::new();
    for line in text.lines().skip(2) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        if let (Ok(active), Ok(size)) = (f[1].parse(), f[3].parse()) {
            m.insert(f[0].to_string(), (active, size));
        }
    }
    Some(m)
}

/// The `Udp:` counters of `/proc/net/snmp` (InDatagrams, RcvbufErrors, ...).
pub fn udp_snmp() -> io::Result<BTreeMap<String, u64>> {
    let text = std::fs::read_to_string("/proc/net/snmp")?;
    let udp: Vec<&str> = text.lines().filter(|l| l.starts_with("Udp:")).collect();
    let mut m = BTreeMap::new();
    if let [names, values, ..] = udp[..] {
        for (n, v) in names
            .split_whitespace()
            .zip(values.split_whitespace())
            .skip(1)
        {
            if let Ok(v) = v.parse() {
                m.insert(n.to_string(), v);
            }
        }
    }
    Ok(m)
}

/// Receive memory charged to each UDP socket on 127.0.0.1 whose port is
/// in `ports`, in bytes, by port: the `rx_queue` column of
/// `/proc/net/udp` (`sk_rmem_alloc`, the truesize of its queued socket
/// buffers).
pub fn udp_rx_queues(ports: &std::collections::BTreeSet<u16>) -> io::Result<BTreeMap<u16, u64>> {
    let text = std::fs::read_to_string("/proc/net/udp")?;
    let mut m = BTreeMap::new();
    // "  sl  local_address rem_address   st tx_queue rx_queue ...":
    // local 0100007F:PPPP, queues TTTTTTTT:RRRRRRRR, all hex.
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(queues)) = (f.get(1), f.get(4)) else {
            continue;
        };
        let port = local
            .split_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
        let rx = queues
            .split_once(':')
            .and_then(|(_, r)| u64::from_str_radix(r, 16).ok());
        if let (Some(port), Some(rx)) = (port, rx) {
            if ports.contains(&port) {
                m.insert(port, rx);
            }
        }
    }
    Ok(m)
}

/// The simnic module's parameters as `/sys/module/simnic/parameters/`
/// shows them (name, value), sorted by name; empty when it has none or
/// is not loaded.
pub fn module_params() -> Vec<(String, String)> {
    let Ok(dir) = std::fs::read_dir("/sys/module/simnic/parameters") else {
        return Vec::new();
    };
    let mut v: Vec<(String, String)> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let value = std::fs::read_to_string(e.path()).ok()?;
            Some((name, value.trim().to_string()))
        })
        .collect();
    v.sort();
    v
}

/// `uname -r`.
pub fn kernel_release() -> String {
    // SAFETY: utsname is plain bytes; all-zero is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a live, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "?".into();
    }
    // SAFETY: uname() NUL-terminates its fields.
    unsafe { CStr::from_ptr(u.release.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Online CPUs.
pub fn online_cpus() -> i64 {
    // SAFETY: no pointers.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }
}

/// The clocksource `CLOCK_MONOTONIC` runs on.
pub fn clocksource() -> String {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// How the guest's CPU is provided, from CPUID: the hypervisor bit and the
/// hypervisor's signature (KVM says "KVMKVMKVM"; QEMU's TCG gives none).
pub fn accelerator() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        #[allow(unused_unsafe)]
        // SAFETY: CPUID exists on every x86_64 CPU; leaves 1 and 0x40000000
        // are always safe to query (an unknown leaf returns data, not a fault).
        let (leaf1, hv) = unsafe { (__cpuid(1), __cpuid(0x4000_0000)) };
        if leaf1.ecx & (1 << 31) == 0 {
            return "no hypervisor (bare metal?)".into();
        }
        let mut sig = Vec::new();
        for r in [hv.ebx, hv.ecx, hv.edx] {
            sig.extend_from_slice(&r.to_le_bytes());
        }
        let sig: String = sig
            .iter()
            .filter(|b| b.is_ascii_graphic())
            .map(|&b| b as char)
            .collect();
        if sig.starts_with("KVMKVMKVM") {
            "QEMU with KVM".into()
        } else if sig.is_empty() || sig.starts_with("TCG") {
            "QEMU TCG (emulated CPU)".into()
        } else {
            format!("hypervisor '{sig}'")
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        "?".into()
    }
}
