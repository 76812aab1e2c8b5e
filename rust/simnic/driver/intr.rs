// SPDX-License-Identifier: GPL-2.0

//! The NIC's interrupt handler (step 4 of Documentation/nic.rst), in
//! hard-irq context (an irq_work, raised by
//! the hardware engine as a device raises its interrupt line).
//!
//! It does what `e1000_intr` does: mask the device's interrupt and schedule
//! the NAPI poll (`napi_schedule` raising `NET_RX_SOFTIRQ`; here, queueing
//! the poll on the BH workqueue). Everything else happens in the poll, with
//! interrupts from the device off until the ring is drained.

use crate::driver::napi_irq::intr_mask;
use crate::driver::nic::NicCore;
use kernel::{
    irq_work::{IrqWork, IrqWorkCallback},
    new_spinlock,
    prelude::*,
    sync::{Arc, ArcBorrow, SpinLock},
    trace::simnic as trace,
    workqueue::bh::BhWork,
};

/// The NIC's interrupt line as the hardware sees it: the handler it
/// raises, once the driver has requested the interrupt.
///
/// The handler holds the NIC (and its poll), and the NIC holds the line,
/// as a device and its `request_irq()` registration refer to each other
/// until `free_irq()` at unload ([`IntrLine::free`]) breaks the cycle.
#[pin_data]
pub(crate) struct IntrLine {
    #[pin]
    handler: SpinLock<Option<Arc<IrqWork<IrqCtx>>>>,
}

impl IntrLine {
    /// No handler: the hardware's interrupts go nowhere.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self { handler <- new_spinlock!(None, "simnic_intr_line") })
    }

    /// `request_irq()`.
    #[doc(alias = "request_irq")]
    pub(crate) fn request(&self, handler: Arc<IrqWork<IrqCtx>>) {
        let old = self.handler.lock().replace(handler);
        // A replaced handler is dropped here, unlocked: its drop waits for
        // it to finish (`irq_work_sync`), which may sleep.
        drop(old);
    }

    /// `free_irq()`: no more interrupts; the handler is returned so that
    /// the caller drops it in process context (dropping waits for a
    /// running handler and cancels the poll).
    #[doc(alias = "free_irq")]
    pub(crate) fn free(&self) -> Option<Arc<IrqWork<IrqCtx>>> {
        self.handler.lock().take()
    }

    /// The hardware asserts the line: the handler runs in hard-irq
    /// context on this CPU (a self-IPI). Process context only (the last
    /// reference to a freed handler may be dropped here).
    pub(crate) fn raise(&self) {
        // Queued after the lock is released: the self-IPI, and the poll
        // run on the way out of it, would otherwise run under the lock
        // and keep another raiser spinning meanwhile. If `free` runs in
        // between, our reference keeps the handler until we drop it
        // (process context, where its drop may wait).
        let handler = self.handler.lock().clone();
        if let Some(h) = handler {
            h.queue();
        }
    }
}

/// What the interrupt handler works on: the NIC and its poll.
pub(crate) struct IrqCtx {
    pub(crate) nic: Arc<NicCore>,
    pub(crate) napi: Pin<KBox<BhWork<NicCore>>>,
}

impl IrqWorkCallback for IrqCtx {
    fn run(this: ArcBorrow<'_, Self>) {
        this.simnic_intr();
    }
}

impl IrqCtx {
    /// The interrupt handler (`e1000_intr`).
    #[doc(alias = "e1000_intr")]
    fn simnic_intr(&self) {
        // IMC: no more interrupts until the poll is done.
        let was_masked = intr_mask(&self.nic.irq);
        trace::intr(was_masked);
        // napi_schedule(): runs the poll in softirq context on this CPU.
        self.napi.schedule();
    }
}
