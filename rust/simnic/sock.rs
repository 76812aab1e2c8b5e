// SPDX-License-Identifier: GPL-2.0

//! The socket layer (steps 6 to 9 of Documentation/nic.rst): endpoints,
//! the port table the receive path demultiplexes with (`udp_rcv`), receive
//! queues, the mmap receive ring, and the socket callbacks (`data_ready`, `write_space`,
//! `error_report`, `state_change`).

#[path = "sock/aio_reads.rs"]
#[allow(unreachable_pub, dead_code)]
pub(crate) mod aio_reads;
#[path = "sock/data_ready.rs"]
pub(crate) mod data_ready;
#[path = "sock/dgram_queue.rs"]
#[allow(unreachable_pub, dead_code)]
pub(crate) mod dgram_queue;
#[path = "sock/endpoint.rs"]
pub(crate) mod endpoint;
#[path = "sock/error_report.rs"]
pub(crate) mod error_report;
#[path = "sock/port_bitmap.rs"]
#[allow(unreachable_pub, dead_code)]
pub(crate) mod port_bitmap;
#[path = "sock/port_table.rs"]
pub(crate) mod port_table;
#[path = "sock/rx_mmap_ring.rs"]
pub(crate) mod rx_mmap_ring;
#[path = "sock/rx_ring_index.rs"]
#[allow(unreachable_pub, dead_code)]
pub(crate) mod rx_ring_index;
#[path = "sock/state_change.rs"]
pub(crate) mod state_change;
#[path = "sock/udp_rcv.rs"]
pub(crate) mod udp_rcv;
#[path = "sock/write_space.rs"]
pub(crate) mod write_space;
