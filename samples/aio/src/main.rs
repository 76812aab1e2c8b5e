//! sample-aio: Linux native AIO on /dev/simnic, the asynchronous I/O model.
//!
//! In the four other models the process takes part in phase 2, **copying
//! the data**: its own `read()` copies the datagram out, after phase 1,
//! **waiting for the data**, ended (in `read()` itself, in `poll()`, or in a
//! signal handler). With asynchronous I/O the process hands the kernel the
//! whole request (descriptor, buffer, length) and goes on; the kernel does
//! both phases and only then tells the process, which finds the data
//! already in its buffer.
//!
//! Here the request is an `IOCB_CMD_PREAD` given to `io_submit()` while no
//! datagram exists yet: simnic's `read_iter` finds the endpoint empty, pins
//! the buffer's pages (the process may do anything meanwhile, the iovec is
//! gone), keeps the request and returns `-EIOCBQUEUED`, so `io_submit()`
//! returns at once. When a datagram arrives, the driver's receive path (the
//! NAPI-style poll, in softirq context) copies it straight into those pages
//! and completes the request; the completion event lands in the AIO ring,
//! and `io_getevents()` returns it with the byte count. No `read()` follows:
//! the program prints the payload from the buffer it submitted.
//!
//! `--depth` reads are kept posted at all times (each completed one is
//! submitted again); they take the datagrams in the order they were posted,
//! but their events may reach the ring in another order (each completes
//! from a work item on the CPU that completed it), so each event is matched
//! to its buffer by its `aio_data`, never by its position. The buffers'
//! pages stay pinned while the reads are posted, charged to the user's
//! `RLIMIT_MEMLOCK` (a read past it fails with `ENOBUFS`).
//! At the end `io_destroy()` cancels the reads still posted and waits for
//! them. Every system call is made directly (`syscall(SYS_io_submit, ...)`,
//! as glibc has no wrappers) and printed.

#[allow(dead_code)]
#[path = "../../common/traffic.rs"]
mod traffic;
#[path = "../../common/wq_view.rs"]
#[allow(dead_code)] // shared by the samples; each uses part of it
mod wq_view;

use std::process::ExitCode;

use clap::Parser;
// The kernel's `struct iocb` and `struct io_event` (include/uapi/linux/
// aio_abi.h), defined once in the simnic crate. The system calls that take
// them are written out below rather than called through the crate's
// `simnic::aio_abi::io_*`: showing each call, its arguments and what it
// returned is what this sample is for.
use simnic::aio_abi::{IoEvent, Iocb, IOCB_CMD_PREAD};

use traffic::{errno, errno_text, fmt_ns, now_ns, Traffic};

/// Receive datagrams with io_submit/io_getevents, the kernel doing the copy.
#[derive(Debug, Parser)]
#[command(name = "sample-aio", version)]
struct Cli {
    #[command(flatten)]
    traffic: Traffic,
    /// Reads kept posted at once.
    #[arg(short, long, default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=simnic::AIO_READS_MAX as i64))]
    depth: u32,
}

fn main() -> ExitCode {
    traffic::default_sigpipe();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sample-aio: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// One posted read: its buffer, its iocb (whose address `io_cancel` would
/// name it by) and when it was submitted.
struct Slot {
    buf: Vec<u8>,
    iocb: Iocb,
    submitted_ns: u64,
}

fn io_setup(nr: u32) -> Result<libc::c_ulong, String> {
    let mut ctx: libc::c_ulong = 0;
    // SAFETY: `ctx` is a valid out-pointer, zero as io_setup requires.
    if unsafe { libc::syscall(libc::SYS_io_setup, nr, &mut ctx) } != 0 {
        return Err(format!("io_setup({nr}): {}", errno_text(errno())));
    }
    println!("receiver: io_setup({nr}, &ctx) = 0   (an AIO context: a ring of completion events)");
    Ok(ctx)
}

/// io_submit of slot `i`'s read; prints the call and how long it took.
fn submit(
    ctx: libc::c_ulong,
    fd: i32,
    i: usize,
    slot: &mut Slot,
    verbose: bool,
) -> Result<(), String> {
    slot.iocb = Iocb {
        aio_data: i as u64,
        aio_lio_opcode: IOCB_CMD_PREAD,
        aio_fildes: fd as u32,
        aio_buf: slot.buf.as_mut_ptr() as u64,
        aio_nbytes: slot.buf.len() as u64,
        ..Default::default()
    };
    let mut list = [&mut slot.iocb as *mut Iocb];
    let t0 = now_ns();
    // SAFETY: one valid iocb; its buffer lives in `slot` until the read
    // completes or io_destroy has cancelled it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_submit,
            ctx,
            1 as libc::c_long,
            list.as_mut_ptr(),
        )
    };
    let t1 = now_ns();
    slot.submitted_ns = t1;
    if r != 1 {
        return Err(format!("io_submit: {}", errno_text(errno())));
    }
    if verbose {
        println!(
            "receiver: io_submit(ctx, 1, [{{PREAD, fd={fd}, buf={:#x}, nbytes={}, data={i}}}]) = 1   \
             returned in {}: the read waits in the driver",
            slot.iocb.aio_buf,
            slot.buf.len(),
            fmt_ns(t1 - t0)
        );
    }
    Ok(())
}

fn run(cli: &Cli) -> Result<(), String> {
    if let Some(warning) = traffic::clock_warning() {
        println!("{warning}");
    }
    let t = &cli.traffic;
    let fd = traffic::open_and_bind(
        libc::O_RDWR | libc::O_CLOEXEC,
        "O_RDWR",
        "(AIO never sleeps in io_submit: the kernel keeps the read)",
        t.port,
    )?;
    let depth = cli.depth as usize;
    let ctx = io_setup(2 * cli.depth)?;
    let mut slots: Vec<Slot> = (0..depth)
        .map(|_| Slot {
            buf: vec![0; simnic::MAX_DATAGRAM],
            iocb: Iocb::default(),
            submitted_ns: 0,
        })
        .collect();
    for (i, slot) in slots.iter_mut().enumerate() {
        submit(ctx, fd, i, slot, true)?;
    }
    println!("receiver: {depth} reads posted before any datagram exists; now the sender starts.");
    println!(
        "receiver: each datagram: io_getevents(ctx, 1, {depth}, events, timeout) returns its completion; \
         the data is already in the buffer (no read() follows); the read is posted again."
    );
    let sender = traffic::spawn_sender(t, fd).map_err(|e| format!("fork: {e}"))?;
    // The posted reads are no wait-queue entries: the driver keeps the
    // iocbs on the endpoint, and its receive path completes them.
    let view = wq_view::show_no_callback(
        &[t.port],
        &format!("{depth} AIO reads are posted"),
        "a posted read is kept by the driver (its pending reads), not hooked on the queue; \
         the receive path completes it, and io_getevents() sleeps on the AIO context's own queue",
    );

    println!();
    println!(
        "{:>4} {:>5} {:>6}  {:>24}  {:>16}",
        "seq", "read", "bytes", "posted -> completion seen", "send -> seen"
    );
    let timeout = libc::timespec {
        tv_sec: (t.patience_ns() / 1_000_000_000) as libc::time_t,
        tv_nsec: 0,
    };
    let mut events = vec![IoEvent::default(); depth];
    let mut got = 0u32;
    let mut deliveries = Vec::new();
    while got < t.count {
        // SAFETY: room for `depth` events; a valid timespec.
        let n = unsafe {
            libc::syscall(
                libc::SYS_io_getevents,
                ctx,
                1 as libc::c_long,
                depth as libc::c_long,
                events.as_mut_ptr(),
                &timeout,
            )
        };
        let seen = now_ns();
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            traffic::kill_sender(sender);
            return Err(if n == 0 {
                "io_getevents: no completion in time: was a datagram dropped? (`simnicctl stats`)"
                    .into()
            } else {
                format!("io_getevents: {}", errno_text(errno()))
            });
        }
        for ev in &events[..n as usize] {
            let i = ev.data as usize;
            let slot = &mut slots[i];
            if ev.res < 0 {
                traffic::kill_sender(sender);
                return Err(format!(
                    "read {i} completed with {}",
                    errno_text(-ev.res as i32)
                ));
            }
            let bytes = ev.res as usize;
            // The payload is read from the submitted buffer: the kernel
            // copied it there before posting the event.
            let (seq, sent) = traffic::decode(&slot.buf[..bytes]).unwrap_or((u32::MAX, seen));
            deliveries.push(seen.saturating_sub(sent));
            println!(
                "{seq:>4} {i:>5} {bytes:>6}  {:>24}  {:>16}",
                fmt_ns(seen - slot.submitted_ns),
                fmt_ns(seen.saturating_sub(sent))
            );
            got += 1;
            // Posted again at once, even after the last datagram: io_destroy
            // then has reads to cancel.
            submit(ctx, fd, i, slot, false)?;
        }
    }
    let _ = view.join();
    traffic::wait_sender(sender)?;
    println!();
    println!(
        "{}",
        traffic::summary_line("send -> completion seen", &deliveries)
    );
    let t0 = now_ns();
    // SAFETY: our context; the reads still posted are cancelled and waited for.
    let r = unsafe { libc::syscall(libc::SYS_io_destroy, ctx) };
    println!(
        "receiver: io_destroy(ctx) = {r}   in {}: the reads still posted were cancelled (ECANCELED) and their pages unpinned",
        fmt_ns(now_ns() - t0)
    );
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    println!();
    println!(
        "Both phases happened in the kernel: the process never waited in read() nor copied; \
         it learned of each datagram when the data was already in its buffer."
    );
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
    fn depth_bounds() {
        assert_eq!(Cli::try_parse_from(["sample-aio"]).unwrap().depth, 4);
        assert!(Cli::try_parse_from(["sample-aio", "--depth", "0"]).is_err());
        assert!(Cli::try_parse_from(["sample-aio", "--depth", "65"]).is_err());
    }
}
