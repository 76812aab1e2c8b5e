//! The kernel-free logic of simnic.ko, compiled for the host.
//!
//! Each module here *is* a file of the driver (`rust/simnic/**.rs`),
//! included by path at the same place in the same module tree (`hw`,
//! `driver`, `sock`), so `cargo test` exercises the very code the module
//! runs: plain `core` Rust with no kernel dependency, tested in seconds.

#![no_std]

#[cfg(test)]
extern crate std;

pub mod hw;
pub mod driver;
pub mod sock;

#[path = "../../../rust/simnic/uapi.rs"]
pub mod uapi;

#[cfg(test)]
mod aio_reads_tests;
#[cfg(test)]
mod dgram_queue_tests;
#[cfg(test)]
mod dma_tests;
#[cfg(test)]
mod doorbell_tests;
#[cfg(test)]
mod irq_line_tests;
#[cfg(test)]
mod napi_irq_tests;
#[cfg(test)]
mod pacer_tests;
#[cfg(test)]
mod port_bitmap_tests;
#[cfg(test)]
mod ring_tests;
#[cfg(test)]
mod rx_ring_tests;
