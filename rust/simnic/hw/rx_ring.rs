// SPDX-License-Identifier: GPL-2.0

//! The RX descriptor ring (steps 2 and 5 of Documentation/nic.rst): the
//! hardware DMAs frames into the descriptors it owns, from its head (RDH)
//! up to the driver's tail (RDT), and sets DD (+ EOP on a frame's last one);
//! the driver's poll cleans from its `next_to_clean` while DD is set and
//! gives the descriptors back by moving the tail, as e1000 does.
//!
//! Plain `core` Rust, generic over the storage (`KVec` in the module, `Vec`
//! on the host), so the same protocol code is property- and stress-tested on
//! the host with real threads.

use super::dma_buf::{descs_for, DmaBuf, FrameSource, BUF_SIZE, DESC_DD, DESC_EOP};
use super::ring::Ring;
use core::ops::Deref;
use core::sync::atomic::{AtomicU32, Ordering::*};

/// An RX descriptor.
#[derive(Default)]
pub struct RxDesc {
    /// Index of its buffer in the pool.
    pub buf: AtomicU32,
    /// Bytes the hardware wrote.
    pub len: AtomicU32,
    /// Destination port the hardware's flow filter saw (informational).
    pub port: AtomicU32,
    /// `DESC_DD | DESC_EOP`.
    pub status: AtomicU32,
}


/// The RX ring wasn't able to take a frame: the hardware drops it
/// (`rx_missed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxMissed;

/// The RX descriptor ring and its buffers.
pub struct RxRing<D, B> {
    ring: Ring,
    descs: D,
    bufs: B,
    head: AtomicU32,
    tail: AtomicU32,
}

impl<D: Deref<Target = [RxDesc]>, B: Deref<Target = [DmaBuf]>> RxRing<D, B> {
    /// A ring over `descs` and `bufs` (one buffer per descriptor), every
    /// descriptor but one given to the hardware.
    pub fn new(ring: Ring, descs: D, bufs: B) -> Self {
        assert!(descs.len() == ring.size() as usize && bufs.len() == descs.len());
        for (i, d) in descs.iter().enumerate() {
            d.buf.store(i as u32, Relaxed);
        }
        Self { ring, descs, bufs, head: AtomicU32::new(0), tail: AtomicU32::new(ring.tail_for(0)) }
    }

    /// The ring's geometry.
    pub fn ring(&self) -> Ring {
        self.ring
    }

    /// Hardware side (single producer): DMA one frame with its flow-filter
    /// port, or drop it whole if the ring lacks descriptors.
    pub fn hw_receive(&self, src: &impl FrameSource, port: u16) -> Result<u32, RxMissed> {
        let len = src.len();
        let need = descs_for(len);
        let head = self.head.load(Relaxed);
        // Acquire: pairs with the driver's release of the tail, so the
        // driver's reads of these buffers are done before we overwrite them.
        let tail = self.tail.load(Acquire);
        if need > self.ring.distance(head, tail) {
            return Err(RxMissed);
        }
        for k in 0..need {
            let d = &self.descs[self.ring.add(head, k) as usize];
            let buf = &self.bufs[d.buf.load(Relaxed) as usize];
            let n = src.write_chunk(k as usize, buf);
            d.len.store(n as u32, Relaxed);
            d.port.store(port as u32, Relaxed);
            let eop = if k + 1 == need { DESC_EOP } else { 0 };
            // Release: buffer and length are visible before DD (`dma_wmb`).
            d.status.store(DESC_DD | eop, Release);
        }
        self.head.store(self.ring.add(head, need), Release);
        Ok(need)
    }

    /// Driver side (single consumer, the poll): processes up to `budget`
    /// completed descriptors from `*next_to_clean`, calling `f(buffer, len,
    /// eop)` for each, then hands them back to the hardware. Returns how many.
    pub fn clean(&self, next_to_clean: &mut u32, budget: u32, mut f: impl FnMut(&DmaBuf, usize, bool)) -> u32 {
        let mut n = 0;
        while n < budget {
            let d = &self.descs[*next_to_clean as usize];
            // Acquire: nothing of the descriptor is read before DD (`dma_rmb`).
            let status = d.status.load(Acquire);
            if status & DESC_DD == 0 {
                break;
            }
            let len = (d.len.load(Relaxed) as usize).min(BUF_SIZE);
            f(&self.bufs[d.buf.load(Relaxed) as usize], len, status & DESC_EOP != 0);
            d.status.store(0, Relaxed);
            *next_to_clean = self.ring.next(*next_to_clean);
            n += 1;
        }
        if n > 0 {
            // Release: our reads and the cleared status happen before the
            // hardware may reuse these descriptors (the RDT register write).
            self.tail.store(self.ring.tail_for(*next_to_clean), Release);
        }
        n
    }

    /// Whether the descriptor at `next_to_clean` is done (work is waiting).
    pub fn has_work(&self, next_to_clean: u32) -> bool {
        self.descs[next_to_clean as usize].status.load(Acquire) & DESC_DD != 0
    }

    /// Hardware head (RDH).
    pub fn head(&self) -> u32 {
        self.head.load(Acquire)
    }

    /// Driver tail (RDT).
    pub fn tail(&self) -> u32 {
        self.tail.load(Acquire)
    }
}

