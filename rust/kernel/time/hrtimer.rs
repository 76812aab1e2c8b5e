// SPDX-License-Identifier: GPL-2.0

//! High-resolution timers: `struct hrtimer` (`include/linux/hrtimer.h`).
//!
//! Upstream Rust-for-Linux (6.15+) has `kernel::time::hrtimer` with a family of
//! pointer types; this is a smaller design in the same spirit: an [`HrTimer`]
//! owns an `Arc` of the data its callback sees, is pinned, and cancels itself
//! (waiting for a running callback) before that `Arc` is dropped. So the
//! callback can never run on freed data, nor after the module's code is gone
//! as long as the timer is dropped (a leaked one, as in C, is not covered;
//! see Documentation/kernel-crate-layer.rst).
//!
//! The callback runs in hard-irq context (`HRTIMER_MODE_REL`, not `_SOFT`):
//! it must not sleep, and data it shares with threads needs an irq-safe lock
//! such as [`SpinLockIrq`](crate::sync::SpinLockIrq).
//!
//! C header: [`include/linux/hrtimer.h`](srctree/include/linux/hrtimer.h)

use crate::{
    bindings,
    init::PinInit,
    pin_init,
    sync::{Arc, ArcBorrow},
    types::Opaque,
};
use core::{marker::PhantomPinned, pin::Pin};
use macros::{pin_data, pinned_drop};

/// What a timer callback wants next.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HrTimerRestart {
    /// Stay stopped until started again.
    NoRestart,
    /// Fire again at the expiry time the callback set (see
    /// [`HrTimerCallbackContext::forward_now`]).
    Restart,
}

/// The code a [`HrTimer`] runs.
pub trait HrTimerCallback: Send + Sync + 'static {
    /// Called in hard-irq context when the timer expires.
    fn run(this: ArcBorrow<'_, Self>, ctx: &HrTimerCallbackContext<'_>) -> HrTimerRestart;
}

/// What a running callback may do with its own timer.
///
/// # Invariants
///
/// `timer` is the hrtimer whose callback is running, for the lifetime `'a`.
pub struct HrTimerCallbackContext<'a> {
    timer: *mut bindings::hrtimer,
    _p: core::marker::PhantomData<&'a ()>,
}

impl HrTimerCallbackContext<'_> {
    /// `hrtimer_forward_now()`: moves the expiry forward by whole `interval_ns`
    /// periods until it is in the future; returns how many periods that took
    /// (more than one means ticks were missed). Return
    /// [`HrTimerRestart::Restart`] afterwards to fire again.
    pub fn forward_now(&self, interval_ns: u64) -> u64 {
        // SAFETY: The timer's callback is running (type invariant), which is
        // when forwarding it is allowed without its base lock.
        unsafe { bindings::hrtimer_forward_now(self.timer, interval_ns as i64) }
    }
}

/// A high-resolution timer owning the data its callback gets.
///
/// # Invariants
///
/// `timer` was initialised by `hrtimer_init` with `function` set to
/// `Self::run_shim`, is pinned, and is inactive (cancelled) before `data` is
/// dropped.
///
/// # Examples
///
/// ```
/// use kernel::prelude::*;
/// use kernel::sync::{Arc, ArcBorrow};
/// use kernel::time::hrtimer::{HrTimer, HrTimerCallback, HrTimerCallbackContext, HrTimerRestart};
/// use core::sync::atomic::{AtomicU32, Ordering};
///
/// struct Ticks(AtomicU32);
/// impl HrTimerCallback for Ticks {
///     fn run(this: ArcBorrow<'_, Self>, ctx: &HrTimerCallbackContext<'_>) -> HrTimerRestart {
///         if this.0.fetch_add(1, Ordering::Relaxed) + 1 < 3 {
///             ctx.forward_now(100_000); // again in 100 us
///             HrTimerRestart::Restart
///         } else {
///             HrTimerRestart::NoRestart
///         }
///     }
/// }
///
/// let ticks = Arc::new(Ticks(AtomicU32::new(0)), GFP_KERNEL)?;
/// let timer = KBox::pin_init(HrTimer::new(ticks.clone()), GFP_KERNEL)?;
/// timer.start(0);
/// while ticks.0.load(Ordering::Relaxed) < 3 {
///     core::hint::spin_loop(); // the timer interrupt preempts this loop
/// }
/// drop(timer); // cancels: no callback can run after this
/// assert_eq!(ticks.0.load(Ordering::Relaxed), 3);
/// # Ok::<(), Error>(())
/// ```
#[pin_data(PinnedDrop)]
pub struct HrTimer<T: HrTimerCallback> {
    #[pin]
    timer: Opaque<bindings::hrtimer>,
    data: Arc<T>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The hrtimer core serialises starts, cancels and callbacks on the
// timer base's lock; `T: Send + Sync`.
unsafe impl<T: HrTimerCallback> Send for HrTimer<T> {}
// SAFETY: As above: all `&self` methods go through the hrtimer core.
unsafe impl<T: HrTimerCallback> Sync for HrTimer<T> {}

impl<T: HrTimerCallback> HrTimer<T> {
    /// A stopped timer on `CLOCK_MONOTONIC`, relative mode, whose callback
    /// gets `data`.
    pub fn new(data: Arc<T>) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes; after `hrtimer_init` we set the
            // callback before anyone can start the timer.
            timer <- Opaque::ffi_init(|slot: *mut bindings::hrtimer| unsafe {
                bindings::hrtimer_init(
                    slot,
                    bindings::CLOCK_MONOTONIC as i32,
                    bindings::hrtimer_mode_HRTIMER_MODE_REL,
                );
                (*slot).function = Some(Self::run_shim);
            }),
            data,
            _pin: PhantomPinned,
        })
    }

    /// `hrtimer_start()`: fires once `delay_ns` from now (restarts it if it
    /// was pending).
    pub fn start(&self, delay_ns: u64) {
        // SAFETY: Initialised and pinned (type invariant).
        unsafe {
            bindings::hrtimer_start_range_ns(
                self.timer.get(),
                delay_ns as i64,
                0,
                bindings::hrtimer_mode_HRTIMER_MODE_REL,
            )
        };
    }

    /// `hrtimer_cancel()`: stops the timer, waiting for a running callback to
    /// return. Must not be called from the callback itself. Returns whether
    /// it was active.
    pub fn cancel(&self) -> bool {
        // SAFETY: Initialised and pinned (type invariant).
        unsafe { bindings::hrtimer_cancel(self.timer.get()) != 0 }
    }

    /// The data the callback sees.
    pub fn data(&self) -> &Arc<T> {
        &self.data
    }

    /// # Safety
    ///
    /// Called by the hrtimer core for a timer initialised by `new`.
    unsafe extern "C" fn run_shim(ptr: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
        // SAFETY: `ptr` is the `timer` field of a pinned `Self` (only `new`
        // installs this function), which is alive: its drop cancels the timer,
        // waiting for this callback, before anything is freed.
        let this = unsafe { &*crate::container_of!(ptr.cast::<Opaque<bindings::hrtimer>>(), Self, timer) };
        // INVARIANT: `ptr` is the timer whose callback this is.
        let ctx = HrTimerCallbackContext { timer: ptr, _p: core::marker::PhantomData };
        match T::run(this.data.as_arc_borrow(), &ctx) {
            HrTimerRestart::NoRestart => bindings::hrtimer_restart_HRTIMER_NORESTART,
            HrTimerRestart::Restart => bindings::hrtimer_restart_HRTIMER_RESTART,
        }
    }
}

#[pinned_drop]
impl<T: HrTimerCallback> PinnedDrop for HrTimer<T> {
    fn drop(self: Pin<&mut Self>) {
        // INVARIANT: After this, the timer is inactive and its callback done,
        // so dropping `data` next is safe.
        self.cancel();
    }
}
