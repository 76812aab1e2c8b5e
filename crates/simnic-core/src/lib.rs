//! The kernel-free logic of simnic.ko, compiled for the host.
//!
//! Each module here *is* a file of the driver (`rust/simnic/*.rs`), included
//! by path, so `cargo test` exercises the very code the module runs: plain
//! `core` Rust with no kernel dependency, tested in seconds.

#![no_std]

#[cfg(test)]
extern crate std;

#[path = "../../../rust/simnic/dgram_queue.rs"]
pub mod dgram_queue;
#[path = "../../../rust/simnic/dma.rs"]
pub mod dma;
#[path = "../../../rust/simnic/irq_line.rs"]
pub mod irq_line;
#[path = "../../../rust/simnic/pacer.rs"]
pub mod pacer;
#[path = "../../../rust/simnic/port_bitmap.rs"]
pub mod port_bitmap;
#[path = "../../../rust/simnic/ring.rs"]
pub mod ring;
#[path = "../../../rust/simnic/uapi.rs"]
pub mod uapi;

#[cfg(test)]
mod dgram_queue_tests;
#[cfg(test)]
mod dma_tests;
#[cfg(test)]
mod irq_line_tests;
#[cfg(test)]
mod pacer_tests;
#[cfg(test)]
mod port_bitmap_tests;
#[cfg(test)]
mod ring_tests;
