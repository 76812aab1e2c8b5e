//! The "hardware": DMA buffers, descriptor rings, the interrupt line and
//! the generator's pacer.
//!
//! Files of the driver, by path (relative to this file's folder).

#[path = "../../../rust/simnic/hw/dma_buf.rs"]
pub mod dma_buf;
#[path = "../../../rust/simnic/hw/doorbell.rs"]
pub mod doorbell;
#[path = "../../../rust/simnic/hw/irq_line.rs"]
pub mod irq_line;
#[path = "../../../rust/simnic/hw/pacer.rs"]
pub mod pacer;
#[path = "../../../rust/simnic/hw/ring.rs"]
pub mod ring;
#[path = "../../../rust/simnic/hw/rx_ring.rs"]
pub mod rx_ring;
#[path = "../../../rust/simnic/hw/tx_ring.rs"]
pub mod tx_ring;
