// SPDX-License-Identifier: GPL-2.0

//! The "hardware": what a NIC does by itself (steps 1 to 3 of
//! Documentation/nic.rst). Its DMA memory and descriptor rings, shared with
//! the driver; its engine, which transmits from the TX ring onto the wire
//! (looped back into its RX ring) and runs the traffic generator; and its
//! interrupt line. The kernel-free files are shared with `crates/simnic-core`.

#[path = "hw/dma_buf.rs"]
#[allow(unreachable_pub, dead_code)]
pub(crate) mod dma_buf;
#[path = "hw/doorbell.rs"]
#[allow(unreachable_pub, dead_code)]
pub(crate) mod doorbell;
#[path = "hw/engine.rs"]
pub(crate) mod engine;
#[path = "hw/irq_line.rs"]
#[allow(unreachable_pub, dead_code)]
pub(crate) mod irq_line;
#[path = "hw/pacer.rs"]
#[allow(unreachable_pub, dead_code)]
pub(crate) mod pacer;
#[path = "hw/ring.rs"]
#[allow(unreachable_pub, dead_code)]
pub(crate) mod ring;
#[path = "hw/rx_ring.rs"]
#[allow(unreachable_pub, dead_code)]
pub(crate) mod rx_ring;
#[path = "hw/tx_ring.rs"]
#[allow(unreachable_pub, dead_code)]
pub(crate) mod tx_ring;
