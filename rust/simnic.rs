// SPDX-License-Identifier: GPL-2.0

//! simnic: the five Linux I/O models on a simulated NIC.
//!
//! The module root: parameters, and bringing the pieces up and down.
//! One folder per layer a datagram crosses (Documentation/architecture.rst):
//! - `hw`: the "hardware": descriptor rings, the engine that moves frames
//!   from TX to RX (its thread, or inline at the doorbell) and runs the
//!   traffic generator, the interrupt line;
//! - `driver`: transmit (`start_xmit`), the interrupt handler
//!   (`simnic_intr`, hard irq), the budgeted NAPI poll (softirq), counters
//!   and debugfs;
//! - `sock`: the socket layer: the `udp_rcv`-style demux, endpoints and
//!   their queues, the socket callbacks `data_ready`, `write_space`,
//!   `error_report` and `state_change`;
//! - `fops`: what user space sees (file operations, ioctls);
//! - `mux`: the module's own teaching multiplexers.
//!
//! The driver uses only safe abstractions; every block that needs a proof
//! lives in the kernel-crate layer (`rust/kernel/`).

// `pin_init!` of the NIC's many fields nests deeper than the default 128.
#![recursion_limit = "256"]
// The driver is safe Rust only; what is not lives in the kernel-crate
// layer (rust/kernel, rust/helpers). The lint also refuses the attributes
// with which safe code could define a kernel symbol; Kbuild forbids it as
// well, and tools/check-safe-driver checks what no lint sees.
#![forbid(unsafe_code)]

use kernel::{
    c_str,
    irq_work::IrqWork,
    kthread::KThread,
    miscdevice::{MiscDeviceOptions, MiscDeviceRegistration},
    module_param_u32, new_bh_work,
    prelude::*,
    sync::Arc,
};

// A crate root looks for its modules beside itself; ours live in simnic/,
// next to the kernel-crate layer in kernel/ (the kernel tree's rust/ shape),
// one folder per layer of the path a datagram takes: the hardware, its
// driver, the socket layer, the file operations; and the multiplexers.
// Kernel-free files are shared with crates/simnic-core (host tests) and
// crates/simnic (uapi), which use all of their `pub` API.
#[path = "simnic/driver.rs"]
mod driver;
#[path = "simnic/fops.rs"]
mod fops;
#[path = "simnic/hw.rs"]
mod hw;
#[path = "simnic/mux.rs"]
mod mux;
#[path = "simnic/sock.rs"]
mod sock;
#[path = "simnic/uapi.rs"]
#[allow(unreachable_pub, dead_code)]
mod uapi;

module! {
    type: SimNic,
    name: "simnic",
    author: "simnic developers",
    description: "Simulated NIC for teaching and testing the Linux I/O models",
    license: "GPL",
}

module_param_u32!(rx_ring_size, 256, 0o444, "RX descriptors (power of two, 64..4096)");
module_param_u32!(tx_ring_size, 256, 0o444, "TX descriptors (power of two, 64..4096)");
module_param_u32!(budget, 64, 0o444, "NAPI poll budget: RX descriptors per poll (1..4096)");
module_param_u32!(tx_delay_us, 0, 0o444, "Wire delay from TX to RX in microseconds (0..1000000)");
module_param_u32!(
    hw_inline,
    1,
    0o444,
    "1: a doorbell with no wire delay runs the hardware's transmission in the writer's context; 0: always in the engine thread"
);
module_param_u32!(
    rmem_max,
    uapi::RMEM_MAX_DEFAULT,
    0o444,
    "Largest receive buffer without CAP_NET_ADMIN, bytes (2048..16777216); SIMNIC_IOC_SET_LIMITS changes it"
);
module_param_u32!(
    rx_mem_max,
    uapi::RX_MEM_MAX_DEFAULT,
    0o444,
    "Receive memory of all endpoints together, bytes (at least 2048); SIMNIC_IOC_SET_LIMITS changes it"
);

/// `drop` frees the interrupt first (`free_irq`: the handler, and with it
/// the poll, is waited for and cancelled); then the fields drop in order:
/// the nodes go (no new opens), then the engine thread (stopped and waited
/// for), then debugfs.
struct SimNic {
    _mux: Pin<KBox<MiscDeviceRegistration<fops::mux::MuxDev>>>,
    _misc: Pin<KBox<MiscDeviceRegistration<fops::simnic::SimnicDev>>>,
    _hw: KThread,
    _debugfs: kernel::debugfs::Dir,
}

fn param_ring(name: &str, v: u32) -> Result<hw::ring::Ring> {
    hw::ring::Ring::new(v).ok_or_else(|| {
        pr_err!("{name}={v}: must be a power of two in {}..={}\n", hw::ring::RING_SIZE_MIN, hw::ring::RING_SIZE_MAX);
        EINVAL
    })
}

impl kernel::Module for SimNic {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let rx = param_ring("rx_ring_size", rx_ring_size.get())?;
        let tx = param_ring("tx_ring_size", tx_ring_size.get())?;
        let napi_budget = budget.get();
        if !(1..=4096).contains(&napi_budget) {
            pr_err!("budget={napi_budget}: must be in 1..=4096\n");
            return Err(EINVAL);
        }
        let delay_us = tx_delay_us.get();
        if delay_us > 1_000_000 {
            pr_err!("tx_delay_us={delay_us}: must be at most 1000000\n");
            return Err(EINVAL);
        }

        let limits = uapi::Limits { rmem_max: rmem_max.get(), rx_mem_max: rx_mem_max.get(), rx_mem: 0 };
        if !(uapi::RCVBUF_MIN..=uapi::RCVBUF_MAX).contains(&limits.rmem_max) || limits.rx_mem_max < uapi::RCVBUF_MIN {
            pr_err!("rmem_max={} rx_mem_max={}: out of range\n", limits.rmem_max, limits.rx_mem_max);
            return Err(EINVAL);
        }
        let inline = match hw_inline.get() {
            0 => false,
            1 => true,
            v => {
                pr_err!("hw_inline={v}: must be 0 or 1\n");
                return Err(EINVAL);
            }
        };
        let nic = driver::nic::NicCore::new(rx, tx, napi_budget, delay_us as u64 * 1000, limits, inline)?;
        let napi = KBox::pin_init(new_bh_work!(nic.clone(), "simnic_napi"), GFP_KERNEL)?;
        let irq_ctx = Arc::new(driver::intr::IrqCtx { nic: nic.clone(), napi }, GFP_KERNEL)?;
        let irq = Arc::pin_init(IrqWork::new(irq_ctx), GFP_KERNEL)?;
        let hw_nic = nic.clone();
        let hw = KThread::run(c_str!("simnic-hw"), move |ctx| hw::engine::run(ctx, hw_nic))?;

        // The module's own multiplexers (mini-poll, mini-epoll).
        let shared = Arc::pin_init(mux::mini_epoll::MuxShared::new(), GFP_KERNEL)?;
        let dbg = driver::debugfs::create(&nic, &shared)?;
        let mux_opts = MiscDeviceOptions { name: c_str!("simnic-epoll"), mode: 0o666 };
        let mux = KBox::pin_init(MiscDeviceRegistration::register(mux_opts, shared), GFP_KERNEL)?;
        // Registrations last, and nothing that can fail after them but the
        // next one: a node opened while `init` still runs holds the module,
        // and a failing `init` frees the module regardless (as for any C
        // module that registers a device and then fails).
        // Mode 0666: a test device that unprivileged users may open.
        let opts = MiscDeviceOptions { name: c_str!("simnic"), mode: 0o666 };
        // `request_irq()`: from here the NIC and its handler hold each
        // other, until `free_irq()` (below on failure, or at unload).
        nic.intr.request(irq);
        let misc = match KBox::pin_init(MiscDeviceRegistration::register(opts, nic.clone()), GFP_KERNEL) {
            Ok(misc) => misc,
            Err(e) => {
                drop(nic.intr.free());
                return Err(e);
            }
        };
        pr_info!(
            "loaded: /dev/simnic (minor {}), rings rx {} tx {}, budget {napi_budget}, tx delay {delay_us} us\n",
            misc.minor(),
            rx.size(),
            tx.size()
        );
        Ok(SimNic { _mux: mux, _misc: misc, _hw: hw, _debugfs: dbg })
    }
}

impl Drop for SimNic {
    fn drop(&mut self) {
        pr_info!("unloading\n");
        // No file is open (each pins the module), so nothing joins the list
        // of endpoints waiting for TX room any more; the ones still on it
        // hold the NIC, which must go with the module.
        self._misc.data().drop_tx_waiters();
        // `free_irq()`: the handler goes (waiting for one that runs, and
        // cancelling the poll), which lets the NIC go too.
        drop(self._misc.data().intr.free());
    }
}
