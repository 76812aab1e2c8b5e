// SPDX-License-Identifier: GPL-2.0

//! Polling other files the way the kernel's multiplexers do: a poll table
//! with a custom queue procedure (`init_poll_funcptr`), `vfs_poll` on any
//! file, and the sleep of `do_poll` (`poll_schedule_timeout`).
//!
//! When `select`/`poll` call a file's `->poll`, the `poll_wait()` inside
//! reaches `__pollwait`, which hooks a `pollwake` entry on the file's queue;
//! epoll's `ep_ptable_queue_proc` hooks an `ep_poll_callback` entry. Here the
//! queue procedure is a [`QueueProc`], which hooks [`WaitEntry`]s with
//! [`QueueRequest::hook`]; the entry's safety argument is in
//! [`kernel::sync::wait_entry`].
//!
//! C header: [`include/linux/poll.h`](srctree/include/linux/poll.h)
//!
//! [`kernel::sync::wait_entry`]: super::wait_entry

use super::{
    poll::PollMask,
    wait_entry::{WaitEntry, WakeFunction},
};
use crate::{bindings, fs::File, time::Ktime};
use core::{
    pin::Pin,
    sync::atomic::{AtomicBool, Ordering},
};

/// A queue procedure: what `poll_wait()` calls on the table it is given.
pub trait QueueProc {
    /// The polled file's `->poll` registers one of its wait queues
    /// (`poll_wait(file, queue, table)`): hook entries on it with
    /// `request`. Called in the context of the `->poll` (process context; it
    /// may allocate with `GFP_KERNEL`), possibly several times per poll, once
    /// per queue.
    fn queue(&mut self, request: &QueueRequest<'_>);
}

/// One `poll_wait()` call, as a [`QueueProc`] sees it.
///
/// # Invariants
///
/// `head` is the non-null wait queue the `->poll` of `file` passed to
/// `poll_wait` during the call this value lives in; by the `poll_wait` rule
/// it stays alive while `file` does, or is freed only after a `POLLFREE`
/// wake-up and an RCU grace period.
pub struct QueueRequest<'a> {
    file: &'a File,
    head: *mut bindings::wait_queue_head,
    key: PollMask,
}

impl QueueRequest<'_> {
    /// The file whose `->poll` is registering the queue.
    pub fn file(&self) -> &File {
        self.file
    }

    /// The events the poller asked for (the table's `_key`).
    pub fn events(&self) -> PollMask {
        self.key
    }

    /// The queue's address: tells queues apart (and shows in
    /// introspection); not a pointer to use.
    pub fn queue_id(&self) -> usize {
        self.head as usize
    }

    /// `add_wait_queue()`: hooks `entry` on the queue being registered. The
    /// entry holds a reference to the polled file until it is dropped (as
    /// select and poll do), which keeps the queue alive; a queue that goes
    /// earlier (`POLLFREE`) is left by the wake function. Returns `false`
    /// if the entry was hooked before (an entry is hooked once in its life).
    pub fn hook<T: WakeFunction>(&self, entry: Pin<&WaitEntry<T>>) -> bool {
        // SAFETY: `head` is the queue of this `poll_wait` call, which lives
        // as the `hook` contract requires (type invariant); `file` is alive.
        unsafe { entry.hook(self.file, self.head, false) }
    }

    /// `add_wait_queue_exclusive()`: as [`Self::hook`], and an exclusive
    /// wake-up (`nr_exclusive`) counts this entry when its callback returns
    /// `true` (`EPOLLEXCLUSIVE`).
    pub fn hook_exclusive<T: WakeFunction>(&self, entry: Pin<&WaitEntry<T>>) -> bool {
        // SAFETY: As in `hook`.
        unsafe { entry.hook(self.file, self.head, true) }
    }
}

/// A `poll_table` whose queue procedure calls `Q`.
#[repr(C)]
struct Table<Q> {
    pt: bindings::poll_table,
    q: *mut Q,
}

impl<Q: QueueProc> Table<Q> {
    /// # Safety
    ///
    /// Called by `poll_wait()` with a table built by [`File::poll_with`],
    /// during that call, with the non-null queue being registered.
    unsafe extern "C" fn qproc(
        file: *mut bindings::file,
        head: *mut bindings::wait_queue_head,
        pt: *mut bindings::poll_table,
    ) {
        // SAFETY: `pt` is the `pt` field of a live `Table<Q>` (`poll_with`
        // is still running); `q` points to the queue procedure `poll_with`
        // holds exclusively and does not use during `vfs_poll`.
        let (q, key) = unsafe {
            let t = crate::container_of!(pt, Self, pt);
            (&mut *(*t).q, PollMask::from_bits((*pt)._key))
        };
        // SAFETY: The polled file is alive during its `->poll`.
        let file = unsafe { File::from_raw_file(file) };
        // INVARIANT: The queue of this `poll_wait` call (non-null: checked
        // by `poll_wait`).
        q.queue(&QueueRequest { file, head, key });
    }
}

impl File {
    /// `vfs_poll()` with a table made by `init_poll_funcptr(qproc)`: the
    /// file's current events, asking for `events`, and its `poll_wait()`
    /// calls reach `qproc`. A file without `->poll` is always readable and
    /// writable (`DEFAULT_POLLMASK`) and registers nothing.
    pub fn poll_with<Q: QueueProc>(&self, events: PollMask, qproc: &mut Q) -> PollMask {
        let mut table = Table::<Q> {
            pt: bindings::poll_table { _qproc: Some(Table::<Q>::qproc), _key: events.bits() },
            q: qproc,
        };
        // SAFETY: The file is alive (type invariant); `table` lives across
        // the call and its queue procedure only runs during it.
        let mask = unsafe { bindings::vfs_poll(self.as_ptr(), &mut table.pt) };
        PollMask::from_bits(mask).without_internal()
    }

    /// `vfs_poll()` with a table that registers nothing (a null queue
    /// procedure, as epoll re-polls a ready item): the file's current
    /// events, asking for `events`.
    pub fn poll_events(&self, events: PollMask) -> PollMask {
        let mut pt = bindings::poll_table { _qproc: None, _key: events.bits() };
        // SAFETY: The file is alive; `pt` lives across the call.
        let mask = unsafe { bindings::vfs_poll(self.as_ptr(), &mut pt) };
        PollMask::from_bits(mask).without_internal()
    }
}

/// `poll_schedule_timeout()` (fs/select.c): the sleep of `do_poll`. Sleeps
/// (interruptibly) unless `triggered` is already set, until a wake callback
/// sets it and wakes this task (`Task::wake_up`), a signal arrives, or the
/// absolute `deadline` (`CLOCK_MONOTONIC`) passes; then clears it. Returns
/// `true` if the deadline passed.
///
/// The state is set before `triggered` is read, and a waker sets
/// `triggered` before waking (`__pollwake`'s `smp_wmb`): either this sees it
/// set, or the wake-up finds the task asleep or about to be.
pub fn poll_schedule_timeout(triggered: &AtomicBool, deadline: Option<Ktime>) -> bool {
    // SAFETY: Sets the current task's state (with a full barrier).
    unsafe { bindings::set_current_state_interruptible() };
    let mut timed_out = false;
    if !triggered.load(Ordering::Acquire) {
        match deadline {
            // SAFETY: Process context with the state set: `schedule()` sleeps
            // until woken or signalled.
            None => unsafe { bindings::schedule() },
            Some(d) => {
                let mut expires = d.to_ns();
                // SAFETY: As above; `expires` is valid for the call; 0 means
                // the deadline passed.
                timed_out = unsafe {
                    bindings::schedule_hrtimeout_range(&mut expires, 0, bindings::hrtimer_mode_HRTIMER_MODE_ABS)
                } == 0;
            }
        }
    }
    // SAFETY: Back to running; plain store.
    unsafe { bindings::set_current_state_running() };
    // `smp_store_mb(pwq->triggered, 0)`: cleared for the next round.
    triggered.swap(false, Ordering::AcqRel);
    timed_out
}
