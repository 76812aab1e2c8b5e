//! sample-mmap: receiving through an mmap ring on /dev/simnic, the way
//! `PACKET_RX_RING` and AF_XDP receive: no `read()` at all.
//!
//! In every other sample, phase 2 of an input operation (Stevens, UNIX
//! Network Programming, vol. 1, section 6.2), **copying the data from the
//! kernel to the process**, is a system call: `read()` takes the datagram
//! off the endpoint's queue and copies it out. Here the endpoint is given a
//! ring of slots in memory the process maps (`SIMNIC_IOC_RX_RING_SETUP`,
//! then `mmap`), and the kernel's receive path (the NAPI poll, in softirq)
//! copies each datagram straight into the next slot, writes its descriptor
//! and publishes it by storing the producer index (with release ordering).
//! The process:
//!
//! 1. loads the producer index (acquire) from the shared page: if it moved
//!    past its own consumer index, datagrams are there;
//! 2. reads each one **in place** (its descriptor, its bytes) and does not
//!    copy it anywhere;
//! 3. hands the slots back by storing its consumer index (release);
//! 4. only when the ring is empty, sleeps in `poll(POLLIN)`, which the
//!    kernel's `data_ready` wakes, as for any socket.
//!
//! So phase 1 still costs a system call when there is nothing to do, and
//! phase 2 costs none. To show it, the program runs its receiver as a child
//! under `ptrace` (as `strace -c` does) and counts every system call the
//! receiver makes between two markers around its receive loop: `poll`, and
//! no `read`. With `--no-trace` it runs untraced.
//!
//! The traffic comes from a forked sender with its own endpoint, as in the
//! other samples; each payload carries its sequence number and send time.

#[path = "../../common/traffic.rs"]
mod traffic;
#[path = "../../common/wq_view.rs"]
#[allow(dead_code)] // shared by the samples; each uses part of it
mod wq_view;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use clap::Parser;

use simnic::uapi::{
    RxRingDesc, RxRingReq, RxRingStats, RX_RING_OFF_CONSUMER, RX_RING_OFF_PRODUCER,
    SIMNIC_IOC_RX_RING_SETUP, SIMNIC_IOC_RX_RING_STATS,
};
use traffic::{errno, errno_text, fmt_ns, now_ns, Traffic};

/// Receive datagrams through an mmap ring: poll() to wait, no read() to
/// copy; the receiver's system calls counted with ptrace.
#[derive(Debug, Parser)]
#[command(name = "sample-mmap", version)]
struct Cli {
    #[command(flatten)]
    traffic: Traffic,
    /// Slots in the ring (a power of two).
    #[arg(long, default_value_t = 64)]
    slots: u32,
    /// Bytes per slot (a power of two, 64 to 65536); longer datagrams are
    /// cut to it.
    #[arg(long, default_value_t = 2048)]
    slot_size: u32,
    /// Run the receiver untraced (no system call count).
    #[arg(long)]
    no_trace: bool,
}

fn main() -> ExitCode {
    traffic::default_sigpipe();
    let cli = Cli::parse();
    let r = if cli.no_trace {
        receiver(&cli)
    } else {
        traced(&cli)
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sample-mmap: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// The marker the receiver calls before and after its receive loop, so the
/// tracer counts only what is in between; nothing else here calls it.
fn marker() {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::syscall(libc::SYS_getppid) };
}

/// Forks the receiver under ptrace and counts its system calls.
fn traced(cli: &Cli) -> Result<(), String> {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: single-threaded; the child runs the receiver and _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", errno_text(errno())));
    }
    if pid == 0 {
        // SAFETY: PTRACE_TRACEME and raise on ourselves.
        unsafe {
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            libc::raise(libc::SIGSTOP);
        }
        let code = match receiver(cli) {
            Ok(()) => 0,
            Err(msg) => {
                eprintln!("sample-mmap: receiver: {msg}");
                1
            }
        };
        let _ = std::io::stdout().flush();
        // SAFETY: leaves the child.
        unsafe { libc::_exit(code) };
    }
    let (counts, status) = trace(pid)?;
    println!();
    println!("tracer: system calls of the receiver (pid {pid}) between its two getppid() markers, counted");
    println!("tracer: with ptrace(PTRACE_SYSCALL) at every syscall entry, like strace -c:");
    for (nr, n) in &counts {
        println!("tracer:   {:<14} {n}", syscall_name(*nr));
    }
    let reads: u64 = [
        libc::SYS_read,
        libc::SYS_readv,
        libc::SYS_pread64,
        libc::SYS_preadv,
        libc::SYS_recvfrom,
    ]
    .iter()
    .map(|nr| counts.get(nr).copied().unwrap_or(0))
    .sum();
    println!("tracer:   read/readv/pread64/preadv/recvfrom: {reads}");
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else {
        Err(format!("the receiver failed (wait status {status:#x})"))
    }
}

/// The tracer: resumes the child from syscall stop to syscall stop and
/// counts syscall entries between the markers. Returns the counts by
/// syscall number and the child's wait status.
fn trace(pid: libc::pid_t) -> Result<(BTreeMap<i64, u64>, i32), String> {
    let wait = |st: &mut i32| -> Result<(), String> {
        // SAFETY: `st` is a valid int.
        while unsafe { libc::waitpid(pid, st, 0) } < 0 {
            if errno() != libc::EINTR {
                return Err(format!("waitpid: {}", errno_text(errno())));
            }
        }
        Ok(())
    };
    let mut st = 0;
    wait(&mut st)?; // the child's SIGSTOP
                    // SAFETY: our stopped tracee; options as an integer.
    if unsafe {
        libc::ptrace(
            libc::PTRACE_SETOPTIONS,
            pid,
            0,
            libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL,
        )
    } < 0
    {
        return Err(format!(
            "ptrace(PTRACE_SETOPTIONS): {}",
            errno_text(errno())
        ));
    }
    let mut counts = BTreeMap::new();
    let (mut sig, mut entry, mut between) = (0, true, false);
    loop {
        // SAFETY: our stopped tracee; `sig` is a signal to pass on or 0.
        if unsafe { libc::ptrace(libc::PTRACE_SYSCALL, pid, 0, sig) } < 0 {
            return Err(format!("ptrace(PTRACE_SYSCALL): {}", errno_text(errno())));
        }
        sig = 0;
        wait(&mut st)?;
        if libc::WIFEXITED(st) || libc::WIFSIGNALED(st) {
            return Ok((counts, st));
        }
        let s = libc::WSTOPSIG(st);
        if s != libc::SIGTRAP | 0x80 {
            sig = s; // a signal for the tracee (SIGCHLD from the sender)
            continue;
        }
        if entry {
            // SAFETY: an all-zero user_regs_struct is valid to fill.
            let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
            // SAFETY: our tracee in a syscall stop; `regs` is writable.
            unsafe { libc::ptrace(libc::PTRACE_GETREGS, pid, 0, &mut regs as *mut _) };
            let nr = regs.orig_rax as i64;
            if nr == libc::SYS_getppid {
                between = !between;
            } else if between {
                *counts.entry(nr).or_insert(0) += 1;
            }
        }
        entry = !entry;
    }
}

fn syscall_name(nr: i64) -> String {
    let known = [
        (libc::SYS_poll, "poll"),
        (libc::SYS_ppoll, "ppoll"),
        (libc::SYS_read, "read"),
        (libc::SYS_write, "write"),
        (libc::SYS_ioctl, "ioctl"),
        (libc::SYS_mmap, "mmap"),
        (libc::SYS_munmap, "munmap"),
        (libc::SYS_clock_gettime, "clock_gettime"),
        (libc::SYS_wait4, "wait4"),
        (libc::SYS_rt_sigreturn, "rt_sigreturn"),
        (libc::SYS_futex, "futex"),
    ];
    known
        .iter()
        .find(|(n, _)| *n == nr)
        .map(|(_, s)| s.to_string())
        .unwrap_or_else(|| format!("syscall {nr}"))
}

/// One datagram as the receiver saw it.
struct Seen {
    index: u32,
    seq: Option<u32>,
    len: u32,
    latency_ns: Option<u64>,
}

/// The shared word at `offset` of the mapping at `base`.
///
/// # Safety
/// `base` is a live mapping of the ring, `offset` 4-aligned inside it.
unsafe fn word<'a>(base: *mut u8, offset: u32) -> &'a AtomicU32 {
    // SAFETY: the caller's promise; the shared words are only ever
    // accessed atomically, here and in the kernel.
    unsafe { AtomicU32::from_ptr(base.add(offset as usize).cast()) }
}

fn receiver(cli: &Cli) -> Result<(), String> {
    if let Some(warning) = traffic::clock_warning() {
        println!("{warning}");
    }
    let t = &cli.traffic;
    let fd = traffic::open_and_bind(libc::O_RDWR | libc::O_CLOEXEC, "O_RDWR", "", t.port)?;

    let mut req = RxRingReq {
        slots: cli.slots,
        slot_size: cli.slot_size,
        ..Default::default()
    };
    // SAFETY: `req` is a live RxRingReq the driver reads and writes back.
    if unsafe {
        libc::ioctl(
            fd,
            SIMNIC_IOC_RX_RING_SETUP as libc::Ioctl,
            &mut req as *mut RxRingReq,
        )
    } < 0
    {
        return Err(format!(
            "ioctl({fd}, SIMNIC_IOC_RX_RING_SETUP, {{slots {}, slot_size {}}}): {}",
            cli.slots,
            cli.slot_size,
            errno_text(errno())
        ));
    }
    println!(
        "receiver: ioctl({fd}, SIMNIC_IOC_RX_RING_SETUP, {{slots {}, slot_size {}}}) = 0: \
         descriptors at {:#x}, buffers at {:#x}, map {} bytes",
        req.slots, req.slot_size, req.desc_off, req.data_off, req.map_len
    );
    let len = req.map_len as usize;
    // SAFETY: a new shared mapping of the ring, placed by the kernel.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(format!(
            "mmap({len}, MAP_SHARED, {fd}, 0): {}",
            errno_text(errno())
        ));
    }
    let base = base.cast::<u8>();
    println!("receiver: mmap(NULL, {len}, PROT_READ|PROT_WRITE, MAP_SHARED, {fd}, 0) = {base:p}");
    // SAFETY: the mapping is live until the munmap below; offsets from the
    // uapi, aligned, inside the header page.
    let (producer, consumer) = unsafe {
        (
            word(base, RX_RING_OFF_PRODUCER),
            word(base, RX_RING_OFF_CONSUMER),
        )
    };
    println!(
        "receiver: the loop: producer = load_acquire(ring + {RX_RING_OFF_PRODUCER}); read the slots up to it \
         in place; store_release(ring + {RX_RING_OFF_CONSUMER}, consumer); poll(POLLIN) only when empty."
    );

    let sender = traffic::spawn_sender(t, fd).map_err(|e| format!("fork: {e}"))?;
    let timeout_ms = (t.patience_ns() / 1_000_000) as libc::c_int;
    let mut seen: Vec<Seen> = Vec::new();
    let (mut polls, mut wakeups_empty) = (0u64, 0u64);
    let mut next = consumer.load(Ordering::Relaxed);
    let mut timed_out = false;
    // What poll() hooks while the ring is empty, seen by a second thread
    // (started before the first marker: its clone() is not counted, and
    // the tracer follows this thread only, so its reads are not either).
    let view = wq_view::show_callbacks(&[t.port], "poll() on an empty ring");
    // Nothing in the loop prints (a write() would show in the count); it
    // records, and the lines come after.
    marker();
    while seen.len() < t.count as usize {
        let prod = producer.load(Ordering::Acquire);
        if prod == next {
            polls += 1;
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one live pollfd.
            let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
            if r == 0 {
                timed_out = true;
                break;
            }
            if producer.load(Ordering::Acquire) == next {
                wakeups_empty += 1;
            }
            continue;
        }
        while next != prod {
            // Slot `next` is published (acquire above) and the kernel leaves
            // it alone until we store a consumer index past it. Still, it is
            // memory others can write (the forked sender shares the mapping;
            // so would any process that mapped the ring), so it is read with
            // atomic loads and copied out, never borrowed as a `&[u8]`.
            let d_off = req.desc_at(next) as u32;
            // SAFETY: descriptor words, inside the mapping, aligned.
            let w = |i: u32| unsafe { word(base, d_off + 4 * i) }.load(Ordering::Relaxed);
            let desc = RxRingDesc {
                len: w(0),
                dgram_len: w(1),
                src_port: w(2),
                flags: w(3),
            };
            // The sequence number and send time: the payload's first bytes.
            let mut head = [0u8; 12];
            let n = (desc.len as usize)
                .min(req.slot_size as usize)
                .min(head.len());
            for (i, b) in head[..n].iter_mut().enumerate() {
                // SAFETY: inside slot `next`'s buffer (n <= slot_size), and
                // `AtomicU8` lets others change the byte under the reference.
                let a = unsafe { AtomicU8::from_ptr(base.add(req.data_at(next) + i)) };
                *b = a.load(Ordering::Relaxed);
            }
            let payload = &head[..n];
            let now = now_ns();
            let d = traffic::decode(payload);
            seen.push(Seen {
                index: next,
                seq: d.map(|(s, _)| s),
                len: desc.len,
                latency_ns: d.map(|(_, sent)| now.saturating_sub(sent)),
            });
            next = next.wrapping_add(1);
        }
        consumer.store(next, Ordering::Release);
    }
    marker();
    let _ = view.join();

    for s in &seen {
        println!(
            "receiver: slot {:>3} (index {:>4}): {} bytes, seq {}, {} after its send",
            s.index & (req.slots - 1),
            s.index,
            s.len,
            s.seq.map_or("?".into(), |q| q.to_string()),
            s.latency_ns.map_or("?".into(), fmt_ns)
        );
    }
    let mut stats = RxRingStats::default();
    // SAFETY: `stats` is a live RxRingStats to fill.
    unsafe {
        libc::ioctl(
            fd,
            SIMNIC_IOC_RX_RING_STATS as libc::Ioctl,
            &mut stats as *mut RxRingStats,
        )
    };
    if timed_out {
        traffic::kill_sender(sender);
    } else {
        traffic::wait_sender(sender)?;
    }
    // SAFETY: our mapping; the words borrowed from it are not used again.
    unsafe { libc::munmap(base.cast(), len) };
    // SAFETY: our descriptor.
    unsafe { libc::close(fd) };
    println!();
    println!(
        "receiver: {} datagrams read in place, {polls} poll() calls ({wakeups_empty} woke to an empty ring), \
         no read(); ring: delivered {}, dropped full {}, bad index {}, truncated {}",
        seen.len(),
        stats.delivered,
        stats.ring_full,
        stats.bad_index,
        stats.truncated
    );
    let lat: Vec<u64> = seen.iter().filter_map(|s| s.latency_ns).collect();
    println!(
        "{}",
        traffic::summary_line("send -> seen in the ring", &lat)
    );
    if timed_out {
        return Err(format!(
            "only {} of {} datagrams arrived",
            seen.len(),
            t.count
        ));
    }
    Ok(())
}
