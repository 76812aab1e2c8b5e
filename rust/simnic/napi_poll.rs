// SPDX-License-Identifier: GPL-2.0

//! The NAPI-style poll, in softirq context (a BH work item), like
//! `e1000_clean` / `e1000_clean_rx_irq`:
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

use crate::dma::Assembled;
use crate::endpoint::{RcvDrop, Received};
use crate::nic::{FrameBuf, NapiState, NicCore};
use crate::stats::{add, inc};
use crate::uapi::FrameHeader;
use kernel::{
    alloc::KVec,
    error::code_ext::ECONNREFUSED,
    prelude::*,
    sync::ArcBorrow,
    workqueue::bh::{BhWorkCallback, BhWorkContext},
};

impl BhWorkCallback for NicCore {
    fn run(this: ArcBorrow<'_, Self>, ctx: &BhWorkContext<'_>) {
        let nic = &*this;
        inc(&nic.stats.polls);

        nic.tx_clean();

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
                    Assembled::Frame(f) => deliver(nic, f.0),
                    Assembled::Dropped => inc(&nic.stats.rx_errors),
                }
            })
        };
        add(&nic.stats.rx_descs, done as u64);

        if done == nic.budget {
            // Budget used up: more may be waiting. Stay scheduled, interrupt
            // still masked, so other softirq work gets the CPU in between.
            inc(&nic.stats.budget_exhausted);
            ctx.reschedule();
            return;
        }
        // napi_complete_done() + re-enabling the device interrupt.
        inc(&nic.stats.napi_complete);
        if nic.irq.unmask() {
            // Frames came in while we were masked: the hardware raises its
            // interrupt as soon as it is unmasked. Handle it as the
            // interrupt handler would: mask, poll again.
            inc(&nic.stats.irqs);
            nic.irq.mask();
            ctx.reschedule();
        }
    }
}

/// Protocol demux of one frame: validate the header, find the endpoint bound
/// to its destination port, queue it there (`__udp4_lib_rcv` →
/// `__udp_queue_rcv_skb`).
fn deliver(nic: &NicCore, frame: KVec<u8>) {
    let Some(h) = FrameHeader::parse(&frame, frame.len()) else {
        inc(&nic.stats.rx_errors);
        return;
    };
    let Some(ep) = nic.ports.lock().lookup(h.dst_port) else {
        inc(&nic.stats.rx_no_port);
        port_unreachable(nic, &h);
        return;
    };
    match ep.queue_rcv(Received::new(frame)) {
        Ok(()) => {
            inc(&nic.stats.rx_packets);
            add(&nic.stats.rx_bytes, h.len as u64);
        }
        Err(RcvDrop::QueueFull) => inc(&nic.stats.rx_queue_full),
        Err(RcvDrop::NoMem) => inc(&nic.stats.rx_mem_drops),
        Err(RcvDrop::Closed) => inc(&nic.stats.rx_closed),
    }
}

/// No endpoint on the frame's port. UDP would answer with an ICMP port
/// unreachable, and the sender's `__udp4_lib_err()` would give a socket
/// connected to that port `ECONNREFUSED`; the wire here is the NIC's own
/// loop, so the sender is found directly, by the frame's source port. An
/// unconnected sender is not told, as with UDP.
fn port_unreachable(nic: &NicCore, h: &FrameHeader) {
    let Some(sender) = nic.ports.lock().lookup(h.src_port) else {
        return;
    };
    if sender.connected_to() == Some(h.dst_port) {
        inc(&nic.stats.port_unreach);
        sender.set_error(ECONNREFUSED.to_errno().wrapping_neg());
    }
}
