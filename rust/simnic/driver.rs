// SPDX-License-Identifier: GPL-2.0

//! The NIC's driver (steps 1, 4 and 5 of Documentation/nic.rst): the NIC as
//! the driver sees it, transmit (`start_xmit`), the interrupt handler
//! (`simnic_intr`), the NAPI-style poll (`simnic_poll`: `clean_tx_irq`,
//! `clean_rx_irq`), its counters and debugfs files.

#[path = "driver/debugfs.rs"]
pub(crate) mod debugfs;
#[path = "driver/intr.rs"]
pub(crate) mod intr;
#[path = "driver/napi_irq.rs"]
#[allow(unreachable_pub, dead_code)]
pub(crate) mod napi_irq;
#[path = "driver/napi_poll.rs"]
pub(crate) mod napi_poll;
#[path = "driver/nic.rs"]
pub(crate) mod nic;
#[path = "driver/rx_assemble.rs"]
#[allow(unreachable_pub, dead_code)]
pub(crate) mod rx_assemble;
#[path = "driver/stats.rs"]
pub(crate) mod stats;
#[path = "driver/wq_view.rs"]
pub(crate) mod wq_view;
#[path = "driver/xmit.rs"]
pub(crate) mod xmit;
