// SPDX-License-Identifier: GPL-2.0

//! The protocol's receive path (step 6 of Documentation/nic.rst): a frame
//! the poll assembled is validated, its destination port looked up in the
//! port table (`__udp4_lib_lookup`), and the datagram queued on that
//! endpoint (`__udp4_lib_rcv` → `udp_queue_rcv_skb`); a frame for a port
//! nobody has makes a connected sender's error (`__udp4_lib_err`).

use crate::driver::nic::NicCore;
use crate::driver::stats::{add, inc};
use crate::sock::endpoint::{Rcv, RcvDrop, Received};
use crate::uapi::FrameHeader;
use kernel::{
    alloc::KVec,
    error::code_ext::ECONNREFUSED,
    trace::simnic::{self as trace, Delivery},
};

/// Protocol demux of one frame: validate the header, find the endpoint bound
/// to its destination port, queue it there.
#[doc(alias = "__udp4_lib_rcv")]
pub(crate) fn udp_rcv(nic: &NicCore, frame: KVec<u8>) {
    let Some(h) = FrameHeader::parse(&frame, frame.len()) else {
        inc(&nic.stats.rx_errors);
        return;
    };
    let Some(ep) = nic.ports.lock().lookup(h.dst_port) else {
        trace::deliver(h.dst_port, h.len, Delivery::NoPort);
        inc(&nic.stats.rx_no_port);
        port_unreachable(nic, &h);
        return;
    };
    // Traced before the queueing, which calls `data_ready`: the events
    // come in the order things happen.
    let r = ep.queue_rcv(Received::new(frame), |r| {
        let why = match r {
            Ok(Rcv::Queued) => Delivery::Queued,
            Ok(Rcv::ToAioRead) => Delivery::AioRead,
            Ok(Rcv::ToRing) => Delivery::Ring,
            Err(RcvDrop::QueueFull) => Delivery::QueueFull,
            Err(RcvDrop::NoMem) => Delivery::NoMem,
            Err(RcvDrop::Closed) => Delivery::Closed,
        };
        trace::deliver(h.dst_port, h.len, why);
    });
    match r {
        Ok(_) => {
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
#[doc(alias = "__udp4_lib_err")]
fn port_unreachable(nic: &NicCore, h: &FrameHeader) {
    let Some(sender) = nic.ports.lock().lookup(h.src_port) else {
        return;
    };
    if sender.connected_to() == Some(h.dst_port) {
        inc(&nic.stats.port_unreach);
        sender.set_error(ECONNREFUSED.to_errno().wrapping_neg());
    }
}
