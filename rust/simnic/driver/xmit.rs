// SPDX-License-Identifier: GPL-2.0

//! Transmit (steps 1 and 5 of Documentation/nic.rst): `start_xmit` puts a
//! frame on the TX ring and the doorbell tells the hardware; TX completion
//! (`clean_tx_irq`) reclaims what the hardware sent and, when that makes
//! room, tells the endpoints that waited for it (`write_space`).

use crate::driver::nic::{NicCore, TX_DESCS_MAX_FRAME};
use crate::hw::dma_buf::FrameSource;
use crate::hw::tx_ring::{TxBusy, TxProducer};
use core::sync::atomic::Ordering;
use kernel::trace::simnic as trace;

/// What [`NicCore::start_xmit`] put on the TX ring.
pub(crate) struct Xmitted {
    /// TX descriptors the frame took.
    pub(crate) descs: u32,
    /// The TX tail (TDT) after it, for the doorbell.
    pub(crate) tail: u32,
}

impl NicCore {
    /// Reclaims sent TX descriptors (`e1000_clean_tx_irq`); if that made
    /// room, `write_space` for the endpoints waiting for it.
    #[doc(alias = "e1000_clean_tx_irq")]
    pub(crate) fn clean_tx_irq(&self) {
        let freed = {
            let mut p = self.tx_lock.lock();
            let freed = self.tx.clean(&mut p);
            self.publish_tx_room(&p);
            freed
        };
        if freed > 0 {
            crate::sock::write_space::tx_room_available(self);
        }
    }

    /// Puts a frame on the TX ring (`ndo_start_xmit`), first reclaiming
    /// what the hardware already sent, as a driver may when the ring looks
    /// full. Returns the descriptors it took and the TX tail that published
    /// them, read under `tx_lock`: after the lock another sender may move
    /// the tail on. The caller rings the doorbell ([`Self::tx_doorbell`]).
    #[doc(alias = "ndo_start_xmit")]
    pub(crate) fn start_xmit(&self, frame: &impl FrameSource, launch_ns: u64) -> Result<Xmitted, TxBusy> {
        let (freed, r) = {
            let mut p = self.tx_lock.lock();
            let freed = self.tx.clean(&mut p);
            let r = self.tx.xmit(&mut p, frame, launch_ns).map(|descs| Xmitted { descs, tail: self.tx.tail() });
            self.publish_tx_room(&p);
            (freed, r)
        };
        if freed > 0 {
            crate::sock::write_space::tx_room_available(self);
        }
        r
    }

    /// Writes the TX tail register (the doorbell) after `start_xmit`, with
    /// the tail it returned. In the inline model (`hw_inline`) with no wire
    /// delay the hardware transmits right here, in the writer's context;
    /// otherwise, or if the engine is busy, its thread is woken to do it.
    pub(crate) fn tx_doorbell(&self, tail: u32) {
        trace::doorbell(tail);
        if self.hw_inline && self.tx_delay_ns.load(Ordering::Relaxed) == 0 && crate::hw::engine::doorbell_inline(self)
        {
            return;
        }
        self.ring_doorbell();
    }

    /// Stores the free descriptor count for lockless readers; called with
    /// `tx_lock` held (the guard is the proof), after each change.
    fn publish_tx_room(&self, p: &TxProducer) {
        self.tx_room.store(self.tx.unused(p), Ordering::Release);
    }

    /// Free TX descriptors, as the driver last published them
    /// (`e1000_desc_unused()`, which reads the indices without a lock).
    pub(crate) fn tx_unused(&self) -> u32 {
        self.tx_room.load(Ordering::Acquire)
    }

    /// Whether a datagram of the largest size fits on the TX ring now,
    /// read without `tx_lock`: `->poll` runs it once per watched endpoint,
    /// and a NIC-wide lock there made select and poll over N endpoints
    /// take it N times per call against every sender.
    ///
    /// A stale answer loses nothing, if the caller reads it once before
    /// joining the waiters and once after (`Endpoint::poll`). Reporting
    /// room that a sender has just taken is what any lockless check does
    /// (`sock_writeable()` too): the send then fails with `ENOBUFS` or
    /// blocks, and joins the waiters itself. Missing room that reclaim has
    /// just made is covered by the waiters' protocol
    /// (`sock/write_space.rs`): the reclaim publishes before it takes the
    /// waiters' lock, and a poller looks again after it joined under that
    /// lock, so one of them sees the other.
    pub(crate) fn tx_writable(&self) -> bool {
        self.tx_unused() >= TX_DESCS_MAX_FRAME
    }
}
