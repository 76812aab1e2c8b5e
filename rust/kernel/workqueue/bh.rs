// SPDX-License-Identifier: GPL-2.0

//! Work items on the BH (softirq) workqueue, `system_bh_wq`.
//!
//! A BH work item runs in softirq context on the CPU that queued it: the
//! replacement for tasklets, and where simnic runs its NAPI-style poll. It
//! must not sleep; data it shares with threads needs
//! [`SpinLockBh`](crate::sync::SpinLockBh).
//!
//! Ownership as for [`HrTimer`](crate::time::hrtimer::HrTimer): a [`BhWork`]
//! owns an `Arc` of its data, queueing does not move it, and drop cancels and
//! waits (`cancel_work_sync`) before releasing it, so a queued item never
//! outlives its data or the module.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)

use crate::{
    bindings,
    init::PinInit,
    pin_init,
    str::CStr,
    sync::{Arc, ArcBorrow, LockClassKey},
    types::Opaque,
};
use core::{marker::PhantomPinned, pin::Pin};
use macros::{pin_data, pinned_drop};

/// Creates a [`BhWork`] initialiser with a lockdep class for its work item.
#[macro_export]
macro_rules! new_bh_work {
    ($data:expr $(, $name:literal)? $(,)?) => {
        $crate::workqueue::bh::BhWork::new(
            $data, $crate::optional_name!($($name)?), $crate::static_lock_class!())
    };
}
pub use new_bh_work;

/// The code a [`BhWork`] runs.
pub trait BhWorkCallback: Send + Sync + 'static {
    /// Called in softirq context. `ctx` can queue this same work again, as a
    /// NAPI poll does when it used its whole budget.
    fn run(this: ArcBorrow<'_, Self>, ctx: &BhWorkContext<'_>);
}

/// What a running [`BhWork`] callback may do with its own work item.
///
/// # Invariants
///
/// `work` is the work item whose callback is running, for `'a`.
pub struct BhWorkContext<'a> {
    work: *mut bindings::work_struct,
    _p: core::marker::PhantomData<&'a ()>,
}

impl BhWorkContext<'_> {
    /// Queues the running work item again; it runs after this callback
    /// returns. Returns `false` if something else queued it meanwhile.
    pub fn reschedule(&self) -> bool {
        // SAFETY: The work item is initialised and alive while its callback
        // runs (type invariant); `BhWork`'s drop cancels a requeued one.
        unsafe {
            bindings::queue_work_on(
                bindings::wq_misc_consts_WORK_CPU_UNBOUND as i32,
                bindings::system_bh_wq,
                self.work,
            )
        }
    }
}

/// A work item for `system_bh_wq` owning the data its callback gets.
///
/// # Invariants
///
/// `work` was initialised by `__INIT_WORK_WITH_KEY` with `Self::run_shim`, is
/// pinned, and is neither pending nor running when `data` is dropped.
#[pin_data(PinnedDrop)]
pub struct BhWork<T: BhWorkCallback> {
    #[pin]
    work: Opaque<bindings::work_struct>,
    data: Arc<T>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The workqueue core synchronises queueing, running and cancelling.
unsafe impl<T: BhWorkCallback> Send for BhWork<T> {}
// SAFETY: As above.
unsafe impl<T: BhWorkCallback> Sync for BhWork<T> {}

impl<T: BhWorkCallback> BhWork<T> {
    /// An idle work item whose callback gets `data`.
    pub fn new(data: Arc<T>, name: &'static CStr, key: &'static LockClassKey) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes; `name` and `key` are static,
            // as lockdep requires.
            work <- Opaque::ffi_init(|slot| unsafe {
                bindings::init_work_with_key(slot, Some(Self::run_shim), false, name.as_char_ptr(), key.as_ptr())
            }),
            data,
            _pin: PhantomPinned,
        })
    }

    /// `queue_work(system_bh_wq, ...)`: runs the callback soon in softirq
    /// context. Returns `false` if already pending (it runs once). Callable
    /// from any context.
    pub fn schedule(&self) -> bool {
        // SAFETY: Initialised and pinned (type invariant); `system_bh_wq` is
        // created at boot and never destroyed.
        unsafe { bindings::queue_work_on(bindings::wq_misc_consts_WORK_CPU_UNBOUND as i32, bindings::system_bh_wq, self.work.get()) }
    }

    /// The data the callback sees.
    pub fn data(&self) -> &Arc<T> {
        &self.data
    }

    /// # Safety
    ///
    /// Called by the workqueue core for a work item initialised by `new`.
    unsafe extern "C" fn run_shim(ptr: *mut bindings::work_struct) {
        // SAFETY: `ptr` is the `work` field of a pinned, live `Self`: drop
        // cancels and waits before freeing.
        let this = unsafe { &*crate::container_of!(ptr.cast::<Opaque<bindings::work_struct>>(), Self, work) };
        // INVARIANT: `ptr` is the work item whose callback this is.
        let ctx = BhWorkContext { work: ptr, _p: core::marker::PhantomData };
        T::run(this.data.as_arc_borrow(), &ctx);
    }
}

#[pinned_drop]
impl<T: BhWorkCallback> PinnedDrop for BhWork<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Initialised (type invariant); process context.
        // INVARIANT: Afterwards the work is neither pending nor running. A
        // callback that queues itself again is cancelled too.
        unsafe { bindings::cancel_work_sync(self.work.get()) };
    }
}
