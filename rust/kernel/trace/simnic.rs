// SPDX-License-Identifier: GPL-2.0

//! simnic.ko's trace events (`events/simnic/`), one per step of a datagram:
//! see `rust/helpers/simnic_trace.h` for their fields and formats.
//!
//! Each function fires its event if it is enabled and costs one call if
//! not. Every argument is a plain integer or bool, copied into the ring
//! buffer: nothing is dereferenced.
//!
//! C header: [`rust/helpers/simnic_trace.h`](srctree/rust/helpers/simnic_trace.h)

use crate::bindings;

/// Why a frame was not queued, as `simnic_deliver` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Delivery {
    /// Queued on the endpoint.
    Queued = 0,
    /// The receive queue or buffer was full.
    QueueFull = 1,
    /// Receive memory ran out.
    NoMem = 2,
    /// The endpoint is shut for reading or closing.
    Closed = 3,
    /// Nobody is bound to the port.
    NoPort = 4,
    /// Copied into a posted AIO read's buffer, not queued.
    AioRead = 5,
    /// Placed in a slot of the endpoint's mmap ring.
    Ring = 6,
}

/// `simnic_xmit`: a frame of `len` payload bytes in `descs` descriptors
/// went on the TX ring.
#[inline]
pub fn xmit(src_port: u16, dst_port: u16, len: u32, descs: u32) {
    // SAFETY: The helper only copies its integer arguments into the event.
    unsafe { bindings::simnic_trace_xmit(src_port, dst_port, len, descs) }
}

/// `simnic_doorbell`: the TX tail register was written.
#[inline]
pub fn doorbell(tail: u32) {
    // SAFETY: As above.
    unsafe { bindings::simnic_trace_doorbell(tail) }
}

/// `simnic_hw_rx_dma`: the hardware filled `descs` RX descriptors with a
/// frame of `len` bytes for `dst_port` and set DD on each.
#[inline]
pub fn hw_rx_dma(descs: u32, dst_port: u16, len: u32) {
    // SAFETY: As above.
    unsafe { bindings::simnic_trace_hw_rx_dma(descs, dst_port, len) }
}

/// `simnic_irq_raise`: the hardware raised its interrupt (or latched it).
#[inline]
pub fn irq_raise(rx_frames: u32, tx_done: u32, raised: bool) {
    // SAFETY: As above.
    unsafe { bindings::simnic_trace_irq_raise(rx_frames, tx_done, raised) }
}

/// `simnic_intr`: the interrupt handler ran and masked the interrupt;
/// `was_masked`: it already was (a spurious interrupt).
#[inline]
pub fn intr(was_masked: bool) {
    // SAFETY: As above.
    unsafe { bindings::simnic_trace_intr(was_masked) }
}

/// `simnic_napi_poll_start`.
#[inline]
pub fn napi_poll_start(budget: u32) {
    // SAFETY: As above.
    unsafe { bindings::simnic_trace_napi_poll_start(budget) }
}

/// `simnic_napi_poll_end`: `work` descriptors cleaned; `again`: the poll
/// stays scheduled.
#[inline]
pub fn napi_poll_end(work: u32, budget: u32, again: bool) {
    // SAFETY: As above.
    unsafe { bindings::simnic_trace_napi_poll_end(work, budget, again) }
}

/// `simnic_deliver`: a frame for `dst_port` was queued or dropped.
#[inline]
pub fn deliver(dst_port: u16, len: u32, result: Delivery) {
    // SAFETY: As above.
    unsafe { bindings::simnic_trace_deliver(dst_port, len, result as i32) }
}

/// `simnic_data_ready`: an endpoint's `sk_data_ready` ran.
#[inline]
pub fn data_ready(port: u16, sleepers: bool) {
    // SAFETY: As above.
    unsafe { bindings::simnic_trace_data_ready(port, sleepers) }
}

/// `simnic_wake`: the wake-up of an endpoint's `sk_data_ready` ran
/// `woken` entries' wake functions that reported a wake.
#[inline]
pub fn wake(port: u16, woken: u32) {
    // SAFETY: As above.
    unsafe { bindings::simnic_trace_wake(port, woken) }
}

/// `simnic_recv_copy`: a reader copied `copied` of a datagram's `len`
/// bytes to user memory.
#[inline]
pub fn recv_copy(port: u16, len: u32, copied: u32) {
    // SAFETY: As above.
    unsafe { bindings::simnic_trace_recv_copy(port, len, copied) }
}
