//! The driver's kernel-free part: when it masks and unmasks its interrupt
//! around the poll, and frame assembly from RX buffers.
//!
//! Files of the driver, by path (relative to this file's folder).

#[path = "../../../rust/simnic/driver/napi_irq.rs"]
pub mod napi_irq;
#[path = "../../../rust/simnic/driver/rx_assemble.rs"]
pub mod rx_assemble;
