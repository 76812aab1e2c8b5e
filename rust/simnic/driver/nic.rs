// SPDX-License-Identifier: GPL-2.0

//! The simulated NIC as its driver sees it: the shared rings, the interrupt
//! line, the driver's per-ring state, the port table, the counters, and the
//! doorbell the driver rings to wake the hardware engine.
//!
//! Who runs where (see Documentation/nic.rst):
//! - the hardware engine, a kernel thread (`hw_engine`), transmits TX frames
//!   onto the RX ring and runs the traffic generator;
//! - its interrupt is an irq_work (`interrupt`), in hard-irq context;
//! - the NAPI-style poll is a BH work item (`napi_poll`), in softirq context;
//! - sockets (`endpoint`) send from process context.

use crate::driver::rx_assemble::FrameAssembler;
use crate::hw::dma_buf::{descs_for, DmaBuf};
use crate::hw::rx_ring::{RxDesc, RxRing};
use crate::hw::tx_ring::{TxDesc, TxProducer, TxRing};
use crate::sock::endpoint::Endpoint;
use crate::hw::pacer::Pacer;
use crate::sock::port_table::PortTable;
use crate::hw::ring::Ring;
use crate::driver::stats::NicCounters;
use crate::uapi::{FrameHeader, GenFlow, Limits, RingState, GEN_FLOWS};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use kernel::{
    alloc::KVVec,
    list::List,
    new_mutex, new_spinlock, new_spinlock_bh,
    prelude::*,
    sync::{
        poll::PollMask,
        wait::{new_wait_queue_head, WaitQueueHead},
        Arc, Mutex, SpinLock, SpinLockBh,
    },
};

/// TX descriptors a datagram of the largest size takes: `EPOLLOUT` is
/// reported while at least this many are free.
pub(crate) const TX_DESCS_MAX_FRAME: u32 = descs_for(FrameHeader::MAX_FRAME);

/// A frame being assembled by the poll: a `KVec` the assembler appends to.
pub(crate) struct FrameBuf(pub(crate) KVec<u8>);

impl crate::hw::dma_buf::ByteSink for FrameBuf {
    fn extend(&mut self, bytes: &[u8]) -> bool {
        // Softirq context: no sleeping allocation. A frame can never exceed
        // the largest one the wire carries; refuse garbage lengths.
        self.0.len() + bytes.len() <= crate::uapi::FrameHeader::MAX_FRAME
            && self.0.extend_from_slice(bytes, GFP_ATOMIC | __GFP_NOWARN).is_ok()
    }
}

/// What only the poll touches: where it stopped on the RX ring, and a frame
/// it is in the middle of (a budget can end mid-frame).
pub(crate) struct NapiState {
    pub(crate) next_to_clean: u32,
    pub(crate) asm: FrameAssembler<FrameBuf>,
}

/// One generator flow, as the hardware runs it.
#[derive(Clone, Copy)]
pub(crate) struct GenRun {
    /// Distinguishes each `GEN_START`, so the engine knows whether a flow
    /// was restarted while it ran it unlocked.
    pub(crate) id: u64,
    /// The endpoint that started it (its `id`): the flow stops when that
    /// endpoint is released.
    pub(crate) owner: u64,
    pub(crate) cfg: GenFlow,
    pub(crate) pacer: Pacer,
    pub(crate) seq: u64,
}

/// The hardware engine's own state: its generator flows.
pub(crate) struct HwState {
    pub(crate) flows: [Option<GenRun>; GEN_FLOWS],
    /// The id the next `GEN_START` gets.
    pub(crate) next_id: u64,
}

pub(crate) type NicRxRing = RxRing<KVVec<RxDesc>, KVVec<DmaBuf>>;
pub(crate) type NicTxRing = TxRing<KVVec<TxDesc>, KVVec<DmaBuf>>;

/// The NIC and the driver state shared by every context.
#[pin_data]
pub(crate) struct NicCore {
    pub(crate) rx: NicRxRing,
    pub(crate) tx: NicTxRing,
    /// The driver's TX indices: senders (process context) and the poll's TX
    /// completion (softirq) share them.
    #[pin]
    pub(crate) tx_lock: SpinLockBh<TxProducer>,
    /// Free TX descriptors, published under `tx_lock` after every change
    /// so that `->poll` reads it without taking the lock, as
    /// `e1000_desc_unused()` reads the indices without one. A stale value
    /// is safe: see `tx_writable`.
    pub(crate) tx_room: AtomicU32,
    /// The poll's RX state: the poll (softirq) takes it, and so does the
    /// ring snapshot (process context), hence BH.
    #[pin]
    pub(crate) napi: SpinLockBh<NapiState>,
    /// Interrupt mask and cause.
    pub(crate) irq: crate::hw::irq_line::IrqLine,
    #[pin]
    pub(crate) ports: SpinLockBh<PortTable>,
    /// Generator flows; the engine thread and ioctls (both process context).
    #[pin]
    pub(crate) hw: SpinLock<HwState>,
    /// The device's one DMA engine: whoever runs it (the engine thread, or
    /// a writer's doorbell in the inline model) holds this. It makes the
    /// hardware side of each ring single-producer. A mutex: the engine
    /// runs preemptible, in process context only.
    #[pin]
    pub(crate) engine: Mutex<()>,
    /// Whether a doorbell with no wire delay runs the engine inline
    /// (module parameter `hw_inline`; `hw/engine.rs`).
    pub(crate) hw_inline: bool,
    /// The interrupt line's handler, which the hardware raises.
    #[pin]
    pub(crate) intr: crate::driver::intr::IntrLine,
    /// The doorbell: set by the driver after it moved a tail or changed the
    /// generator, cleared by the engine when it looks.
    pub(crate) doorbell: crate::hw::doorbell::DoorbellFlag,
    /// Where the engine sleeps between doorbells and deadlines.
    #[pin]
    pub(crate) hw_wq: WaitQueueHead,
    /// Endpoints waiting for TX room (`write_space.rs`): each is on it at
    /// most once, holding a reference, until TX reclaim wakes it.
    #[pin]
    pub(crate) tx_waiters: SpinLockBh<List<Endpoint>>,
    pub(crate) tx_delay_ns: AtomicU64,
    /// Whether transmitted frames come back on the RX ring.
    pub(crate) loopback: AtomicBool,
    /// `rmem_max`: the largest receive buffer without `CAP_NET_ADMIN`.
    pub(crate) rmem_max: AtomicU32,
    /// `udp_mem`: receive memory all endpoints together may hold.
    pub(crate) rx_mem_max: AtomicU32,
    /// Receive memory charged now, all endpoints together.
    pub(crate) rx_mem: AtomicUsize,
    /// The id the next endpoint gets.
    pub(crate) next_ep_id: AtomicU64,
    pub(crate) budget: u32,
    pub(crate) stats: NicCounters,
}

fn desc_vec<T: Default>(n: u32) -> Result<KVVec<T>> {
    let mut v = KVVec::with_capacity(n as usize, GFP_KERNEL)?;
    for _ in 0..n {
        v.push(T::default(), GFP_KERNEL)?;
    }
    Ok(v)
}

impl NicCore {
    /// Allocates the rings and their buffer pools (preallocated, never grown).
    pub(crate) fn new(
        rx: Ring,
        tx: Ring,
        budget: u32,
        tx_delay_ns: u64,
        limits: Limits,
        hw_inline: bool,
    ) -> Result<Arc<Self>> {
        let rx = RxRing::new(rx, desc_vec(rx.size())?, desc_vec(rx.size())?);
        let tx = TxRing::new(tx, desc_vec(tx.size())?, desc_vec(tx.size())?);
        let tx_room = tx.unused(&TxProducer::default());
        Arc::pin_init(
            pin_init!(Self {
                rx,
                tx,
                tx_lock <- new_spinlock_bh!(TxProducer::default(), "simnic_tx"),
                tx_room: AtomicU32::new(tx_room),
                napi <- new_spinlock_bh!(
                    NapiState { next_to_clean: 0, asm: FrameAssembler::default() },
                    "simnic_napi"
                ),
                irq: crate::hw::irq_line::IrqLine::new(),
                ports <- new_spinlock_bh!(PortTable::new(), "simnic_ports"),
                hw <- new_spinlock!(HwState { flows: [None; GEN_FLOWS], next_id: 0 }, "simnic_hw"),
                engine <- new_mutex!((), "simnic_engine"),
                hw_inline,
                intr <- crate::driver::intr::IntrLine::new(),
                doorbell: crate::hw::doorbell::DoorbellFlag::new(),
                hw_wq <- new_wait_queue_head!("simnic_hw_wq"),
                tx_waiters <- new_spinlock_bh!(List::new(), "simnic_tx_waiters"),
                tx_delay_ns: AtomicU64::new(tx_delay_ns),
                loopback: AtomicBool::new(true),
                rmem_max: AtomicU32::new(limits.rmem_max),
                rx_mem_max: AtomicU32::new(limits.rx_mem_max),
                rx_mem: AtomicUsize::new(0),
                next_ep_id: AtomicU64::new(1),
                budget,
                stats: NicCounters::default(),
            }),
            GFP_KERNEL,
        )
    }

    /// Rings the doorbell: wakes the hardware engine thread (a register
    /// write). For a new TX tail, use [`Self::tx_doorbell`].
    pub(crate) fn ring_doorbell(&self) {
        self.doorbell.ring();
        self.hw_wq.wake_up_poll(PollMask::NONE);
    }

    /// Charges `bytes` of receive memory to the NIC-wide budget, or refuses
    /// if that would exceed `rx_mem_max` (`__sk_mem_raise_allocated` against
    /// `udp_mem`).
    pub(crate) fn rx_mem_charge(&self, bytes: usize) -> bool {
        let max = self.rx_mem_max.load(Ordering::Relaxed) as usize;
        self.rx_mem
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |m| {
                m.checked_add(bytes).filter(|&n| n <= max)
            })
            .is_ok()
    }

    /// Gives back what [`Self::rx_mem_charge`] took.
    pub(crate) fn rx_mem_uncharge(&self, bytes: usize) {
        self.rx_mem.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// `SIMNIC_IOC_GET_LIMITS`.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            rmem_max: self.rmem_max.load(Ordering::Relaxed),
            rx_mem_max: self.rx_mem_max.load(Ordering::Relaxed),
            rx_mem: self.rx_mem.load(Ordering::Relaxed) as u64,
        }
    }

    /// Stops the generator flows `owner` started (at its release).
    pub(crate) fn gen_stop_owned_by(&self, owner: u64) {
        for f in self.hw.lock().flows.iter_mut() {
            if f.is_some_and(|r| r.owner == owner) {
                *f = None;
            }
        }
    }

    /// Forgets every endpoint waiting for TX room (module unload: the list
    /// holds references to endpoints, which hold the NIC).
    pub(crate) fn drop_tx_waiters(&self) {
        let waiters = core::mem::take(&mut *self.tx_waiters.lock());
        drop(waiters);
    }

    /// A snapshot of the rings for `SIMNIC_IOC_RING_STATE` and debugfs.
    pub(crate) fn ring_state(&self) -> RingState {
        let p = *self.tx_lock.lock();
        RingState {
            rx_size: self.rx.ring().size(),
            rx_head: self.rx.head(),
            rx_tail: self.rx.tail(),
            rx_next_to_clean: self.napi.lock().next_to_clean,
            tx_size: self.tx.ring().size(),
            tx_head: self.tx.head(),
            tx_tail: self.tx.tail(),
            tx_next_to_clean: p.next_to_clean,
            irq_masked: self.irq.is_masked() as u32,
            budget: self.budget,
            tx_delay_ns: self.tx_delay_ns.load(Ordering::Relaxed),
        }
    }
}
