//! Helpers over raw libc calls for the tests: errno values and names, raw
//! read/write, pipes, child processes and the reports they send back, /proc
//! inspection, signal handlers and poll.
//!
//! Everything here is one or a few visible system calls; nothing retries
//! behind a test's back.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use simnic::Endpoint;

/// What every test returns: `Err` carries the reason printed after `not ok`.
pub type TestResult = Result<(), String>;

/// The outcome of a raw call that returns a count: the count or the errno.
pub type SysResult = Result<usize, i32>;

pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `EAGAIN (11)`: an errno's symbolic name, as `simnic::errno_name` gives
/// it, and its value; `errno 1234` for a value without a name.
pub fn errname(e: i32) -> String {
    let name = match e {
        // Two the simnic crate does not name: neither should reach a program.
        libc::ERESTART => "ERESTART",
        // The kernel's ERESTARTSYS must never reach userspace; name it if it does.
        512 => "ERESTARTSYS (kernel-internal)",
        _ => match simnic::errno_name(e) {
            Some(name) => name,
            None => return format!("errno {e}"),
        },
    };
    format!("{name} ({e})")
}

pub fn signame(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

fn ssize(n: isize) -> SysResult {
    if n < 0 {
        Err(errno())
    } else {
        Ok(n as usize)
    }
}

pub fn read(fd: RawFd, buf: &mut [u8]) -> SysResult {
    // SAFETY: the pointer and length describe the live, writable slice.
    ssize(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

pub fn write(fd: RawFd, buf: &[u8]) -> SysResult {
    // SAFETY: the pointer and length describe the live slice.
    ssize(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })
}

/// read(2) into an arbitrary address, for the EFAULT tests. The kernel
/// validates the pointer; userspace never touches it.
pub fn read_to_addr(fd: RawFd, addr: usize, len: usize) -> SysResult {
    // SAFETY: the address is only handed to the kernel, which checks it.
    ssize(unsafe { libc::read(fd, addr as *mut libc::c_void, len) })
}

/// write(2) from an arbitrary address, for the EFAULT tests.
pub fn write_from_addr(fd: RawFd, addr: usize, len: usize) -> SysResult {
    // SAFETY: the address is only handed to the kernel, which checks it.
    ssize(unsafe { libc::write(fd, addr as *const libc::c_void, len) })
}

/// "returned 5" or "failed with EAGAIN (11)".
pub fn outcome(r: SysResult) -> String {
    match r {
        Ok(n) => format!("returned {n}"),
        Err(e) => format!("failed with {}", errname(e)),
    }
}

/// The call must have failed with exactly `want`.
pub fn expect_errno(r: SysResult, want: i32, what: &str) -> TestResult {
    match r {
        Err(e) if e == want => Ok(()),
        other => Err(format!(
            "{what}: expected {}, but it {}",
            errname(want),
            outcome(other)
        )),
    }
}

/// The call must have returned exactly `want`.
pub fn expect_count(r: SysResult, want: usize, what: &str) -> TestResult {
    match r {
        Ok(n) if n == want => Ok(()),
        other => Err(format!(
            "{what}: expected it to return {want}, but it {}",
            outcome(other)
        )),
    }
}

/// `got` must equal `want` byte for byte; the message names the first
/// difference.
pub fn check_data(got: &[u8], want: &[u8], what: &str) -> TestResult {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} bytes, expected {}",
            got.len(),
            want.len()
        ));
    }
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        return Err(format!(
            "{what}: byte {i} is {:#04x}, expected {:#04x} ({} bytes)",
            got[i],
            want[i],
            want.len()
        ));
    }
    Ok(())
}

/// How long a datagram may take to cross the simulated NIC (TX ring,
/// hardware thread, RX ring, interrupt, poll) before a test gives up on it:
/// generous, since the guest is emulated and can be very slow.
pub const ARRIVAL: Duration = Duration::from_secs(10);

/// How long a test waits for anything else that must happen: a child to
/// start, block, report or exit, a signal to be delivered or its handler to
/// run, a blocked call to be woken. A passing run goes on as soon as the
/// thing happens and never waits this long; only a failing one does, so it
/// is generous: the emulated guest can stall for seconds under host load.
pub const WAIT: Duration = Duration::from_secs(10);

/// How long a test watches for something that must NOT happen (a read
/// returning before any write, a second reader woken by one datagram): a
/// short window, since every passing run waits it out. A stall of the
/// guest can keep a wrong event out of the window, so the window is never
/// the verdict alone: each use is followed by a check the event cannot
/// escape (its report stays in the pipe and is what the next `expect`
/// reads; a woken sleeper's state and context-switch count change for
/// good; a counter keeps what was counted). The window makes a failure show
/// early; it cannot make one pass.
pub const QUIET: Duration = Duration::from_millis(300);

/// The timeout of a call a child makes that must block until the parent
/// acts (`poll`, `epoll_wait`): the parent's own [`WAIT`] for the child's
/// report is the test's bound; this only keeps a child from blocking
/// forever, and no passing run comes near it.
pub const CHILD_BLOCK_MS: i32 = 60_000;

/// Delivery is asynchronous: waits (poll for POLLIN, up to [`ARRIVAL`])
/// until a datagram is queued on `fd`.
pub fn wait_arrival(fd: RawFd, what: &str) -> TestResult {
    ensure!(
        wait_readable(fd, ARRIVAL)?,
        "{what}: no datagram arrived within {} s",
        ARRIVAL.as_secs()
    );
    Ok(())
}

/// Waits for a datagram to arrive (see [`wait_arrival`]), reads it with a
/// buffer larger than any datagram and checks it is exactly `want`.
pub fn expect_datagram(fd: RawFd, want: &[u8], what: &str) -> TestResult {
    wait_arrival(fd, what)?;
    let mut buf = vec![0u8; simnic::MAX_DATAGRAM + 1];
    let n = read(fd, &mut buf).map_err(|e| format!("{what}: read failed with {}", errname(e)))?;
    check_data(&buf[..n], want, what)
}

/// Writes one datagram and checks the whole of it was accepted.
pub fn send(fd: RawFd, data: &[u8], what: &str) -> TestResult {
    expect_count(write(fd, data), data.len(), what)
}

/// Deterministic content for a datagram, different for every `tag`, so a
/// datagram read back can be told from any other.
pub fn pattern(tag: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (tag.wrapping_mul(131)
                .wrapping_add(i as u32 * 7 + (i as u32 >> 8))
                % 251) as u8
        })
        .collect()
}

pub fn open_dev() -> Result<Endpoint, String> {
    Endpoint::open().map_err(|e| format!("open {}: {e}", simnic::DEVICE_PATH))
}

pub fn open_dev_nonblocking() -> Result<Endpoint, String> {
    Endpoint::open_nonblocking()
        .map_err(|e| format!("open {} O_NONBLOCK: {e}", simnic::DEVICE_PATH))
}

/// poll(2) on one descriptor: (return value, revents).
pub fn poll_one(
    fd: RawFd,
    events: libc::c_short,
    timeout_ms: i32,
) -> Result<(i32, libc::c_short), String> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if r < 0 {
        return Err(format!("poll: {}", errname(errno())));
    }
    Ok((r, pfd.revents))
}

/// All the poll bits a datagram device can report.
pub const POLL_ALL: libc::c_short = libc::POLLIN
    | libc::POLLRDNORM
    | libc::POLLOUT
    | libc::POLLWRNORM
    | libc::POLLPRI
    | libc::POLLRDHUP;

pub fn poll_names(ev: libc::c_short) -> String {
    let bits = [
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
    let names: Vec<&str> = bits
        .iter()
        .filter(|(b, _)| ev & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "0".to_string()
    } else {
        names.join("|")
    }
}

/// Checks that polling for everything right now reports exactly `want`.
pub fn expect_poll(fd: RawFd, want: libc::c_short, what: &str) -> TestResult {
    let (r, got) = poll_one(fd, POLL_ALL, 0)?;
    let want_r = i32::from(want != 0);
    if got != want || r != want_r {
        return Err(format!(
            "{what}: poll returned {r} with revents {}, expected {want_r} with {}",
            poll_names(got),
            poll_names(want)
        ));
    }
    Ok(())
}

/// An epoll instance with `fd` added for `events` (data `data`); closed
/// when dropped, which takes the item away.
pub fn epoll_with(fd: RawFd, events: u32, data: u64) -> Result<OwnedFd, String> {
    // SAFETY: plain system calls on our descriptors.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    ensure!(epfd >= 0, "epoll_create1: {}", errname(errno()));
    // SAFETY: `epfd` is ours, closed once (by the OwnedFd).
    let epfd = unsafe { OwnedFd::from_raw_fd(epfd) };
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: a valid event.
    let r = unsafe { libc::epoll_ctl(epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
    ensure!(r == 0, "EPOLL_CTL_ADD: {}", errname(errno()));
    Ok(epfd)
}

/// A pipe, both ends close-on-exec.
pub struct Pipe {
    pub r: OwnedFd,
    pub w: OwnedFd,
}

impl Pipe {
    pub fn new() -> Result<Self, String> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(format!("pipe2: {}", errname(errno())));
        }
        // SAFETY: both descriptors were just created and are owned by nobody.
        unsafe {
            Ok(Self {
                r: OwnedFd::from_raw_fd(fds[0]),
                w: OwnedFd::from_raw_fd(fds[1]),
            })
        }
    }
}

/// Waits up to `timeout` for `fd` to become readable; false on timeout.
pub fn wait_readable(fd: RawFd, timeout: Duration) -> Result<bool, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r > 0 {
            return Ok(true);
        }
        if r == 0 {
            return Ok(false);
        }
        if errno() != libc::EINTR {
            return Err(format!("poll: {}", errname(errno())));
        }
    }
}

/// What a child process sends back over a pipe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// About to make the call under test (sent just before it).
    Ready,
    /// The call returned.
    Done,
}

/// One message from a child: which child (`id`), what the call under test
/// returned (`ret`, `errno`), how long it took and the data it got.
#[derive(Clone, Debug)]
pub struct Report {
    pub kind: Kind,
    pub id: u32,
    pub ret: i64,
    pub errno: i32,
    pub elapsed: Duration,
    pub data: Vec<u8>,
}

/// Reports stay below PIPE_BUF so concurrent children's writes never
/// interleave.
const REPORT_DATA_MAX: usize = 1024;
const REPORT_HEADER: usize = 4 + 1 + 4 + 8 + 4 + 8;

impl Report {
    pub fn ready(id: u32) -> Self {
        Self {
            kind: Kind::Ready,
            id,
            ret: 0,
            errno: 0,
            elapsed: Duration::ZERO,
            data: Vec::new(),
        }
    }

    /// The result of a read-like call: its return value, errno when it
    /// failed, the time since `start` and the bytes it returned.
    pub fn done(id: u32, r: SysResult, start: Instant, buf: &[u8]) -> Self {
        let (ret, errno, data) = match r {
            Ok(n) => (n as i64, 0, buf[..n.min(buf.len())].to_vec()),
            Err(e) => (-1, e, Vec::new()),
        };
        Self {
            kind: Kind::Done,
            id,
            ret,
            errno,
            elapsed: start.elapsed(),
            data,
        }
    }

    /// "returned 5" / "failed with EINTR (4)", as [`outcome`] says it.
    pub fn outcome(&self) -> String {
        if self.ret < 0 {
            format!("failed with {}", errname(self.errno))
        } else {
            format!("returned {}", self.ret)
        }
    }

    /// Sends the report with one write(2). Used in children, where a failure
    /// can only be signalled by the exit status.
    pub fn send(&self, fd: RawFd) -> bool {
        let data = &self.data[..self.data.len().min(REPORT_DATA_MAX)];
        let mut msg = Vec::with_capacity(REPORT_HEADER + data.len());
        msg.extend_from_slice(&((REPORT_HEADER + data.len()) as u32).to_le_bytes());
        msg.push(match self.kind {
            Kind::Ready => 1,
            Kind::Done => 2,
        });
        msg.extend_from_slice(&self.id.to_le_bytes());
        msg.extend_from_slice(&self.ret.to_le_bytes());
        msg.extend_from_slice(&self.errno.to_le_bytes());
        msg.extend_from_slice(&(self.elapsed.as_nanos() as u64).to_le_bytes());
        msg.extend_from_slice(data);
        write(fd, &msg) == Ok(msg.len())
    }

    fn decode(msg: &[u8]) -> Self {
        let u32_at = |o: usize| u32::from_le_bytes(msg[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(msg[o..o + 8].try_into().unwrap());
        Self {
            kind: if msg[4] == 1 { Kind::Ready } else { Kind::Done },
            id: u32_at(5),
            ret: u64_at(9) as i64,
            errno: u32_at(17) as i32,
            elapsed: Duration::from_nanos(u64_at(21)),
            data: msg[REPORT_HEADER..].to_vec(),
        }
    }
}

/// The parent's end of a report pipe.
pub struct Reports {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl Reports {
    pub fn new(read_end: OwnedFd) -> Self {
        Self {
            fd: read_end,
            buf: Vec::new(),
        }
    }

    /// The next report, or None when none arrives within `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Report>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_le_bytes(self.buf[..4].try_into().unwrap()) as usize;
                if len < REPORT_HEADER {
                    return Err(format!("corrupt report from a child (length {len})"));
                }
                if self.buf.len() >= len {
                    let msg: Vec<u8> = self.buf.drain(..len).collect();
                    return Ok(Some(Report::decode(&msg)));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if !wait_readable(self.fd.as_raw_fd(), left)? {
                return Ok(None);
            }
            let mut chunk = [0u8; 4096];
            match read(self.fd.as_raw_fd(), &mut chunk) {
                Ok(0) => return Err("every child closed the report pipe without reporting".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(libc::EINTR) => {}
                Err(e) => return Err(format!("read report pipe: {}", errname(e))),
            }
        }
    }

    /// The next report, which must arrive within `timeout` and be of `kind`.
    pub fn expect(&mut self, kind: Kind, timeout: Duration, what: &str) -> Result<Report, String> {
        match self.next(timeout)? {
            Some(r) if r.kind == kind => Ok(r),
            Some(r) => Err(format!("{what}: expected a {kind:?} report, got {r:?}")),
            None => Err(format!("{what}: nothing within {} ms", timeout.as_millis())),
        }
    }

    /// Fails if a report is already there or arrives within `wait`.
    pub fn expect_none(&mut self, wait: Duration, what: &str) -> TestResult {
        match self.next(wait)? {
            None => Ok(()),
            Some(r) => Err(format!(
                "{what}: child {} {} after {} ms",
                r.id,
                r.outcome(),
                r.elapsed.as_millis()
            )),
        }
    }
}

/// A forked child process. Dropping it kills and reaps the child if it was
/// not waited for, so an early `Err` in a test leaves nothing behind.
pub struct Child {
    pub pid: libc::pid_t,
    status: Option<i32>,
}

/// False under `simnic-selftest --no-tracefs`: the guest's vCPUs may run
/// in parallel, where turning a tracepoint on or off can oops the guest
/// (Documentation/testing.rst, "Two boots").
pub static TRACEFS_ALLOWED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(true);

/// Fails unless this run may turn tracepoints on or off. `tracefs_write`
/// asks before writing any tracefs file but `trace`, `tracing_on`,
/// `trace_clock` and `buffer_size_kb`, and `trace_timeline` before running
/// `simnic-trace record` (which also refuses under `SIMNIC_NO_TRACEFS`):
/// so a test that goes through them without its `[tracefs]` mark in
/// `cases/mod.rs` fails every time, not once in a hundred runs. A test
/// that writes tracefs by other means is not caught.
pub fn tracefs_allowed() -> TestResult {
    if TRACEFS_ALLOWED.load(Ordering::Relaxed) {
        Ok(())
    } else {
        Err(
            "this test turns tracepoints on or off: mark it [tracefs] in cases/mod.rs \
             (simnic-selftest --no-tracefs runs none of those)"
                .into(),
        )
    }
}

/// Message of the last panic in this process, filled by the hook `main`
/// installs, so a panicking test or child can say where it panicked.
pub static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

pub fn take_panic_message() -> String {
    let msg = LAST_PANIC.lock().map(|mut m| m.take()).unwrap_or(None);
    msg.unwrap_or_else(|| "panicked".to_string())
        .replace('\n', " ")
}

/// fork(2), after flushing stdout and stderr so that nothing they hold is
/// printed by both processes: the child's pid in the parent, 0 in the child.
///
/// # Safety
/// The process must be single-threaded, so that the child may run ordinary
/// code (no lock it needs is held by a thread that is not there).
pub unsafe fn fork_flushed() -> Result<libc::pid_t, String> {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: the caller's promise: the process is single-threaded.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", errname(errno())));
    }
    Ok(pid)
}

impl Child {
    /// Forks; the child runs `f` and `_exit`s with its return value (101
    /// when it panics, after printing the panic on stderr).
    pub fn spawn(f: impl FnOnce() -> i32) -> Result<Self, String> {
        // SAFETY: fork in a single-threaded process; the child only runs `f`
        // and then _exits.
        let pid = unsafe { fork_flushed() }?;
        if pid == 0 {
            let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                Ok(code) => code,
                Err(_) => {
                    eprintln!("# child {}: {}", std::process::id(), take_panic_message());
                    101
                }
            };
            // SAFETY: _exit never returns and skips the parent's atexit state.
            unsafe { libc::_exit(code) };
        }
        Ok(Self { pid, status: None })
    }

    /// Non-blocking: has the child exited? Reaps it when it has.
    pub fn exited(&mut self) -> Result<bool, String> {
        if self.status.is_some() {
            return Ok(true);
        }
        let mut st = 0;
        // SAFETY: `st` is a valid out-pointer.
        let r = unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG) };
        if r < 0 {
            return Err(format!("waitpid {}: {}", self.pid, errname(errno())));
        }
        if r == self.pid {
            self.status = Some(st);
            return Ok(true);
        }
        Ok(false)
    }

    /// Waits up to `timeout` for the child to exit; returns its wait status.
    pub fn wait(&mut self, timeout: Duration) -> Result<Option<i32>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.exited()? {
                return Ok(self.status);
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The child must exit with status 0 within `timeout`.
    pub fn expect_exit0(&mut self, timeout: Duration, what: &str) -> TestResult {
        match self.wait(timeout)? {
            Some(0) => Ok(()),
            Some(st) => Err(format!("{what}: child {}", describe_status(st))),
            None => Err(format!(
                "{what}: child still running after {} ms",
                timeout.as_millis()
            )),
        }
    }

    pub fn signal(&self, sig: i32) -> TestResult {
        // SAFETY: plain kill(2) on our own child.
        if unsafe { libc::kill(self.pid, sig) } != 0 {
            return Err(format!(
                "kill({}, {}): {}",
                self.pid,
                signame(sig),
                errname(errno())
            ));
        }
        Ok(())
    }

    /// The scheduler state letter from /proc/PID/stat ('S' = sleeping
    /// interruptibly).
    pub fn state(&self) -> Result<char, String> {
        let path = format!("/proc/{}/stat", self.pid);
        let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        // The comm field is in parentheses and may contain anything.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        rest.trim_start()
            .chars()
            .next()
            .ok_or_else(|| format!("{path}: no state in {stat:?}"))
    }

    /// Waits until the child sleeps interruptibly (blocked in the call under
    /// test, which it said it was about to make).
    pub fn wait_sleeping(&mut self, timeout: Duration, what: &str) -> TestResult {
        let deadline = Instant::now() + timeout;
        loop {
            if self.exited()? {
                return Err(format!(
                    "{what}: child {} instead of blocking",
                    describe_status(self.status.unwrap_or(0))
                ));
            }
            let st = self.state()?;
            if st == 'S' {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{what}: child in state {st:?}, not sleeping, after {} ms",
                    timeout.as_millis()
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The evidence a must-not-wake window (see [`QUIET`]) leaves for good:
    /// the child has not exited, is still asleep ('S', not runnable), and
    /// has made no voluntary context switch since `switches_before` (taken
    /// while it was already blocked), so nothing woke it, however late it
    /// would have got to run.
    pub fn expect_still_asleep(&mut self, switches_before: u64, what: &str) -> TestResult {
        ensure!(
            !self.exited()?,
            "{what}: the child {}",
            describe_status(self.status.unwrap_or(0))
        );
        let st = self.state()?;
        ensure!(
            st == 'S',
            "{what}: the child is in state {st:?}, not asleep (S)"
        );
        let now = self.voluntary_switches()?;
        ensure!(
            now == switches_before,
            "{what}: the child was woken (voluntary_ctxt_switches {switches_before} -> {now})"
        );
        Ok(())
    }

    /// voluntary_ctxt_switches from /proc/PID/status: it grows each time the
    /// process sleeps, so it shows whether a sleeper was woken.
    pub fn voluntary_switches(&self) -> Result<u64, String> {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("{path}: no voluntary_ctxt_switches"))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_none() {
            // SAFETY: kill and reap our own child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// Makes `call` (one system call on a shared descriptor) in a child process
/// and returns its result, or fails when it is still blocked after `limit`:
/// for calls that must never sleep, so a device that sleeps anyway fails
/// with a reason instead of a timeout.
pub fn call_without_blocking(
    what: &str,
    limit: Duration,
    call: impl FnOnce() -> SysResult,
) -> Result<SysResult, String> {
    let pipe = Pipe::new()?;
    let report = pipe.w.as_raw_fd();
    let mut child = Child::spawn(move || {
        let start = Instant::now();
        let r = call();
        i32::from(!Report::done(0, r, start, &[]).send(report))
    })?;
    drop(pipe.w);
    let mut reports = Reports::new(pipe.r);
    let Some(done) = reports.next(limit)? else {
        return Err(format!(
            "{what}: blocked (no return within {} ms)",
            limit.as_millis()
        ));
    };
    child.expect_exit0(WAIT, what)?;
    Ok(if done.ret < 0 {
        Err(done.errno)
    } else {
        Ok(done.ret as usize)
    })
}

/// "exited with status 3" / "was killed by SIGSEGV".
pub fn describe_status(st: i32) -> String {
    if libc::WIFEXITED(st) {
        format!("exited with status {}", libc::WEXITSTATUS(st))
    } else if libc::WIFSIGNALED(st) {
        format!("was killed by {}", signame(libc::WTERMSIG(st)))
    } else {
        format!("ended with wait status {st:#x}")
    }
}

/// Where the signal handler below writes one byte per signal, so the parent
/// knows the handler ran.
pub static SIGNAL_NOTE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn note_signal(_sig: libc::c_int) {
    // SAFETY: only async-signal-safe calls; errno is saved and restored so
    // the interrupted code sees its own.
    unsafe {
        let saved = *libc::__errno_location();
        let fd = SIGNAL_NOTE_FD.load(Ordering::Relaxed);
        if fd >= 0 {
            libc::write(fd, b"S".as_ptr().cast(), 1);
        }
        *libc::__errno_location() = saved;
    }
}

/// Installs the noting handler for `sig` with sigaction(2), with or without
/// SA_RESTART.
pub fn install_note_handler(sig: i32, restart: bool) -> TestResult {
    // SAFETY: a zeroed sigaction is valid; the fields set below complete it.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = note_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    sa.sa_flags = if restart { libc::SA_RESTART } else { 0 };
    // SAFETY: valid pointers to a local sigaction.
    unsafe {
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
            return Err(format!("sigaction({}): {}", signame(sig), errname(errno())));
        }
    }
    Ok(())
}

/// stat(2): Ok(stat) or Err(errno).
pub fn stat(path: &CStr) -> Result<libc::stat, i32> {
    // SAFETY: a zeroed stat is a valid out-buffer; `path` is NUL-terminated.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::stat(path.as_ptr(), &mut st) } != 0 {
        return Err(errno());
    }
    Ok(st)
}

/// An anonymous private mapping of `pages` pages with `prot`; returns its
/// address. `unmap` gives back part of it, to make an address that faults.
pub fn map_pages(pages: usize, prot: i32) -> Result<usize, String> {
    // SAFETY: a fresh anonymous mapping chosen by the kernel.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            pages * page_size(),
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(format!("mmap: {}", errname(errno())));
    }
    Ok(p as usize)
}

pub fn unmap(addr: usize, pages: usize) -> TestResult {
    // SAFETY: the range belongs to a mapping made by map_pages and nothing
    // in userspace refers to it.
    if unsafe { libc::munmap(addr as *mut libc::c_void, pages * page_size()) } != 0 {
        return Err(format!("munmap: {}", errname(errno())));
    }
    Ok(())
}

pub fn protect(addr: usize, pages: usize, prot: i32) -> TestResult {
    // SAFETY: the range belongs to a mapping made by map_pages and nothing
    // in userspace refers to it.
    if unsafe { libc::mprotect(addr as *mut libc::c_void, pages * page_size(), prot) } != 0 {
        return Err(format!("mprotect: {}", errname(errno())));
    }
    Ok(())
}

pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Sets or clears O_NONBLOCK on an open file with fcntl(2).
pub fn set_nonblocking(fd: RawFd, on: bool) -> TestResult {
    // SAFETY: F_GETFL/F_SETFL on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl < 0 {
            return Err(format!("fcntl F_GETFL: {}", errname(errno())));
        }
        let fl = if on {
            fl | libc::O_NONBLOCK
        } else {
            fl & !libc::O_NONBLOCK
        };
        if libc::fcntl(fd, libc::F_SETFL, fl) != 0 {
            return Err(format!("fcntl F_SETFL: {}", errname(errno())));
        }
    }
    Ok(())
}

/// The calling thread's voluntary context switches so far
/// (`getrusage(RUSAGE_THREAD)`, `ru_nvcsw`): a call made between two
/// readings that leaves it unchanged did not sleep, however long the
/// emulated guest took to run it.
pub fn voluntary_switches_self() -> Result<u64, String> {
    // SAFETY: a zeroed rusage is a valid out-buffer.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD with a live out-pointer.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) } != 0 {
        return Err(format!("getrusage: {}", errname(errno())));
    }
    Ok(ru.ru_nvcsw as u64)
}

pub fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

pub fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[cfg(test)]
pub mod tests {
    //! The helpers the guest tests rely on, checked on the host with pipes
    //! instead of the device.
    use super::*;

    /// Tests that fork take this, so no two fork at once.
    pub static FORK_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// With tracepoint toggling forbidden (`--no-tracefs`), asking fails
    /// and says how to mark the test; allowed again, it passes.
    #[test]
    fn tracefs_allowed_follows_the_switch() {
        assert_eq!(tracefs_allowed(), Ok(()));
        TRACEFS_ALLOWED.store(false, Ordering::Relaxed);
        let r = tracefs_allowed();
        TRACEFS_ALLOWED.store(true, Ordering::Relaxed);
        assert!(r.unwrap_err().contains("[tracefs]"));
        assert_eq!(tracefs_allowed(), Ok(()));
    }

    #[test]
    fn reports_cross_a_pipe_intact() {
        let pipe = Pipe::new().unwrap();
        let w = pipe.w.as_raw_fd();
        let start = Instant::now() - Duration::from_millis(250);
        assert!(Report::ready(7).send(w));
        assert!(Report::done(3, Ok(5), start, b"hello world").send(w));
        assert!(Report::done(4, Err(libc::EINTR), start, b"ignored").send(w));
        let mut reports = Reports::new(pipe.r);
        let r = reports
            .expect(Kind::Ready, Duration::from_secs(1), "ready")
            .unwrap();
        assert_eq!((r.id, r.ret), (7, 0));
        let r = reports
            .expect(Kind::Done, Duration::from_secs(1), "done")
            .unwrap();
        assert_eq!(
            (r.id, r.ret, r.errno, r.data.as_slice()),
            (3, 5, 0, &b"hello"[..])
        );
        assert!(r.elapsed >= Duration::from_millis(250), "{:?}", r.elapsed);
        let r = reports.next(Duration::from_secs(1)).unwrap().unwrap();
        assert_eq!((r.id, r.ret, r.errno), (4, -1, libc::EINTR));
        assert_eq!(r.outcome(), "failed with EINTR (4)");
        assert!(reports.next(Duration::from_millis(20)).unwrap().is_none());
        let err = reports.expect_none(Duration::ZERO, "x");
        assert_eq!(err, Ok(()));
        drop(pipe.w);
        assert!(
            reports.next(Duration::from_secs(1)).is_err(),
            "EOF must be an error"
        );
    }

    #[test]
    fn child_states_and_exit_statuses() {
        let _guard = FORK_LOCK.lock().unwrap();
        let pipe = Pipe::new().unwrap();
        let r = pipe.r.as_raw_fd();
        let mut child = Child::spawn(move || {
            let mut b = [0u8; 1];
            i32::from(read(r, &mut b) != Ok(1) || b[0] != b'!')
        })
        .unwrap();
        child.wait_sleeping(WAIT, "pipe read").unwrap();
        let before = child.voluntary_switches().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            child.voluntary_switches().unwrap(),
            before,
            "a blocked child was woken"
        );
        assert_eq!(child.expect_still_asleep(before, "reader"), Ok(()));
        // A wrong count is a wake-up.
        let err = child.expect_still_asleep(before + 1, "reader").unwrap_err();
        assert!(err.contains("was woken"), "{err}");
        assert!(!child.exited().unwrap());
        write(pipe.w.as_raw_fd(), b"!").unwrap();
        child.expect_exit0(WAIT, "reader").unwrap();
        let err = child.expect_still_asleep(before, "reader").unwrap_err();
        assert!(err.contains("exited with status 0"), "{err}");

        let mut child = Child::spawn(|| 3).unwrap();
        let err = child.expect_exit0(WAIT, "quitter").unwrap_err();
        assert_eq!(err, "quitter: child exited with status 3");
        let err = child.wait_sleeping(WAIT, "sleeper").unwrap_err();
        assert!(err.contains("instead of blocking"), "{err}");

        let mut child = Child::spawn(|| {
            std::thread::sleep(Duration::from_secs(30));
            0
        })
        .unwrap();
        assert_eq!(child.wait(Duration::from_millis(20)).unwrap(), None);
        child.signal(libc::SIGKILL).unwrap();
        let st = child.wait(WAIT).unwrap().unwrap();
        assert_eq!(describe_status(st), "was killed by SIGKILL");
    }

    #[test]
    fn errno_names() {
        assert_eq!(errname(libc::EAGAIN), "EAGAIN (11)");
        assert_eq!(errname(libc::ENOBUFS), "ENOBUFS (105)");
        assert_eq!(errname(libc::ERESTART), "ERESTART (85)");
        assert_eq!(errname(512), "ERESTARTSYS (kernel-internal) (512)");
        assert_eq!(errname(4096), "errno 4096");
    }

    #[test]
    fn expectations_name_errnos_and_differences() {
        assert_eq!(expect_errno(Err(libc::EAGAIN), libc::EAGAIN, "r"), Ok(()));
        assert_eq!(
            expect_errno(Ok(3), libc::ENOBUFS, "w"),
            Err("w: expected ENOBUFS (105), but it returned 3".to_string())
        );
        assert_eq!(
            expect_errno(Err(libc::EFAULT), libc::EAGAIN, "r"),
            Err("r: expected EAGAIN (11), but it failed with EFAULT (14)".to_string())
        );
        assert_eq!(expect_count(Ok(4), 4, "w"), Ok(()));
        assert!(expect_count(Ok(3), 4, "w").is_err());
        assert_eq!(
            check_data(b"abc", b"abd", "d"),
            Err("d: byte 2 is 0x63, expected 0x64 (3 bytes)".to_string())
        );
        assert_eq!(
            check_data(b"ab", b"abc", "d"),
            Err("d: 2 bytes, expected 3".to_string())
        );
        assert_ne!(
            pattern(1, 64),
            pattern(2, 64),
            "patterns of different tags must differ"
        );
    }
}
