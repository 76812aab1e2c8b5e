// SPDX-License-Identifier: GPL-2.0

//! The mmap receive ring of an endpoint (Documentation/models/mmap.rst),
//! in the spirit of `PACKET_RX_RING` and AF_XDP's RX ring: datagrams are
//! delivered into memory the process has mapped, so receiving costs it no
//! system call and no copy at read time.
//!
//! * `SIMNIC_IOC_RX_RING_SETUP` allocates the ring as kernel pages
//!   ([`SharedPages`]), charged to the user's `RLIMIT_MEMLOCK`
//!   ([`LockedVmCharge`], as AF_XDP charges a umem) and to the NIC-wide
//!   receive memory budget (`rx_mem_max`, as datagrams are), and switches
//!   the endpoint's delivery from the receive queue to the ring.
//! * `mmap` ([`RxMmapRing::mmap`]) inserts the pages into the process's
//!   area (`vm_insert_page`): page tables hold references of their own, so
//!   a mapping never outlives its pages; the area holds the file, so the
//!   endpoint (and the module) outlive every mapping.
//! * The receive path ([`queue_rcv`], softirq) reads the consumer index
//!   from shared memory, checks it ([`RingIndex`]), copies the datagram into
//!   the slot the kernel's own producer index names, writes its descriptor,
//!   publishes the producer with release ordering and calls `data_ready`.
//! * `->poll` reports `POLLIN` while slots are unconsumed and `POLLERR`
//!   while the consumer index is invalid.
//!
//! Nothing the process writes into the mapping is trusted: indices are read
//! atomically, validated, and never used to compute an address; the slot's
//! address comes from the kernel's producer index and the geometry fixed at
//! setup, and [`SharedPages`] checks every offset anyway.

use crate::driver::nic::NicCore;
use crate::driver::stats::{add, inc};
use crate::sock::endpoint::{Endpoint, Rcv, RcvDrop};
use crate::sock::rx_ring_index::{Refused, RingIndex};
use crate::uapi::{
    RxRingDesc, RxRingReq, RxRingStats, RX_RING_OFF_CONSUMER, RX_RING_OFF_PRODUCER, RX_RING_OFF_STATUS,
    RX_RING_PAGE_SIZE, RX_RING_STATUS_BAD_INDEX, SIMNIC_MSG_TRUNC,
};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    error::code::{EBUSY, EPERM},
    error::code_ext::ENOBUFS,
    mm::{
        locked_vm::LockedVmCharge,
        shared_pages::SharedPages,
        virt::{flags, VmaNew},
    },
    new_spinlock_bh,
    page::PAGE_SIZE,
    prelude::*,
    sync::{poll::PollMask, Arc, SpinLockBh},
};

const _: () = assert!(PAGE_SIZE == RX_RING_PAGE_SIZE);

/// A ring that has been set up.
struct Ring {
    /// The mapping's pages; `mmap` holds a reference while it inserts them.
    pages: Arc<SharedPages>,
    geom: RxRingReq,
    idx: RingIndex,
    /// The status word as last written to shared memory.
    status: u32,
    /// Held until the ring is freed: the `RLIMIT_MEMLOCK` charge.
    _locked: LockedVmCharge,
    stats: RxRingStats,
}

impl Ring {
    /// Mirrors the bad-index state into the status word, when it changed;
    /// true if the index has just become bad.
    fn sync_status(&mut self) -> bool {
        let want = if self.idx.is_bad() { RX_RING_STATUS_BAD_INDEX } else { 0 };
        if want == self.status {
            return false;
        }
        // Cannot fail: the header page is always there.
        let _ = self.pages.store_u32(RX_RING_OFF_STATUS as usize, want, Ordering::Relaxed);
        self.status = want;
        want != 0
    }

    /// The consumer index as the process last wrote it: some `u32`.
    fn user_consumer(&self) -> u32 {
        // Acquire: the process's reads of the slots it returned happen
        // before we overwrite them (pairs with its release store).
        self.pages.load_u32(RX_RING_OFF_CONSUMER as usize, Ordering::Acquire).unwrap_or(u32::MAX)
    }
}

/// Why the ring did not take a datagram.
enum RingDrop {
    Full,
    /// The consumer index is invalid; `newly` if it was valid until now.
    BadIndex { newly: bool },
    Closed,
}

/// The ring of one endpoint: none until set up, for good once set up, gone
/// at `release`.
#[pin_data]
pub(crate) struct RxMmapRing {
    /// The datapath (softirq) and the ioctls share it: BH lock.
    #[pin]
    ring: SpinLockBh<Option<KBox<Ring>>>,
    /// Set (under the receive queue's lock) once the ring is installed:
    /// datagrams go to the ring, `read()` fails with `EINVAL`.
    active: AtomicBool,
}

impl RxMmapRing {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            ring <- new_spinlock_bh!(None, "simnic_rx_mmap_ring"),
            active: AtomicBool::new(false),
        })
    }

    /// Whether the endpoint delivers into a ring.
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// First half of `SIMNIC_IOC_RX_RING_SETUP` (process context): checks
    /// the geometry, charges the memory, allocates and installs the ring.
    /// The endpoint then calls [`Self::activate`] under its receive queue's
    /// lock. Returns the layout for the caller.
    pub(crate) fn install(&self, nic: &NicCore, req: RxRingReq) -> Result<RxRingReq> {
        if req.flags != 0 || req.reserved != 0 {
            return Err(EINVAL);
        }
        let geom = RxRingReq::layout(req.slots, req.slot_size).ok_or(EINVAL)?;
        if self.ring.lock().is_some() {
            return Err(EBUSY);
        }
        let map_len = geom.map_len as usize;
        let locked = LockedVmCharge::charge_current(map_len)?;
        if !nic.rx_mem_charge(map_len) {
            return Err(ENOBUFS);
        }
        let ring = match Self::alloc(geom, locked) {
            Ok(r) => r,
            Err(e) => {
                nic.rx_mem_uncharge(map_len);
                return Err(e);
            }
        };
        let mut slot = self.ring.lock();
        if slot.is_some() {
            // A concurrent setup won.
            drop(slot);
            drop(ring);
            nic.rx_mem_uncharge(map_len);
            return Err(EBUSY);
        }
        *slot = Some(ring);
        Ok(geom)
    }

    /// The ring's memory and state, zeroed (producer and consumer at 0).
    fn alloc(geom: RxRingReq, locked: LockedVmCharge) -> Result<KBox<Ring>> {
        let pages = SharedPages::new(geom.map_len as usize / PAGE_SIZE, GFP_KERNEL_ACCOUNT)?;
        let pages = Arc::new(pages, GFP_KERNEL_ACCOUNT)?;
        let idx = RingIndex::new(geom.slots).ok_or(EINVAL)?;
        let stats = RxRingStats { slots: geom.slots, slot_size: geom.slot_size, map_len: geom.map_len, ..Default::default() };
        Ok(KBox::new(Ring { pages, geom, idx, status: 0, _locked: locked, stats }, GFP_KERNEL_ACCOUNT)?)
    }

    /// Second half of the setup: from now on datagrams go to the ring. The
    /// endpoint calls it holding its receive queue's lock, so no datagram
    /// is queued after it purges the queue.
    pub(crate) fn activate(&self) {
        self.active.store(true, Ordering::Release);
    }

    /// Counts the datagrams the setup dropped from the receive queue.
    pub(crate) fn count_purged(&self, n: usize) {
        if let Some(r) = self.ring.lock().as_mut() {
            r.stats.purged += n as u64;
        }
    }

    /// `release` (process context): the ring goes, and its charges with it.
    /// Pages still mapped stay allocated until unmapped; by `release` no
    /// area of this file is left (each holds the file), but nothing here
    /// relies on it.
    pub(crate) fn teardown(&self, nic: &NicCore) {
        let ring = self.ring.lock().take();
        if let Some(r) = ring {
            nic.rx_mem_uncharge(r.geom.map_len as usize);
            drop(r);
        }
    }

    /// `f_op->mmap`: maps the whole ring, at offset 0, shared. `EINVAL`
    /// without a ring, at another offset or length, or for a private
    /// mapping (whose copy-on-write pages the kernel would never see);
    /// `EPERM` for an executable one.
    pub(crate) fn mmap(&self, vma: &VmaNew) -> Result {
        let (pages, map_len) = {
            let g = self.ring.lock();
            let r = g.as_ref().ok_or(EINVAL)?;
            (r.pages.clone(), r.geom.map_len as usize)
        };
        if vma.pgoff() != 0 || vma.end() - vma.start() != map_len {
            return Err(EINVAL);
        }
        if vma.flags() & flags::MAYSHARE == 0 {
            return Err(EINVAL);
        }
        vma.try_clear_mayexec().map_err(|_| EPERM)?;
        // The area is exactly the ring: `mremap` must not grow it (the
        // extension would have no pages); core dumps need not carry it.
        vma.set_dontexpand();
        vma.set_dontdump();
        pages.insert_into(vma.set_mixedmap())
    }

    /// Places one datagram into the ring (softirq), or says why not.
    fn deliver(&self, payload: &[u8], src_port: u16) -> Result<(), RingDrop> {
        let mut g = self.ring.lock();
        let Some(r) = g.as_mut() else { return Err(RingDrop::Closed) };
        let cons = r.user_consumer();
        let slot = match r.idx.claim(cons) {
            Ok(slot) => slot,
            Err(why) => {
                let newly = r.sync_status();
                return Err(match why {
                    Refused::Full => {
                        r.stats.ring_full += 1;
                        RingDrop::Full
                    }
                    Refused::BadIndex => {
                        r.stats.bad_index += 1;
                        RingDrop::BadIndex { newly }
                    }
                });
            }
        };
        r.sync_status();
        let n = payload.len().min(r.geom.slot_size as usize);
        let desc = RxRingDesc {
            len: n as u32,
            dgram_len: payload.len() as u32,
            src_port: src_port as u32,
            flags: if n < payload.len() { SIMNIC_MSG_TRUNC } else { 0 },
        };
        // Buffer and descriptor first (relaxed), then the producer with
        // release ordering: a consumer that sees the new producer sees both.
        let written = r.pages.write(r.geom.data_at(slot), &payload[..n]).is_ok()
            && r.pages.write(r.geom.desc_at(slot), &desc.to_bytes()).is_ok();
        if !written {
            // Cannot happen with a geometry `layout` accepted. Checked
            // before `publish`, which advances the kernel's producer: the
            // slot stays unclaimed, and nothing was published.
            return Err(RingDrop::Closed);
        }
        let Some(prod) = r.idx.publish() else {
            // Cannot happen right after a successful `claim`; nothing was
            // published.
            return Err(RingDrop::Closed);
        };
        if r.pages.store_u32(RX_RING_OFF_PRODUCER as usize, prod, Ordering::Release).is_err() {
            return Err(RingDrop::Closed);
        }
        r.stats.delivered += 1;
        if n < payload.len() {
            r.stats.truncated += 1;
        }
        Ok(())
    }

    /// The ring's part of `->poll`: `POLLIN` while slots are unconsumed,
    /// `POLLERR` while the consumer index is invalid. Takes the ring's lock
    /// after the caller's `smp_mb()`; the datapath publishes under it and
    /// calls `data_ready` after, so a poller either sees the slot or is on
    /// the wait queue when the wake-up comes.
    pub(crate) fn poll_mask(&self) -> PollMask {
        let mut g = self.ring.lock();
        let Some(r) = g.as_mut() else { return PollMask::NONE };
        let cons = r.user_consumer();
        let mask = match r.idx.observe(cons) {
            Ok(0) => PollMask::NONE,
            Ok(_) => PollMask::IN | PollMask::RDNORM,
            Err(_) => PollMask::ERR,
        };
        r.sync_status();
        mask
    }

    /// `SIMNIC_IOC_RX_RING_STATS` (all zero without a ring).
    pub(crate) fn stats(&self) -> RxRingStats {
        match self.ring.lock().as_ref() {
            Some(r) => RxRingStats {
                producer: r.idx.producer(),
                consumer: r.idx.consumer(),
                status: r.status,
                ..r.stats
            },
            None => RxRingStats::default(),
        }
    }
}

/// The receive path's hook (`Endpoint::queue_rcv`, softirq) for an
/// endpoint with a ring: place the datagram there, count it, call
/// `data_ready`; or drop it and say why (`rx_queue_full` on the NIC for a
/// full ring or a bad index, the ring's own counters tell which).
pub(crate) fn queue_rcv(
    ep: &Endpoint,
    payload: &[u8],
    src_port: u16,
    delivered: impl FnOnce(Result<Rcv, RcvDrop>),
) -> Result<Rcv, RcvDrop> {
    let r = if ep.rcv_shut() {
        Err(RingDrop::Closed)
    } else {
        ep.rx_ring.deliver(payload, src_port)
    };
    match r {
        Ok(()) => {
            delivered(Ok(Rcv::ToRing));
            inc(&ep.stats.rx_packets);
            add(&ep.stats.rx_bytes, payload.len() as u64);
            (ep.data_ready)(ep);
            Ok(Rcv::ToRing)
        }
        Err(why) => {
            inc(&ep.stats.rx_drops);
            let drop = match why {
                RingDrop::Full | RingDrop::BadIndex { .. } => RcvDrop::QueueFull,
                RingDrop::Closed => RcvDrop::Closed,
            };
            delivered(Err(drop));
            // Pollers learn of a bad index now (`POLLERR`), not at their
            // next wake-up, which may never come; once per episode, not
            // per dropped datagram.
            if let RingDrop::BadIndex { newly: true } = why {
                (ep.error_report)(ep);
            }
            Err(drop)
        }
    }
}
