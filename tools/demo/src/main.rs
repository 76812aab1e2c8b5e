//! simnic-demo: what `make run` shows inside the guest.
//!
//! A short, narrated tour of /dev/simnic: the device node and the module's
//! reference count, a child process blocked in read() until its parent
//! write()s a datagram, and a non-blocking read on an empty endpoint. Exits 0
//! when everything behaved as described, 1 with a message saying what did
//! not.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use simnic::{Endpoint, DEVICE_PATH};

const REFCNT: &str = "/sys/module/simnic/refcnt";
const GREETING: &[u8] = b"hello from the parent";
const DELAY: Duration = Duration::from_millis(500);

type Result<T> = std::result::Result<T, String>;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The C library's text for errno `e`.
fn strerror(e: i32) -> String {
    // SAFETY: strerror returns a NUL-terminated static or thread-local
    // string; this program has one thread.
    unsafe { std::ffi::CStr::from_ptr(libc::strerror(e)) }
        .to_string_lossy()
        .into_owned()
}

fn flush() {
    let _ = std::io::stdout().flush();
}

/// The module's refcount, or why it cannot be read.
fn refcnt() -> String {
    match std::fs::read_to_string(REFCNT) {
        Ok(s) => s.trim().to_string(),
        Err(e) => format!("unreadable ({e})"),
    }
}

fn main() {
    println!("simnic-demo: a tour of {DEVICE_PATH}");
    match demo() {
        Ok(()) => println!("\nsimnic-demo: all steps behaved as described"),
        Err(msg) => {
            println!();
            eprintln!("simnic-demo: FAILED: {msg}");
            std::process::exit(1);
        }
    }
}

fn demo() -> Result<()> {
    step_device_node()?;
    let ep = step_open()?;
    let before = ep.nic_stats().map_err(|e| format!("SIMNIC_IOC_NIC_STATS: {e}"))?;
    step_parent_child(&ep)?;
    step_nic_path(&ep, &before)?;
    step_nonblocking()?;
    drop(ep);
    println!("\n[6] Every file is closed again");
    println!("    {REFCNT} = {}", refcnt());
    Ok(())
}

fn step_device_node() -> Result<()> {
    println!("\n[1] The device node");
    // SAFETY: a zeroed stat is a valid out-buffer; the path is NUL-terminated.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::stat(c"/dev/simnic".as_ptr(), &mut st) } != 0 {
        let e = errno();
        return Err(format!(
            "stat {DEVICE_PATH}: {} (is simnic.ko loaded?)",
            strerror(e)
        ));
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR {
        return Err(format!("{DEVICE_PATH} is not a character device"));
    }
    let major = ((st.st_rdev >> 8) & 0xfff) | ((st.st_rdev >> 32) & !0xfff);
    let minor = (st.st_rdev & 0xff) | ((st.st_rdev >> 12) & !0xff);
    println!(
        "    {DEVICE_PATH}: character device {major}:{minor} (misc), mode {:04o}",
        st.st_mode & 0o7777
    );
    println!("    {REFCNT} = {} (no file open yet)", refcnt());
    Ok(())
}

fn step_open() -> Result<Endpoint> {
    println!("\n[2] open() makes an endpoint with its own receive queue");
    let ep = Endpoint::open().map_err(|e| format!("open {DEVICE_PATH}: {e}"))?;
    println!(
        "    open(\"{DEVICE_PATH}\", O_RDWR) = fd {}",
        ep.as_raw_fd()
    );
    println!(
        "    {REFCNT} = {} (each open file holds the module)",
        refcnt()
    );
    Ok(ep)
}

/// The child blocks in read(); the parent sleeps, then writes; the child
/// reports what it read and for how long it was blocked.
fn step_parent_child(ep: &Endpoint) -> Result<()> {
    println!("\n[3] A parent and a child share the endpoint (fork shares the open file)");
    let mut ready = [0; 2];
    // SAFETY: `ready` has room for the two descriptors.
    if unsafe { libc::pipe2(ready.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", strerror(errno())));
    }
    let (ready_r, ready_w) = (ready[0], ready[1]);
    flush();
    // SAFETY: single-threaded; the child only runs `child` and _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", strerror(errno())));
    }
    if pid == 0 {
        let code = child(ep, ready_w);
        flush();
        // SAFETY: _exit never returns.
        unsafe { libc::_exit(code) };
    }
    // SAFETY: closing our copy of the write end; reading one byte into a
    // local.
    unsafe { libc::close(ready_w) };
    let mut byte = 0u8;
    let n = unsafe { libc::read(ready_r, (&mut byte as *mut u8).cast(), 1) };
    unsafe { libc::close(ready_r) };
    if n != 1 {
        reap(pid);
        return Err("the child did not start its read()".into());
    }

    println!(
        "    parent (pid {}): sleeping {} ms while the child waits",
        std::process::id(),
        DELAY.as_millis()
    );
    std::thread::sleep(DELAY);
    // The child narrates its read as soon as this write wakes it: announce
    // the write first, its return value once the child is done.
    println!(
        "    parent: write(fd, \"{}\", {})",
        String::from_utf8_lossy(GREETING),
        GREETING.len()
    );
    flush();
    let written = match ep.send(GREETING) {
        Ok(n) => n,
        Err(e) => {
            kill_and_reap(pid);
            return Err(format!("write: {e}"));
        }
    };

    let deadline = Instant::now() + Duration::from_secs(5);
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if Instant::now() >= deadline {
            kill_and_reap(pid);
            return Err("the child's read() did not return within 5 s of the write".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let how = if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else {
        format!("was killed by signal {}", libc::WTERMSIG(status))
    };
    println!("    parent: write() returned {written}; the child {how}");
    if written != GREETING.len() {
        return Err(format!(
            "write() returned {written}, expected {}",
            GREETING.len()
        ));
    }
    if status != 0 {
        return Err("the child did not read the parent's datagram (see above)".into());
    }
    Ok(())
}

/// The child's side: say it is about to block, read(), narrate the result.
fn child(ep: &Endpoint, ready_w: i32) -> i32 {
    let me = std::process::id();
    println!("    child  (pid {me}): read(fd, buf, 256) on the empty endpoint... blocks");
    flush();
    let start = Instant::now();
    // SAFETY: one byte from a static buffer to our pipe.
    unsafe { libc::write(ready_w, b"r".as_ptr().cast(), 1) };
    let mut buf = [0u8; 256];
    let r = ep.recv(&mut buf);
    let waited = start.elapsed();
    match r {
        Ok(n) => {
            println!(
                "    child  (pid {me}): read() = {n}: \"{}\", after {} ms blocked",
                String::from_utf8_lossy(&buf[..n]),
                waited.as_millis()
            );
            if &buf[..n] != GREETING {
                eprintln!("simnic-demo: the child read something other than the parent's datagram");
                return 1;
            }
            if waited < DELAY {
                eprintln!("simnic-demo: the child's read() returned before the parent wrote: it did not block");
                return 1;
            }
            0
        }
        Err(e) => {
            eprintln!("simnic-demo: the child's read() failed: {e}");
            1
        }
    }
}

fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    reap(pid);
}

fn reap(pid: libc::pid_t) {
    // SAFETY: our own child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
}

fn step_nonblocking() -> Result<()> {
    println!("\n[5] With O_NONBLOCK, read() on an empty endpoint does not wait");
    let ep =
        Endpoint::open_nonblocking().map_err(|e| format!("open {DEVICE_PATH} O_NONBLOCK: {e}"))?;
    let mut buf = [0u8; 64];
    let start = Instant::now();
    // SAFETY: the pointer and length describe `buf`.
    let r = unsafe { libc::read(ep.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    let e = errno();
    let took = start.elapsed();
    if r >= 0 {
        return Err(format!(
            "read on an empty O_NONBLOCK endpoint returned {r}, expected -1 with EAGAIN"
        ));
    }
    if e != libc::EAGAIN {
        return Err(format!(
            "read on an empty O_NONBLOCK endpoint: errno {e} ({}), expected EAGAIN",
            strerror(e)
        ));
    }
    println!(
        "    read(fd, buf, 64) = -1 EAGAIN ({}), after {} us",
        strerror(e),
        took.as_micros()
    );
    Ok(())
}

/// What the simulated NIC did to carry step 3's datagram: counter deltas.
fn step_nic_path(ep: &Endpoint, before: &simnic::NicStats) -> Result<()> {
    println!("\n[4] The datagram went through the simulated NIC and back");
    let port = ep.port().map_err(|e| format!("SIMNIC_IOC_GET_PORT: {e}"))?;
    let after = ep.nic_stats().map_err(|e| format!("SIMNIC_IOC_NIC_STATS: {e}"))?;
    let d = |a: u64, b: u64| a.wrapping_sub(b);
    println!("    the endpoint is bound to port {port}; write() sent to that port");
    println!("    tx_packets +{:<3} the frame went onto the TX ring", d(after.tx_packets, before.tx_packets));
    println!("    irqs       +{:<3} the hardware raised its interrupt (irq_work, hard irq)", d(after.irqs, before.irqs));
    println!("    polls      +{:<3} the NAPI poll ran (BH workqueue, softirq)", d(after.polls, before.polls));
    println!("    rx_packets +{:<3} it demuxed the frame to port {port}", d(after.rx_packets, before.rx_packets));
    println!("    wakeups    +{:<3} data_ready woke the blocked reader", d(after.wakeups, before.wakeups));
    if d(after.rx_packets, before.rx_packets) < 1 || d(after.polls, before.polls) < 1 {
        return Err("the NIC counters do not show the datagram's trip".into());
    }
    Ok(())
}
