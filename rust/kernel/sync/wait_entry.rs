// SPDX-License-Identifier: GPL-2.0

//! Wait-queue entries with a Rust wake function: what `select`, `poll` and
//! `epoll` hook on the wait queue of every file they watch
//! (`init_waitqueue_func_entry`, `add_wait_queue`, `remove_wait_queue`).
//!
//! A [`WaitEntry`] is hooked on another file's wait queue by a custom poll
//! table (see [`kernel::sync::queue_proc`]) while that file's `->poll` runs,
//! and stays there after the call, until the entry is dropped. C code gets
//! this right by convention; here it cannot be gotten wrong:
//!
//! - **The queue outlives the entry.** A queue registered by `poll_wait`
//!   lives as long as its file (the rule select and poll rely on), or
//!   announces its end with `POLLFREE` (`wake_up_pollfree`: signalfd, binder,
//!   ...). Hooking takes a reference to the polled file, kept until the
//!   entry is unhooked; and the wake function detaches the entry on
//!   `POLLFREE` and forgets the queue (release store), as
//!   `ep_poll_callback` does, while the drop unhooks under `rcu_read_lock`
//!   (`ep_remove_wait_queue`), which the freer of a `POLLFREE` queue waits
//!   out with an RCU grace period.
//! - **The entry outlives its hooking.** It is pinned, and its drop unhooks
//!   it (taking the queue's lock, so a wake function running on another CPU
//!   finishes first). Pinned memory is dropped before it is reused, and a
//!   leaked entry keeps the file, hence the queue, alive.
//! - **One queue per entry.** An entry is hooked at most once in its life.
//! - **The code outlives the entry.** While hooked, the entry holds a
//!   reference on the module whose code its wake function is, so a leaked
//!   entry keeps the module loaded rather than leaving a wake function in
//!   freed text.
//!
//! C header: [`include/linux/wait.h`](srctree/include/linux/wait.h)
//!
//! [`kernel::sync::queue_proc`]: super::queue_proc

use super::poll::PollMask;
use crate::{
    bindings,
    ffi::c_void,
    fs::File,
    init::PinInit,
    pin_init,
    task::Task,
    types::{ARef, Opaque},
};
use core::{
    marker::PhantomPinned,
    pin::Pin,
    sync::atomic::{AtomicBool, AtomicPtr, Ordering},
};
use macros::{pin_data, pinned_drop};

/// What a [`WaitEntry`] does when its queue is woken: the role of
/// `pollwake` for select/poll and `ep_poll_callback` for epoll.
pub trait WakeCallback: Send + Sync {
    /// Called with the queue's lock held, in whatever context the waker
    /// runs (hard interrupt, softirq, a thread): it must not sleep, and
    /// should only take locks that are safe there ([`SpinLockIrq`]). `key`
    /// is the wake-up's poll mask ([`PollMask::NONE`] when the waker gave
    /// none, meaning "anything"); with [`WaitEntry::is_freed`] the queue is
    /// going away and the entry is already off it.
    ///
    /// Return whether this counts as a wake-up: for an exclusive entry,
    /// `true` ends an exclusive wake-up here (`nr_exclusive`).
    ///
    /// It must not drop a [`WaitEntry`] hooked on the same queue: that
    /// would take the queue's lock again.
    ///
    /// [`SpinLockIrq`]: crate::sync::SpinLockIrq
    fn wake(entry: &WaitEntry<Self>, key: PollMask) -> bool
    where
        Self: Sized;
}

/// The signature of a wake function, `wait_queue_func_t`.
pub type RawWakeFn = unsafe extern "C" fn(
    *mut bindings::wait_queue_entry,
    crate::ffi::c_uint,
    crate::ffi::c_int,
    *mut c_void,
) -> crate::ffi::c_int;

/// The wake function of [`WaitEntry<Self>`]: a named, non-generic C symbol
/// that calls [`WaitEntry::wake_fn`], so that `%ps`, a stack trace or the
/// wait-queue view ([`super::wait_view`]) shows
/// `rust_wakefn_simnic_pollwake`, not a mangled generic. Implemented by
/// [`wake_function!`] only.
///
/// # Safety
///
/// `FUNC` must do nothing but call `WaitEntry::<Self>::wake_fn` with its
/// arguments and return what it returns.
pub unsafe trait WakeFunction: WakeCallback {
    /// The function, in the text of the module that implements `Self`.
    const FUNC: RawWakeFn;
}

/// Defines the wake function of `WaitEntry<$t>` as a C symbol named
/// `rust_wakefn_$name` (`WakeFunction`), which the view and `%ps` show:
///
/// ```ignore
/// // The symbol `rust_wakefn_simnic_pollwake`.
/// kernel::wake_function!(simnic_pollwake for PollWake);
/// ```
///
/// The symbol name is not the caller's to choose whole: a global symbol
/// the module defines is what the module's own references to that name
/// resolve to, so a safe `wake_function!(kfree for T)` with a bare
/// `#[no_mangle]` would replace `kfree` for the module with a wake
/// function (why Rust 2024 makes `no_mangle` an unsafe attribute). Under
/// the prefix `rust_wakefn_`, which no kernel symbol and nothing else in
/// this layer uses, the only possible clash is two invocations with one
/// name: a duplicate-symbol link error, not a silent override.
#[macro_export]
macro_rules! wake_function {
    ($name:ident for $t:ty) => {
        #[export_name = concat!("rust_wakefn_", stringify!($name))]
        #[doc = concat!("The wake function of `WaitEntry<", stringify!($t), ">`.")]
        unsafe extern "C" fn $name(
            wait: *mut $crate::bindings::wait_queue_entry,
            mode: $crate::ffi::c_uint,
            sync: $crate::ffi::c_int,
            key: *mut $crate::ffi::c_void,
        ) -> $crate::ffi::c_int {
            // SAFETY: The kernel calls this only as the wake function of an
            // entry that `WaitEntry::<$t>::new` initialised with it (the
            // only user of `WakeFunction::FUNC`), with the queue's lock
            // held, which is what `wake_fn` requires.
            unsafe { $crate::sync::wait_entry::WaitEntry::<$t>::wake_fn(wait, mode, sync, key) }
        }
        // SAFETY: `$name` only forwards to `WaitEntry::<$t>::wake_fn`.
        unsafe impl $crate::sync::wait_entry::WakeFunction for $t {
            const FUNC: $crate::sync::wait_entry::RawWakeFn = $name;
        }
    };
}
pub use wake_function;

/// The wake function of one [`WaitEntry`] type, for the wait-queue view
/// ([`WaitQueueHead::view_into`](super::wait::WaitQueueHead::view_into)),
/// which then shows the task of its entries.
///
/// # Invariants
///
/// The address of `WaitEntry::<T>`'s wake function (`T::FUNC`) for some
/// `T`: entries with that function are `WaitEntry<T>`s, whose `->private`
/// is NULL or a task the entry holds a reference on while it is queued.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct OwnWakeFn(usize);

/// A wait-queue entry whose wake function is `T::wake`.
///
/// # Invariants
///
/// - `wait` was initialised by `init_waitqueue_func_entry` with
///   `Self::wake_fn`; its `entry` list head is linked into at most one queue,
///   the one `head` points to, or is self-linked.
/// - `head` is null or a queue the entry is on; it is set once, before the
///   entry is added, and cleared (release) when the wake function detaches
///   the entry on `POLLFREE`. While non-null the queue is alive: `file` holds
///   a reference on the file whose `->poll` registered it, or the queue's
///   owner has not yet finished `wake_up_pollfree` (and then waits for RCU).
/// - `file` is null or holds a reference (`get_file`) taken when hooking.
/// - `hooked` is set when the entry is (about to be) added, and never cleared.
/// - `module` is null or holds a reference on the module whose text holds
///   `T::FUNC`, taken when hooking.
/// - `wait.private` is null, or the task `task` holds a reference on.
#[pin_data(PinnedDrop)]
pub struct WaitEntry<T: WakeCallback> {
    #[pin]
    wait: Opaque<bindings::wait_queue_entry>,
    head: AtomicPtr<bindings::wait_queue_head>,
    file: AtomicPtr<bindings::file>,
    hooked: AtomicBool,
    freed: AtomicBool,
    /// The module of the wake function, referenced while hooked.
    module: AtomicPtr<bindings::module>,
    /// The task the entry waits for, if it was made for one: its
    /// `->private`, so that the wait-queue view can name it.
    task: Option<ARef<Task>>,
    data: T,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The raw pointers are owned references (file) or protected by the
// queue's lock and RCU (head); `T` is `Send + Sync`.
unsafe impl<T: WakeCallback> Send for WaitEntry<T> {}
// SAFETY: Shared access only reads atomics or goes through the C API, which
// serialises on the queue's lock; `T` is `Sync`.
unsafe impl<T: WakeCallback> Sync for WaitEntry<T> {}

impl<T: WakeCallback> WaitEntry<T> {
    /// The callback's data.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// Whether the entry was ever hooked on a queue.
    pub fn is_hooked(&self) -> bool {
        self.hooked.load(Ordering::Acquire)
    }

    /// Whether the queue it was on went away (`POLLFREE`): the entry will
    /// never be woken again.
    pub fn is_freed(&self) -> bool {
        self.freed.load(Ordering::Acquire)
    }
}

impl<T: WakeFunction> WaitEntry<T> {
    /// An entry, not on any queue yet, with its callback's data.
    pub fn new(data: T) -> impl PinInit<Self> {
        Self::init(data, None)
    }

    /// An entry that a task waits on (`pollwake`'s role: the task that
    /// polls): its `->private` is that task, as `default_wake_function`'s
    /// is, and the wait-queue view shows it. The entry holds a reference on
    /// the task until it is dropped.
    pub fn new_for_task(data: T, task: ARef<Task>) -> impl PinInit<Self> {
        Self::init(data, Some(task))
    }

    fn init(data: T, task: Option<ARef<Task>>) -> impl PinInit<Self> {
        let private = task.as_ref().map_or(core::ptr::null_mut(), |t| t.0.get().cast::<c_void>());
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes; `T::FUNC` matches
            // `wait_queue_func_t` and calls `Self::wake_fn` (`WakeFunction`).
            // INVARIANT: `private` is null or the task `task` (moved into
            // the entry below; the `Task` itself does not move) holds.
            wait <- Opaque::ffi_init(|slot: *mut bindings::wait_queue_entry| unsafe {
                bindings::init_waitqueue_func_entry(slot, Some(T::FUNC));
                (*slot).private = private;
            }),
            head: AtomicPtr::new(core::ptr::null_mut()),
            file: AtomicPtr::new(core::ptr::null_mut()),
            hooked: AtomicBool::new(false),
            freed: AtomicBool::new(false),
            module: AtomicPtr::new(core::ptr::null_mut()),
            task,
            data,
            _pin: PhantomPinned,
        })
    }

    /// The wake function of this type's entries, for the wait-queue view.
    pub fn wake_function() -> OwnWakeFn {
        // INVARIANT: `T::FUNC` is this type's wake function; `init` keeps
        // `->private` null or a referenced task.
        OwnWakeFn(T::FUNC as usize)
    }

    /// Hooks the entry on `head`, the queue `file`'s `->poll` is
    /// registering (`add_wait_queue` / `add_wait_queue_exclusive`).
    /// Returns `false`, doing nothing, if the entry was hooked before.
    ///
    /// # Safety
    ///
    /// `head` must be a live, initialised wait queue that stays alive while
    /// `file` is (the `poll_wait` rule) or until it wakes its entries with
    /// `POLLFREE` and then waits for an RCU grace period; `file` must be
    /// alive for the call.
    pub(crate) unsafe fn hook(self: Pin<&Self>, file: &File, head: *mut bindings::wait_queue_head, exclusive: bool) -> bool {
        if self.hooked.swap(true, Ordering::AcqRel) {
            return false;
        }
        // The wake function is the code of the module that instantiated
        // `T`: while hooked (even if the entry is leaked), that module must
        // stay. Released in `drop`, after the entry has left the queue.
        let wake: RawWakeFn = T::FUNC;
        // SAFETY: Takes a reference on the module whose text contains the
        // address, if any (built-in code needs none); any context.
        let module = unsafe { bindings::module_get_by_text(wake as usize) };
        self.module.store(module, Ordering::Relaxed);
        // SAFETY: `file` is alive (caller); the reference taken is released
        // in `drop`, after the entry has left the queue.
        unsafe { bindings::get_file(file.as_ptr()) };
        self.file.store(file.as_ptr(), Ordering::Relaxed);
        // INVARIANT: set before the entry is on the queue, so `drop` (which
        // cannot run concurrently with `hook`: both need the pin) sees it.
        self.head.store(head, Ordering::Release);
        // SAFETY: `head` is alive (caller); `wait` is initialised and pinned,
        // on no queue (`hooked` was false), and unhooked by `drop`.
        unsafe {
            if exclusive {
                bindings::add_wait_queue_exclusive(head, self.wait.get());
            } else {
                bindings::add_wait_queue(head, self.wait.get());
            }
        }
        true
    }

    /// The wake function, `wait_queue_func_t`, which `T::FUNC` (made by
    /// [`wake_function!`]) calls.
    ///
    /// # Safety
    ///
    /// Called by `__wake_up_common` with the queue's lock held, for an entry
    /// this type initialised, which is therefore alive (its drop removes it
    /// under the same lock).
    #[doc(hidden)]
    pub unsafe extern "C" fn wake_fn(
        wait: *mut bindings::wait_queue_entry,
        _mode: crate::ffi::c_uint,
        _sync: crate::ffi::c_int,
        key: *mut c_void,
    ) -> crate::ffi::c_int {
        // SAFETY: `wait` is the `wait` field of a live `Self` (above).
        let this = unsafe { &*crate::container_of!(wait.cast::<Opaque<bindings::wait_queue_entry>>(), Self, wait) };
        let key = PollMask::from_bits(key as usize as u32);
        let pollfree = key.contains(PollMask::from_bits(bindings::POLLFREE));
        if pollfree {
            this.freed.store(true, Ordering::Release);
        }
        // While `head` is set, `drop` must take the queue's lock, which we
        // hold: `this` stays alive during the callback.
        let woke = T::wake(this, key);
        if pollfree {
            // The queue is being freed: leave it, under its lock, and forget
            // it, as `ep_poll_callback` does, in this order and as the very
            // last access to `this`: once `head` reads null, `drop` no longer
            // waits for the queue's lock, and the entry may be freed.
            // SAFETY: We hold the queue's lock; the entry is on it.
            unsafe { bindings::list_del_init_careful(&mut (*wait).entry) };
            // INVARIANT: The entry is off the queue; the queue may be freed
            // after an RCU grace period, which `drop`'s read section holds up.
            this.head.store(core::ptr::null_mut(), Ordering::Release);
        }
        woke as crate::ffi::c_int
    }
}

#[pinned_drop]
impl<T: WakeCallback> PinnedDrop for WaitEntry<T> {
    fn drop(self: Pin<&mut Self>) {
        // `ep_remove_wait_queue`: the head may be cleared concurrently by a
        // POLLFREE wake-up, after which its owner frees it once an RCU grace
        // period has passed; our read section keeps it alive meanwhile.
        // SAFETY: Plain RCU read section, any context.
        unsafe { bindings::rcu_read_lock() };
        let head = self.head.load(Ordering::Acquire);
        if !head.is_null() {
            // SAFETY: `head` is alive (type invariant, RCU above). The entry
            // is on it, or was just detached by POLLFREE (self-linked), and
            // `remove_wait_queue` on a self-linked entry is harmless.
            unsafe { bindings::remove_wait_queue(head, self.wait.get()) };
        }
        // SAFETY: Ends the read section begun above.
        unsafe { bindings::rcu_read_unlock() };
        let file = self.file.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !file.is_null() {
            // SAFETY: The reference `hook` took; the entry is off the queue,
            // so the queue may go with the file now. `fput` may be called in
            // any context.
            unsafe { bindings::fput(file) };
        }
        let module = self.module.swap(core::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: The reference `hook` took (or null); the wake function can
        // no longer run (the entry is off every queue).
        unsafe { bindings::module_put(module) };
    }
}
