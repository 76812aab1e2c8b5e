//! The kernel-free logic of simnic.ko, compiled for the host.
//!
//! Each module here *is* a file of the driver (`rust/simnic/**.rs`),
//! included by path at the same place in the same module tree (`hw`,
//! `driver`, `sock`), so `cargo test` exercises the very code the module
//! runs: plain `core` Rust with no kernel dependency, tested in seconds.
//! One file of the kernel-crate layer is included the same way: the page
//! arithmetic of `kernel::iov`'s pinning (`rust/kernel/iov/pin_span.rs`).

#![no_std]

#[cfg(test)]
extern crate std;

pub mod hw;
pub mod driver;
pub mod sock;

#[path = "../../../rust/simnic/uapi.rs"]
pub mod uapi;

/// A kernel-free file of the kernel-crate layer (its items are
/// crate-private there, and used here by the tests only).
#[cfg(test)]
#[path = "../../../rust/kernel/iov/pin_span.rs"]
mod pin_span;

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
mod pin_span_tests;
#[cfg(test)]
mod port_bitmap_tests;
#[cfg(test)]
mod ring_tests;
#[cfg(test)]
mod rx_ring_tests;
