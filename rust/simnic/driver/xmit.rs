// SPDX-License-Identifier: GPL-2.0

//! Transmit (steps 1 and 5 of Documentation/nic.rst): `start_xmit` puts a
//! frame on the TX ring and the doorbell tells the hardware; TX completion
//! (`clean_tx_irq`) reclaims what the hardware sent and, when that makes
//! room, tells the endpoints that waited for it (`write_space`).

use crate::driver::nic::{NicCore, TX_DESCS_MAX_FRAME};
use crate::hw::dma_buf::FrameSource;
use crate::hw::tx_ring::TxBusy;

impl NicCore {
    /// Reclaims sent TX descriptors (`e1000_clean_tx_irq`); if that made
    /// room, `write_space` for the endpoints waiting for it.
    #[doc(alias = "e1000_clean_tx_irq")]
    pub(crate) fn clean_tx_irq(&self) {
        let freed = self.tx.clean(&mut self.tx_lock.lock());
        if freed > 0 {
            crate::sock::write_space::tx_room_available(self);
        }
    }

    /// Puts a frame on the TX ring (`ndo_start_xmit`), first reclaiming
    /// what the hardware already sent, as a driver may when the ring looks
    /// full. The caller rings the doorbell.
    #[doc(alias = "ndo_start_xmit")]
    pub(crate) fn start_xmit(&self, frame: &impl FrameSource, launch_ns: u64) -> Result<(), TxBusy> {
        let (freed, r) = {
            let mut p = self.tx_lock.lock();
            let freed = self.tx.clean(&mut p);
            (freed, self.tx.xmit(&mut p, frame, launch_ns).map(|_| ()))
        };
        if freed > 0 {
            crate::sock::write_space::tx_room_available(self);
        }
        r
    }

    /// Free TX descriptors, as the driver sees them.
    pub(crate) fn tx_unused(&self) -> u32 {
        self.tx.unused(&self.tx_lock.lock())
    }

    /// Whether a datagram of the largest size fits on the TX ring now.
    pub(crate) fn tx_writable(&self) -> bool {
        self.tx_unused() >= TX_DESCS_MAX_FRAME
    }

}
