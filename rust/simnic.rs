// SPDX-License-Identifier: GPL-2.0

//! simnic: the five Linux I/O models on a simulated NIC.
//!
//! This is the module root: it registers the misc device /dev/simnic, whose
//! every open is a datagram endpoint (`endpoint`), served by the file
//! operations in `fops`. The driver uses only safe abstractions; the unsafe
//! code lives in the kernel-crate layer (`rust/kernel/`).

use kernel::{
    c_str,
    miscdevice::{MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
};

// A crate root looks for its modules beside itself; ours live in simnic/,
// next to the kernel-crate layer in kernel/ (the kernel tree's rust/ shape).
// Kernel-free code shared with crates/simnic-core, whose host tests use all of
// its `pub` API; the driver uses part of it.
#[path = "simnic/dgram_queue.rs"]
#[allow(unreachable_pub, dead_code)]
mod dgram_queue;
#[path = "simnic/endpoint.rs"]
mod endpoint;
#[path = "simnic/fops.rs"]
mod fops;

module! {
    type: SimNic,
    name: "simnic",
    author: "simnic developers",
    description: "Simulated NIC for teaching and testing the Linux I/O models",
    license: "GPL",
}

struct SimNic {
    _misc: Pin<KBox<MiscDeviceRegistration<fops::SimnicDev>>>,
}

impl kernel::Module for SimNic {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // Mode 0666: a test device that unprivileged users may open.
        let opts = MiscDeviceOptions { name: c_str!("simnic"), mode: 0o666 };
        let misc = KBox::pin_init(MiscDeviceRegistration::register(opts), GFP_KERNEL)?;
        pr_info!("loaded: /dev/simnic (misc minor {})\n", misc.minor());
        Ok(SimNic { _misc: misc })
    }
}

impl Drop for SimNic {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
