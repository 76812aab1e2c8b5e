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
    irq_work::IrqWorkCallback,
    prelude::*,
    sync::{Arc, ArcBorrow},
    workqueue::bh::BhWork,
};

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
        intr_mask(&self.nic.irq);
        // napi_schedule(): runs the poll in softirq context on this CPU.
        self.napi.schedule();
    }
}
