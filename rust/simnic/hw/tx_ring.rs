// SPDX-License-Identifier: GPL-2.0

//! The TX descriptor ring (steps 1, 2 and 5 of Documentation/nic.rst): the
//! driver fills descriptors from its `next_to_use` and moves the tail (TDT,
//! the doorbell); the hardware transmits from its head (TDH) and sets DD;
//! the driver reclaims descriptors whose DD is set, as e1000 does.
//!
//! Plain `core` Rust, generic over the storage, tested on the host.

use super::dma_buf::{descs_for, DmaBuf, FrameSource, DESC_DD, DESC_EOP};
use super::ring::Ring;
use core::ops::Deref;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};

/// A TX descriptor.
#[derive(Default)]
pub struct TxDesc {
    /// Index of its buffer in the pool.
    pub buf: AtomicU32,
    /// Bytes to send from the buffer.
    pub len: AtomicU32,
    /// Earliest time to put it on the wire (a LaunchTime-like field).
    pub launch_ns: AtomicU64,
    /// `DESC_EOP` from the driver; `DESC_DD` from the hardware when sent.
    pub status: AtomicU32,
}


/// The TX ring has no room for the frame: the send fails with `ENOBUFS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxBusy;

/// The driver's private TX indices, kept under its TX lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxProducer {
    /// Next descriptor to fill.
    pub next_to_use: u32,
    /// Next descriptor to reclaim.
    pub next_to_clean: u32,
}

/// A frame at the TX ring's head, as the hardware sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxFrame {
    /// First descriptor.
    pub first: u32,
    /// Descriptors it takes.
    pub ndesc: u32,
    /// Bytes in all.
    pub len: usize,
    /// Its launch time.
    pub launch_ns: u64,
}

/// What the hardware finds at the TX ring's head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HwTx {
    /// Nothing to send.
    Idle,
    /// A frame to send.
    Frame(TxFrame),
}

/// The TX descriptor ring and its buffers.
pub struct TxRing<D, B> {
    ring: Ring,
    descs: D,
    bufs: B,
    head: AtomicU32,
    tail: AtomicU32,
}

impl<D: Deref<Target = [TxDesc]>, B: Deref<Target = [DmaBuf]>> TxRing<D, B> {
    /// An empty ring over `descs` and `bufs`.
    pub fn new(ring: Ring, descs: D, bufs: B) -> Self {
        assert!(descs.len() == ring.size() as usize && bufs.len() == descs.len());
        for (i, d) in descs.iter().enumerate() {
            d.buf.store(i as u32, Relaxed);
        }
        Self { ring, descs, bufs, head: AtomicU32::new(0), tail: AtomicU32::new(0) }
    }

    /// The ring's geometry.
    pub fn ring(&self) -> Ring {
        self.ring
    }

    /// Driver side (under its TX lock): puts one frame on the ring and
    /// rings the doorbell (TDT), or refuses if it does not fit.
    pub fn xmit(&self, p: &mut TxProducer, src: &impl FrameSource, launch_ns: u64) -> Result<u32, TxBusy> {
        let need = descs_for(src.len());
        if need > self.ring.unused(p.next_to_clean, p.next_to_use) {
            return Err(TxBusy);
        }
        for k in 0..need {
            let d = &self.descs[self.ring.add(p.next_to_use, k) as usize];
            let n = src.write_chunk(k as usize, &self.bufs[d.buf.load(Relaxed) as usize]);
            d.len.store(n as u32, Relaxed);
            d.launch_ns.store(launch_ns, Relaxed);
            d.status.store(if k + 1 == need { DESC_EOP } else { 0 }, Relaxed);
        }
        p.next_to_use = self.ring.add(p.next_to_use, need);
        // Release: the descriptors are complete before the hardware sees the
        // new tail (`wmb()` before the TDT write).
        self.tail.store(p.next_to_use, Release);
        Ok(need)
    }

    /// Driver side: reclaims descriptors the hardware has sent. Returns how
    /// many.
    pub fn clean(&self, p: &mut TxProducer) -> u32 {
        let mut n = 0;
        while p.next_to_clean != p.next_to_use
            && self.descs[p.next_to_clean as usize].status.load(Acquire) & DESC_DD != 0
        {
            p.next_to_clean = self.ring.next(p.next_to_clean);
            n += 1;
        }
        n
    }

    /// Free descriptors as the producer sees them.
    pub fn unused(&self, p: &TxProducer) -> u32 {
        self.ring.unused(p.next_to_clean, p.next_to_use)
    }

    /// Hardware side (single consumer): the frame at the head, if any.
    pub fn hw_peek(&self) -> HwTx {
        let head = self.head.load(Relaxed);
        // Acquire: pairs with `xmit`'s release of the tail.
        let tail = self.tail.load(Acquire);
        if head == tail {
            return HwTx::Idle;
        }
        let first = &self.descs[head as usize];
        let launch_ns = first.launch_ns.load(Relaxed);
        let (mut i, mut ndesc, mut len) = (head, 0, 0usize);
        while i != tail {
            let d = &self.descs[i as usize];
            ndesc += 1;
            len += d.len.load(Relaxed) as usize;
            if d.status.load(Relaxed) & DESC_EOP != 0 {
                return HwTx::Frame(TxFrame { first: head, ndesc, len, launch_ns });
            }
            i = self.ring.next(i);
        }
        // The driver publishes whole frames; a frame without EOP is not ours
        // to send yet.
        HwTx::Idle
    }

    /// A source reading `frame`'s bytes out of the TX buffers.
    pub fn frame_source<'a>(&'a self, frame: &TxFrame) -> TxFrameSource<'a, D, B> {
        TxFrameSource { tx: self, frame: *frame }
    }

    /// Hardware side: reads the first bytes of `frame` (its header).
    pub fn peek(&self, frame: &TxFrame, out: &mut [u8]) {
        let d = &self.descs[frame.first as usize];
        let n = out.len().min(d.len.load(Relaxed) as usize);
        self.bufs[d.buf.load(Relaxed) as usize].read_at(0, &mut out[..n]);
    }

    /// Hardware side: `frame` is on the wire: set DD on its descriptors and
    /// advance the head (TDH).
    pub fn hw_complete(&self, frame: &TxFrame) {
        for k in 0..frame.ndesc {
            let d = &self.descs[self.ring.add(frame.first, k) as usize];
            d.status.fetch_or(DESC_DD, Release);
        }
        self.head.store(self.ring.add(frame.first, frame.ndesc), Release);
    }

    /// Hardware head (TDH).
    pub fn head(&self) -> u32 {
        self.head.load(Acquire)
    }

    /// Driver tail (TDT).
    pub fn tail(&self) -> u32 {
        self.tail.load(Acquire)
    }
}

/// A TX frame read straight from the TX buffers (the wire between the
/// transmitter and the receiver).
pub struct TxFrameSource<'a, D, B> {
    tx: &'a TxRing<D, B>,
    frame: TxFrame,
}

impl<D: Deref<Target = [TxDesc]>, B: Deref<Target = [DmaBuf]>> FrameSource for TxFrameSource<'_, D, B> {
    fn len(&self) -> usize {
        self.frame.len
    }

    fn write_chunk(&self, k: usize, dst: &DmaBuf) -> usize {
        let d = &self.tx.descs[self.tx.ring.add(self.frame.first, k as u32) as usize];
        let n = d.len.load(Relaxed) as usize;
        dst.copy_from(&self.tx.bufs[d.buf.load(Relaxed) as usize], n);
        n
    }
}

