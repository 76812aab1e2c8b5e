// SPDX-License-Identifier: GPL-2.0

//! The NAPI-style poll (step 5 of Documentation/nic.rst), in softirq
//! context (a BH work item), like `e1000_clean` / `e1000_clean_rx_irq`:
//!
//! 1. reclaim transmitted TX descriptors;
//! 2. clean at most `budget` RX descriptors: copy each buffer out, stitch the
//!    frames together at EOP, demux each frame by destination port (the
//!    protocol layer's socket lookup), queue it on that endpoint and call its
//!    `data_ready`; hand the cleaned descriptors back to the hardware (refill);
//! 3. if the budget ran out, stay scheduled (run again) with the interrupt
//!    still masked; otherwise complete: unmask the interrupt, and if the
//!    hardware latched an event while masked, take it as the interrupt it
//!    raises on unmask and poll again.

use crate::driver::napi_irq::{budget_exhausted, complete_unmask};
use crate::driver::nic::{FrameBuf, NapiState, NicCore};
use crate::driver::rx_assemble::Assembled;
use crate::driver::stats::{add, inc};
use crate::sock::udp_rcv::udp_rcv;
use crate::uapi::FrameHeader;
use kernel::{
    alloc::KVec,
    prelude::*,
    sync::ArcBorrow,
    trace::simnic as trace,
    workqueue::bh::{BhWorkCallback, BhWorkContext},
};

impl BhWorkCallback for NicCore {
    fn run(this: ArcBorrow<'_, Self>, ctx: &BhWorkContext<'_>) {
        this.simnic_poll(ctx);
    }
}

impl NicCore {
    /// The poll (`e1000_clean`): TX completion, then RX up to the budget,
    /// then either stay scheduled or complete and unmask the interrupt.
    #[doc(alias = "e1000_clean")]
    #[doc(alias = "napi_poll")]
    fn simnic_poll(&self, ctx: &BhWorkContext<'_>) {
        inc(&self.stats.polls);
        trace::napi_poll_start(self.budget);
        self.clean_tx_irq();
        let done = self.clean_rx_irq();
        let again = self.poll_done(done, ctx);
        trace::napi_poll_end(done, self.budget, again);
    }

    /// RX cleaning (`e1000_clean_rx_irq`): at most `budget` descriptors,
    /// each buffer copied into the frame it belongs to; each complete frame
    /// goes up to the protocol (`udp_rcv`); the descriptors go back to the
    /// hardware. Returns how many were cleaned.
    #[doc(alias = "e1000_clean_rx_irq")]
    fn clean_rx_irq(&self) -> u32 {
        let nic = self;
        let done = {
            let mut st = nic.napi.lock();
            let NapiState { next_to_clean, asm } = &mut *st;
            nic.rx.clean(next_to_clean, nic.budget, |buf, len, eop| {
                let alloc = |hint: usize| {
                    let cap = hint.clamp(FrameHeader::SIZE, FrameHeader::MAX_FRAME);
                    KVec::with_capacity(cap, GFP_ATOMIC | __GFP_NOWARN).ok().map(FrameBuf)
                };
                match asm.push(buf, len, eop, alloc) {
                    Assembled::More => {}
                    Assembled::Frame(f) => udp_rcv(nic, f.0),
                    Assembled::Dropped => inc(&nic.stats.rx_errors),
                }
            })
        };
        add(&nic.stats.rx_descs, done as u64);
        done
    }

    /// The end of a poll: budget used up, stay scheduled (interrupt still
    /// masked); otherwise `napi_complete_done` and unmask. Returns whether
    /// the poll stays scheduled.
    fn poll_done(&self, done: u32, ctx: &BhWorkContext<'_>) -> bool {
        let nic = self;
        if budget_exhausted(done, nic.budget) {
            // Budget used up: more may be waiting. Stay scheduled, interrupt
            // still masked, so other softirq work gets the CPU in between.
            inc(&nic.stats.budget_exhausted);
            ctx.reschedule();
            return true;
        }
        // napi_complete_done() + re-enabling the device interrupt.
        inc(&nic.stats.napi_complete);
        if complete_unmask(&nic.irq) {
            // Frames came in while we were masked: the hardware raised its
            // interrupt as soon as it was unmasked, and `complete_unmask`
            // took it as the interrupt handler would (masked): poll again.
            inc(&nic.stats.irqs);
            ctx.reschedule();
            return true;
        }
        false
    }
}
