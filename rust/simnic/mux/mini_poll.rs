// SPDX-License-Identifier: GPL-2.0

//! mini-poll: `poll(2)` done again, the way `do_sys_poll` / `do_poll` in
//! `fs/select.c` do it, with each step visible.
//!
//! 1. Take a reference on every descriptor's file (`fdget`).
//! 2. First scan: call each file's `->poll` with our poll table, whose queue
//!    procedure (`__pollwait`'s role) allocates a wait-queue entry for every
//!    `poll_wait()` the file makes and hooks it on that queue, with a wake
//!    function in `pollwake`'s role: set `triggered`, wake this task.
//!    Once one descriptor is ready, the rest are polled without registering
//!    (`do_poll` clears `_qproc`), and so are all later scans: the entries
//!    of the first scan stay hooked until the end.
//! 3. Nothing ready: sleep (`poll_schedule_timeout`) until an entry's wake
//!    function fires, a signal, or the timeout.
//! 4. Woken: scan every descriptor again, however many there are. That is
//!    why poll costs O(n) per wake-up, where epoll costs O(ready).
//! 5. Return: unhook and free every entry (`poll_freewait`), drop the files.

use crate::driver::stats::inc;
use crate::mux::mini_epoll::MuxShared;
use crate::uapi::{MiniPoll, MiniPollFd, MINI_POLL_MAX_FDS};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::{
    alloc::{KBox, KVVec},
    error::code::EINTR,
    fs::{File, FileRef},
    prelude::*,
    sync::{
        poll::PollMask,
        queue_proc::{poll_schedule_timeout, QueueProc, QueueRequest},
        wait_entry::{OwnWakeFn, WaitEntry, WakeCallback},
        Arc,
    },
    task::Task,
    time::Ktime,
    types::ARef,
    uaccess::UserSlice,
};

/// Totals over every mini-poll call, for debugfs.
#[derive(Default)]
pub(crate) struct MiniPollTotals {
    pub(crate) calls: core::sync::atomic::AtomicU64,
    pub(crate) rescans: core::sync::atomic::AtomicU64,
    pub(crate) entries: core::sync::atomic::AtomicU64,
    pub(crate) wakeups: core::sync::atomic::AtomicU64,
    pub(crate) spurious: core::sync::atomic::AtomicU64,
}

/// What the wake functions share with the sleeping caller: the
/// `poll_wqueues` of one call (its `triggered` flag and `polling_task`).
/// Listed in `MuxShared::poll_calls` while the call runs, for the
/// wait-queue view (debugfs `wq`).
pub(crate) struct Waiter {
    pub(crate) id: u64,
    triggered: AtomicBool,
    pub(crate) task: ARef<Task>,
    pub(crate) nfds: u32,
    pub(crate) wakeups: AtomicU32,
    pub(crate) entries: AtomicU32,
    pub(crate) rescans: AtomicU32,
    pub(crate) spurious: AtomicU32,
}

/// One hooked entry's data: the waiter, and the events its descriptor asked
/// for (`pollwake` ignores wake-ups with other keys).
struct PollWake {
    waiter: Arc<Waiter>,
    events: PollMask,
}

// The wake function's C name, what the wait-queue view and `%ps` show next
// to the kernel's `pollwake`.
kernel::wake_function!(simnic_pollwake for PollWake);

/// The wake function of mini-poll's entries, for the wait-queue view.
pub(crate) fn wake_function() -> OwnWakeFn {
    WaitEntry::<PollWake>::wake_function()
}

impl WakeCallback for PollWake {
    /// `pollwake` + `__pollwake`: a wake-up for events this descriptor did
    /// not ask for is not ours; otherwise mark the table triggered (before
    /// the wake-up, so that the woken task sees it) and wake the task.
    fn wake(entry: &WaitEntry<Self>, key: PollMask) -> bool {
        let w = entry.data();
        if key != PollMask::NONE && (key & w.events) == PollMask::NONE && !entry.is_freed() {
            return false;
        }
        w.waiter.wakeups.fetch_add(1, Ordering::Relaxed);
        w.waiter.triggered.store(true, Ordering::Release);
        w.waiter.task.wake_up();
        true
    }
}

/// The poll table's queue procedure and the entries it hooked: the
/// `poll_wqueues` (`__pollwait` allocating `poll_table_entry`s).
struct Table {
    waiter: Arc<Waiter>,
    /// The events of the descriptor being polled.
    events: PollMask,
    entries: KVVec<Pin<KBox<WaitEntry<PollWake>>>>,
    /// An allocation failed (`table->error`): the call fails with ENOMEM.
    error: bool,
}

impl QueueProc for Table {
    fn queue(&mut self, req: &QueueRequest<'_>) {
        let data = PollWake { waiter: self.waiter.clone(), events: self.events };
        // `->private` is the polling task, as `pollwake`'s leads to it.
        let task = self.waiter.task.clone();
        let entry = match KBox::pin_init(WaitEntry::new_for_task(data, task), GFP_KERNEL_ACCOUNT) {
            Ok(e) => e,
            Err(_) => {
                self.error = true;
                return;
            }
        };
        if self.entries.push(entry, GFP_KERNEL_ACCOUNT).is_err() {
            self.error = true;
            return;
        }
        if let Some(e) = self.entries.last() {
            req.hook(e.as_ref());
        }
        self.waiter.entries.fetch_add(1, Ordering::Relaxed);
    }
}

/// The events a descriptor is polled for: what it asked, plus the ones
/// `poll` always reports.
fn wanted(events: u32) -> PollMask {
    PollMask::from_bits(events) | PollMask::ERR | PollMask::HUP
}

/// `SIMNIC_MUX_IOC_POLL`: returns the number of descriptors with events,
/// filling `revents` and the counters in `arg`.
pub(crate) fn mini_poll(arg: usize, shared: &MuxShared) -> Result<isize> {
    let totals = &shared.poll_totals;
    let mut args = MiniPoll::from_bytes(&crate::fops::ioctl::read_arg(arg)?);
    if args.nfds > MINI_POLL_MAX_FDS {
        return Err(EINVAL);
    }
    let n = args.nfds as usize;
    let mut raw = KVVec::from_elem(0u8, n * MiniPollFd::SIZE, GFP_KERNEL_ACCOUNT)?;
    UserSlice::new(args.fds as usize, raw.len()).reader().read_slice(&mut raw)?;
    let mut fds = KVVec::with_capacity(n, GFP_KERNEL_ACCOUNT)?;
    let mut files: KVVec<Option<FileRef>> = KVVec::with_capacity(n, GFP_KERNEL_ACCOUNT)?;
    for chunk in raw.chunks_exact(MiniPollFd::SIZE) {
        let mut pfd = MiniPollFd::from_bytes(chunk.try_into().map_err(|_| EINVAL)?);
        pfd.revents = 0;
        // `fdget`: a negative descriptor is skipped; a closed one is POLLNVAL.
        let file = if pfd.fd < 0 { None } else { File::fget(pfd.fd as u32).ok() };
        if pfd.fd >= 0 && file.is_none() {
            pfd.revents = PollMask::NVAL.bits();
        }
        fds.push(pfd, GFP_KERNEL_ACCOUNT)?;
        files.push(file, GFP_KERNEL_ACCOUNT)?;
    }
    let deadline = match args.timeout_ms {
        t if t < 0 => None,
        t => Some(Ktime::from_raw(Ktime::ktime_get().to_ns().saturating_add(t as i64 * 1_000_000))),
    };

    let task: ARef<Task> = kernel::current!().into();
    let waiter = Arc::new(
        Waiter {
            id: shared.next_id.fetch_add(1, Ordering::Relaxed),
            triggered: AtomicBool::new(false),
            task,
            nfds: args.nfds,
            wakeups: AtomicU32::new(0),
            entries: AtomicU32::new(0),
            rescans: AtomicU32::new(0),
            spurious: AtomicU32::new(0),
        },
        GFP_KERNEL,
    )?;
    // Listed while the call runs (the guard takes it off on every return).
    let _listed = PollCallListing::add(shared, &waiter)?;
    let mut table = Table { waiter: waiter.clone(), events: PollMask::NONE, entries: KVVec::new(), error: false };
    // A zero timeout registers nothing (`do_poll` clears `_qproc`).
    let mut register = args.timeout_ms != 0;
    let (mut rescans, mut spurious) = (0u32, 0u32);
    let mut woken = false;
    let result = loop {
        // One scan of every descriptor (`do_poll`'s inner loop).
        let mut count = 0;
        for (pfd, file) in fds.iter_mut().zip(files.iter()) {
            let Some(file) = file else {
                count += usize::from(pfd.revents != 0);
                continue;
            };
            let want = wanted(pfd.events);
            let mask = if register {
                table.events = want;
                file.poll_with(want, &mut table)
            } else {
                file.poll_events(want)
            };
            pfd.revents = (mask & want).bits();
            if pfd.revents != 0 {
                count += 1;
                // Enough to return: register nothing more.
                register = false;
            }
        }
        rescans += 1;
        waiter.rescans.fetch_add(1, Ordering::Relaxed);
        register = false;
        if table.error {
            break Err(ENOMEM);
        }
        if count > 0 {
            break Ok(count);
        }
        if woken {
            // Woken, scanned everything, found nothing: a spurious wake-up
            // (another descriptor's events, or a racing reader).
            spurious += 1;
            waiter.spurious.fetch_add(1, Ordering::Relaxed);
        }
        if deadline.is_some_and(|d| Ktime::ktime_get().to_ns() >= d.to_ns()) || args.timeout_ms == 0 {
            break Ok(0);
        }
        if kernel::current!().signal_pending() {
            break Err(EINTR);
        }
        if poll_schedule_timeout(&waiter.triggered, deadline) {
            woken = false;
        } else {
            woken = true;
        }
    };
    // `poll_freewait`: every entry leaves its queue and is freed; then the
    // file references go.
    let entries = table.entries.len() as u32;
    drop(table);
    drop(files);

    args.rescans = rescans;
    args.entries = entries;
    args.wakeups = waiter.wakeups.load(Ordering::Relaxed);
    args.spurious = spurious;
    inc(&totals.calls);
    totals.rescans.fetch_add(rescans.into(), Ordering::Relaxed);
    totals.entries.fetch_add(entries.into(), Ordering::Relaxed);
    totals.wakeups.fetch_add(args.wakeups.into(), Ordering::Relaxed);
    totals.spurious.fetch_add(spurious.into(), Ordering::Relaxed);
    let count = result?;
    let mut out = KVVec::<u8>::with_capacity(n * MiniPollFd::SIZE, GFP_KERNEL_ACCOUNT)?;
    for pfd in fds.iter() {
        out.extend_from_slice(&pfd.to_bytes(), GFP_KERNEL_ACCOUNT)?;
    }
    UserSlice::new(args.fds as usize, out.len()).writer().write_slice(&out)?;
    crate::fops::ioctl::write_arg(arg, &args.to_bytes())?;
    Ok(count as isize)
}

/// A running call's place in `MuxShared::poll_calls`, taken off when the
/// call returns.
struct PollCallListing<'a> {
    shared: &'a MuxShared,
    id: u64,
}

impl<'a> PollCallListing<'a> {
    fn add(shared: &'a MuxShared, waiter: &Arc<Waiter>) -> Result<Self> {
        shared.poll_calls.lock().try_create_and_insert(waiter.id, waiter.clone(), GFP_KERNEL)?;
        Ok(Self { shared, id: waiter.id })
    }
}

impl Drop for PollCallListing<'_> {
    fn drop(&mut self) {
        let removed = self.shared.poll_calls.lock().remove(&self.id);
        // Dropped outside the lock.
        drop(removed);
    }
}
