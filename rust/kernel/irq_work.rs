// SPDX-License-Identifier: GPL-2.0

//! Hard-interrupt work: `struct irq_work` (`include/linux/irq_work.h`).
//!
//! `irq_work_queue()` raises a self-interrupt (an IPI on x86): the callback
//! then runs in hard-irq context on this CPU, as an interrupt handler does.
//! simnic uses it as the simulated NIC's interrupt line.
//!
//! Same ownership design as [`HrTimer`](crate::time::hrtimer::HrTimer): the
//! [`IrqWork`] owns an `Arc` of its data and, on drop, waits for a pending or
//! running callback (`irq_work_sync`) before releasing it. Upstream
//! Rust-for-Linux has no irq_work abstraction.
//!
//! C header: [`include/linux/irq_work.h`](srctree/include/linux/irq_work.h)

use crate::{
    bindings,
    init::PinInit,
    pin_init,
    sync::{Arc, ArcBorrow},
    types::Opaque,
};
use core::{marker::PhantomPinned, pin::Pin};
use macros::{pin_data, pinned_drop};

/// The code an [`IrqWork`] runs.
pub trait IrqWorkCallback: Send + Sync + 'static {
    /// Called in hard-irq context.
    fn run(this: ArcBorrow<'_, Self>);
}

/// An irq_work owning the data its callback gets.
///
/// # Invariants
///
/// `work` was initialised by `init_irq_work` with `Self::run_shim`, is pinned,
/// and is idle (`irq_work_sync`) before `data` is dropped.
#[pin_data(PinnedDrop)]
pub struct IrqWork<T: IrqWorkCallback> {
    #[pin]
    work: Opaque<bindings::irq_work>,
    data: Arc<T>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: irq_work queueing and syncing are safe from any thread; `T` is
// `Send + Sync`.
unsafe impl<T: IrqWorkCallback> Send for IrqWork<T> {}
// SAFETY: As above.
unsafe impl<T: IrqWorkCallback> Sync for IrqWork<T> {}

impl<T: IrqWorkCallback> IrqWork<T> {
    /// An idle irq_work whose callback gets `data`.
    pub fn new(data: Arc<T>) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes.
            work <- Opaque::ffi_init(|slot| unsafe { bindings::init_irq_work(slot, Some(Self::run_shim)) }),
            data,
            _pin: PhantomPinned,
        })
    }

    /// `irq_work_queue()`: runs the callback soon in hard-irq context on this
    /// CPU. Returns `false` if it was already pending (it runs once).
    /// Callable from any context, including NMI-like ones.
    pub fn queue(&self) -> bool {
        // SAFETY: Initialised and pinned (type invariant).
        unsafe { bindings::irq_work_queue(self.work.get()) }
    }

    /// The data the callback sees.
    pub fn data(&self) -> &Arc<T> {
        &self.data
    }

    /// # Safety
    ///
    /// Called by the irq_work core for a work initialised by `new`.
    unsafe extern "C" fn run_shim(ptr: *mut bindings::irq_work) {
        // SAFETY: `ptr` is the `work` field of a pinned, live `Self`: drop
        // syncs before freeing.
        let this = unsafe { &*crate::container_of!(ptr.cast::<Opaque<bindings::irq_work>>(), Self, work) };
        T::run(this.data.as_arc_borrow());
    }
}

#[pinned_drop]
impl<T: IrqWorkCallback> PinnedDrop for IrqWork<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Initialised (type invariant); process context (drops happen
        // on teardown paths), which `irq_work_sync` may need to sleep in.
        // INVARIANT: Afterwards the work is neither pending nor running.
        unsafe { bindings::irq_work_sync(self.work.get()) };
    }
}
