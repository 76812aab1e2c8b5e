//! The socket layer's kernel-free part: receive queues, port bitmaps and
//! the mmap receive ring's index state machine.
//!
//! Files of the driver, by path (relative to this file's folder).

#[path = "../../../rust/simnic/sock/aio_reads.rs"]
pub mod aio_reads;
#[path = "../../../rust/simnic/sock/dgram_queue.rs"]
pub mod dgram_queue;
#[path = "../../../rust/simnic/sock/port_bitmap.rs"]
pub mod port_bitmap;
#[path = "../../../rust/simnic/sock/rx_ring_index.rs"]
pub mod rx_ring_index;
