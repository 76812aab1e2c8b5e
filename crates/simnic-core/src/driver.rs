//! The driver's kernel-free part: frame assembly from RX buffers.
//!
//! Files of the driver, by path (relative to this file's folder).

#[path = "../../../rust/simnic/driver/rx_assemble.rs"]
pub mod rx_assemble;
