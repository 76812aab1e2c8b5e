// SPDX-License-Identifier: GPL-2.0

//! Wait queue heads.
//!
//! [`WaitQueueHead`] is C's `struct wait_queue_head` with the `wake_up_*` family
//! and the `wait_event_interruptible*` sleep loop: the machinery a driver's
//! blocking `read()` and its `poll()` share (see `include/linux/wait.h`).
//!
//! Upstream Rust has [`CondVar`](super::CondVar), which sleeps with a lock held
//! by the caller, and `PollCondVar`. Drivers that mirror C drivers want the C
//! shape instead: a queue head woken with a poll *key*, and a wait loop around
//! a condition that takes its own lock. That is this type.
//!
//! Lifetime rule: a queue head must not be freed with entries on it. Entries
//! come from the wait loops below (on the waiter's stack, removed before the
//! loop returns, while the loop borrows the queue) and from poll tables
//! ([`PollTable::register_wait`]), whose entries are gone before the polled
//! file's `->release`, which the queue outlives. The drop checks it, and a
//! violation is a `WARN` (a bug in this layer), not something to recover
//! from: it may run in softirq context, where no RCU grace period can be
//! waited for.
//!
//! C header: [`include/linux/wait.h`](srctree/include/linux/wait.h)
//!
//! [`PollTable::register_wait`]: super::poll::PollTable::register_wait

use super::poll::PollMask;
use crate::{
    bindings,
    error::{code::ERESTARTSYS, Result},
    ffi::c_int,
    init::PinInit,
    pin_init,
    str::CStr,
    sync::LockClassKey,
    task::{TASK_INTERRUPTIBLE, TASK_NORMAL},
    types::Opaque,
};
use core::{
    marker::PhantomPinned,
    pin::Pin,
    sync::atomic::{AtomicU64, Ordering},
};
use macros::{pin_data, pinned_drop};

/// Creates a [`WaitQueueHead`] initialiser with a new lockdep class and an
/// optional name (default: the source location).
#[macro_export]
macro_rules! new_wait_queue_head {
    ($($name:literal)?) => {
        $crate::sync::wait::WaitQueueHead::new(
            $crate::optional_name!($($name)?),
            $crate::static_lock_class!(),
        )
    };
}
pub use new_wait_queue_head;

/// A wait queue head: `struct wait_queue_head`.
///
/// # Invariants
///
/// `inner` was initialised by `__init_waitqueue_head` and, because the value is
/// pinned, its self-referential list head has not moved since.
///
/// # Examples
///
/// ```
/// use kernel::prelude::*;
/// use kernel::sync::{poll::PollMask, wait::new_wait_queue_head};
///
/// let wq = KBox::pin_init(new_wait_queue_head!("doctest"), GFP_KERNEL)?;
/// assert!(!wq.has_sleeper());
/// // Nobody waits: waking is a no-op and the condition is already true, so
/// // the wait returns at once with the condition's value.
/// wq.wake_up_interruptible_poll(PollMask::IN | PollMask::RDNORM);
/// assert_eq!(wq.wait_interruptible_exclusive(|| Some(7)), Ok(7));
/// # Ok::<(), Error>(())
/// ```
///
/// A sleeper woken by another thread, the way a reader is woken by a writer:
///
/// ```
/// use kernel::prelude::*;
/// use kernel::sync::{new_spinlock, poll::PollMask, Arc, SpinLock};
/// use kernel::sync::wait::{new_wait_queue_head, WaitQueueHead};
/// use kernel::workqueue;
///
/// #[pin_data]
/// struct Mailbox {
///     #[pin]
///     slot: SpinLock<Option<u32>>,
///     #[pin]
///     wq: WaitQueueHead,
/// }
///
/// let mb = Arc::pin_init(
///     pin_init!(Mailbox { slot <- new_spinlock!(None), wq <- new_wait_queue_head!() }),
///     GFP_KERNEL,
/// )?;
/// let sender = mb.clone();
/// workqueue::system().try_spawn(GFP_KERNEL, move || {
///     *sender.slot.lock() = Some(42);
///     sender.wq.wake_up_interruptible_poll(PollMask::IN);
/// })?;
/// // Sleeps until the work item has filled the slot and woken us.
/// assert_eq!(mb.wq.wait_interruptible_exclusive(|| mb.slot.lock().take()), Ok(42));
/// # Ok::<(), Error>(())
/// ```
#[pin_data(PinnedDrop)]
pub struct WaitQueueHead {
    #[pin]
    inner: Opaque<bindings::wait_queue_head>,
    counters: Counters,
    #[pin]
    _pin: PhantomPinned,
}

/// The counters a [`WaitQueueHead`] keeps (relaxed atomics: statistics).
#[derive(Default)]
struct Counters {
    wakeups: AtomicU64,
    woken: AtomicU64,
    spurious: AtomicU64,
}

/// A reading of a queue's counters ([`WaitQueueHead::counters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitQueueCounts {
    /// Wake-ups made on the queue (calls of a `wake_up_*` method).
    pub wakeups: u64,
    /// Entries those wake-ups woke: wake functions that returned non-zero
    /// (a task woken, a poller's callback that took the event).
    pub woken: u64,
    /// Waiters of this queue's `wait_*` loops that were woken, looked, and
    /// found their condition still false, so went back to sleep.
    pub spurious: u64,
}

// SAFETY: A `struct wait_queue_head` is protected by its own spinlock and may be
// used from any thread.
unsafe impl Send for WaitQueueHead {}
// SAFETY: All methods take `&self` and go through the C API, which serialises
// on the queue's spinlock.
unsafe impl Sync for WaitQueueHead {}

impl WaitQueueHead {
    /// Returns an initialiser for a wait queue head (`init_waitqueue_head`).
    pub fn new(name: &'static CStr, key: &'static LockClassKey) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes during the call; `name` and
            // `key` are `'static`, as lockdep keeps pointers to them.
            inner <- Opaque::ffi_init(|slot| unsafe {
                bindings::__init_waitqueue_head(slot, name.as_char_ptr(), key.as_ptr())
            }),
            counters: Counters::default(),
            _pin: PhantomPinned,
        })
    }

    /// The raw `struct wait_queue_head`, for the kernel crate's own users
    /// (poll tables).
    pub(crate) fn as_raw(&self) -> *mut bindings::wait_queue_head {
        self.inner.get()
    }

    /// The wake-up every `wake_up_*` method makes: the kernel's
    /// `__wake_up_common` walk, counted (`rust_helper_wake_up_counted`), and
    /// the queue's counters updated. Returns the number of entries woken.
    fn wake(&self, mode: u32, nr_exclusive: c_int, sync: bool, key: PollMask) -> u32 {
        // SAFETY: `inner` is initialised (type invariant). The helper takes
        // the queue's lock (irqsave, any context) and calls the entries' wake
        // functions as `__wake_up` does; the key is the poll mask encoded as
        // a pointer (`poll_to_key`), without the kernel-internal bits.
        let woken = unsafe { bindings::wake_up_counted(self.as_raw(), mode, nr_exclusive, sync, key.to_key()) };
        self.counters.wakeups.fetch_add(1, Ordering::Relaxed);
        self.counters.woken.fetch_add(woken.into(), Ordering::Relaxed);
        woken
    }

    /// `wake_up_poll()`: wakes one exclusive waiter and every non-exclusive
    /// one whose poll key matches `key`, in any sleep state. Returns the
    /// number of entries woken (their wake functions returned non-zero).
    pub fn wake_up_poll(&self, key: PollMask) -> u32 {
        self.wake(TASK_NORMAL as u32, 1, false, key)
    }

    /// `wake_up_interruptible_poll()`: like [`Self::wake_up_poll`] but only
    /// for interruptible sleepers.
    pub fn wake_up_interruptible_poll(&self, key: PollMask) -> u32 {
        self.wake(TASK_INTERRUPTIBLE as u32, 1, false, key)
    }

    /// `wake_up_interruptible_sync_poll()`: the waker is about to sleep or
    /// return to user space, so the scheduler need not preempt it for the
    /// wakee (the hint `sock_def_readable` gives, `WF_SYNC`).
    pub fn wake_up_interruptible_sync_poll(&self, key: PollMask) -> u32 {
        self.wake(TASK_INTERRUPTIBLE as u32, 1, true, key)
    }

    /// `wake_up_all()`: wakes every waiter, exclusive or not.
    pub fn wake_up_all(&self) -> u32 {
        // `nr_exclusive == 0` means all.
        self.wake(TASK_NORMAL as u32, 0, false, PollMask::NONE)
    }

    /// `ep_poll_safewake()`: a keyed wake-up (`wake_up_locked_poll` under the
    /// queue's lock) for a queue that may be woken from inside a wake-up of
    /// another queue of the same lock class, as nested epoll instances wake
    /// each other; `subclass` is the nesting depth lockdep is told (0 to 7,
    /// clamped), so it sees no recursion. `nests` (`ep->nests`) reads
    /// `subclass + 1` while the queue's lock is held, for the wake functions
    /// that run under it to pass on. Returns the number of entries woken.
    pub fn wake_up_poll_nested(&self, key: PollMask, subclass: u32, nests: &core::sync::atomic::AtomicU32) -> u32 {
        // SAFETY: `inner` is initialised; the helper takes the queue's lock
        // (irqsave, any context) with the lockdep subclass, clamped there,
        // and writes `nests` (an `AtomicU32`, a `u32` in memory, accessed
        // with `WRITE_ONCE`) under it.
        let woken = unsafe {
            bindings::wake_up_poll_nested(self.as_raw(), key.without_internal().bits(), subclass, nests.as_ptr())
        };
        self.counters.wakeups.fetch_add(1, Ordering::Relaxed);
        self.counters.woken.fetch_add(woken.into(), Ordering::Relaxed);
        woken
    }

    /// `wake_up_interruptible_all()`: wakes every interruptible waiter,
    /// exclusive or not, with no key (pollers re-poll whatever they wait
    /// for): what a state change such as a shutdown calls.
    pub fn wake_up_interruptible_all(&self) -> u32 {
        self.wake(TASK_INTERRUPTIBLE as u32, 0, false, PollMask::NONE)
    }

    /// The queue's counters: wake-ups, entries they woke, and waiters of
    /// the `wait_*` loops that were woken and found their condition false.
    pub fn counters(&self) -> WaitQueueCounts {
        WaitQueueCounts {
            wakeups: self.counters.wakeups.load(Ordering::Relaxed),
            woken: self.counters.woken.load(Ordering::Relaxed),
            spurious: self.counters.spurious.load(Ordering::Relaxed),
        }
    }

    /// `wq_has_sleeper()`: whether anyone waits, with the full barrier that
    /// pairs with the waiter's `prepare_to_wait`.
    pub fn has_sleeper(&self) -> bool {
        // SAFETY: `inner` is initialised (type invariant).
        unsafe { bindings::wq_has_sleeper(self.as_raw()) }
    }

    /// `wait_event_interruptible()`: sleeps until `cond` returns `Some`, and
    /// returns that value.
    ///
    /// `cond` runs with the task state already set to `TASK_INTERRUPTIBLE`,
    /// so it must not sleep; taking a spinlock is fine. A pending signal ends
    /// the wait with `ERESTARTSYS`, which the syscall layer turns into `EINTR`
    /// or a restart according to `SA_RESTART`.
    pub fn wait_interruptible<T>(&self, cond: impl FnMut() -> Option<T>) -> Result<T> {
        Self::untimed(self.wait_event(0, None, cond))
    }

    /// `wait_event_interruptible_exclusive()`: as [`Self::wait_interruptible`],
    /// but a wake-up with `nr_exclusive == 1` wakes only one such waiter, so
    /// one datagram does not wake a herd of readers.
    pub fn wait_interruptible_exclusive<T>(&self, cond: impl FnMut() -> Option<T>) -> Result<T> {
        Self::untimed(self.wait_event(bindings::WQ_FLAG_EXCLUSIVE as c_int, None, cond))
    }

    /// `wait_event_interruptible_hrtimeout()`: as [`Self::wait_interruptible`],
    /// but gives up after `timeout_ns` (high-resolution), returning `Ok(None)`.
    pub fn wait_interruptible_timeout<T>(
        &self,
        timeout_ns: u64,
        cond: impl FnMut() -> Option<T>,
    ) -> Result<Option<T>> {
        self.wait_event(0, Some(timeout_ns), cond)
    }

    /// `wait_event_interruptible_hrtimeout()` for an exclusive waiter: as
    /// [`Self::wait_interruptible_timeout`], woken one at a time like
    /// [`Self::wait_interruptible_exclusive`] (how `epoll_wait` sleeps).
    pub fn wait_interruptible_exclusive_timeout<T>(
        &self,
        timeout_ns: u64,
        cond: impl FnMut() -> Option<T>,
    ) -> Result<Option<T>> {
        self.wait_event(bindings::WQ_FLAG_EXCLUSIVE as c_int, Some(timeout_ns), cond)
    }

    /// Without a deadline the loop ends only with a value or a signal; a
    /// `None` cannot happen, and would read as an interrupted wait.
    fn untimed<T>(r: Result<Option<T>>) -> Result<T> {
        r?.ok_or(ERESTARTSYS)
    }

    /// The `___wait_event()` loop; with `timeout_ns`, sleeping with a
    /// high-resolution timeout (`schedule_hrtimeout_range`) and ending with
    /// `Ok(None)` when it passes.
    fn wait_event<T>(
        &self,
        flags: c_int,
        timeout_ns: Option<u64>,
        mut cond: impl FnMut() -> Option<T>,
    ) -> Result<Option<T>> {
        // Like the macro, test the condition before touching the queue.
        if let Some(v) = cond() {
            return Ok(Some(v));
        }
        // SAFETY: Reading the clock has no preconditions.
        let deadline = timeout_ns
            .map(|t| unsafe { bindings::ktime_get() }.saturating_add(t.min(i64::MAX as u64) as i64));
        let entry = Opaque::<bindings::wait_queue_entry>::uninit();
        // SAFETY: `entry` is valid for writes; it lives on this stack frame and
        // is never moved, and it is taken off the queue by `finish_wait` below
        // before the frame ends.
        unsafe { bindings::init_wait_entry(entry.get(), flags) };
        // Set once the task has slept: a later look that finds nothing
        // (and no signal) is a spurious wake-up.
        let mut slept = false;
        let result = loop {
            // SAFETY: Both pointers are valid; `prepare_to_wait_event` queues the
            // entry (unless a signal is pending) and sets the task state.
            let interrupted = unsafe {
                bindings::prepare_to_wait_event(self.as_raw(), entry.get(), TASK_INTERRUPTIBLE)
            };
            // Checked even when interrupted: an exclusive waiter picked by a
            // wake-up must consume what it was woken for, as in C.
            if let Some(v) = cond() {
                break Ok(Some(v));
            }
            if interrupted != 0 {
                break Err(ERESTARTSYS);
            }
            if slept {
                self.counters.spurious.fetch_add(1, Ordering::Relaxed);
            }
            slept = true;
            match deadline {
                // SAFETY: Sleeping is allowed: the caller is in process context,
                // which `prepare_to_wait_event` (a might-sleep path) requires too.
                None => unsafe { bindings::schedule() },
                Some(mut expires) => {
                    // SAFETY: As above; `expires` is valid for the call. It
                    // returns 0 once the absolute deadline has passed.
                    let left = unsafe {
                        bindings::schedule_hrtimeout_range(&mut expires, 0, bindings::hrtimer_mode_HRTIMER_MODE_ABS)
                    };
                    if left == 0 {
                        break Ok(cond());
                    }
                }
            }
        };
        // SAFETY: `entry` was initialised above and is on this queue or detached.
        unsafe { bindings::finish_wait(self.as_raw(), entry.get()) };
        result
    }
}

#[pinned_drop]
impl PinnedDrop for WaitQueueHead {
    fn drop(self: Pin<&mut Self>) {
        // No entry can be left (module docs): the last reference to the
        // object holding the queue may drop anywhere, in softirq context too,
        // so this must not sleep. The helper checks under the queue's lock
        // and WARNs if the invariant was broken.
        //
        // SAFETY: `inner` is initialised (type invariant) and not yet freed;
        // the helper only takes the queue's own lock (irqsave), which is
        // allowed in any context.
        unsafe { bindings::wait_queue_head_release(self.as_raw()) };
    }
}
