// SPDX-License-Identifier: GPL-2.0

//! DMA-style descriptor rings: the memory the simulated NIC and its driver
//! share, and the ownership protocol over it.
//!
//! A real NIC and its driver share descriptor rings and packet buffers in
//! memory and hand descriptors back and forth with two rules: whoever fills
//! a descriptor writes the buffer and length first and the status bit last,
//! with a release barrier (`dma_wmb()` before the DD bit), and whoever
//! consumes it reads the status bit first, with an acquire barrier
//! (`dma_rmb()`), and only then the rest. Here both sides are CPUs, the
//! buffers are arrays of `AtomicU64` (so sharing them is safe Rust, with
//! relaxed word accesses standing in for DMA), and the status bits and ring
//! registers (head, tail) carry the release/acquire pairs.
//!
//! Ownership, as in e1000: on the RX ring the hardware owns the descriptors
//! from its head (RDH) up to the driver's tail (RDT), fills them and sets
//! DD (+ EOP on a frame's last one); the driver cleans from its
//! `next_to_clean` while DD is set and gives them back by moving the tail.
//! On the TX ring the driver fills descriptors from its `next_to_use` and
//! moves the tail (TDT, the doorbell); the hardware transmits from its head
//! (TDH), sets DD, and the driver reclaims descriptors whose DD is set.
//!
//! Plain `core` Rust, generic over the storage (`KVec` in the module, `Vec`
//! on the host), so the same protocol code is property- and stress-tested on
//! the host with real threads.

use crate::ring::Ring;
use core::ops::Deref;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};

/// Bytes per packet buffer (one descriptor), like e1000's 2 KiB buffers.
pub const BUF_SIZE: usize = 2048;
const BUF_WORDS: usize = BUF_SIZE / 8;

/// Descriptor done: the owner-side writer finished with it.
pub const DESC_DD: u32 = 1;
/// End of packet: the frame's last descriptor.
pub const DESC_EOP: u32 = 2;

/// How many descriptors a frame of `len` bytes takes.
pub const fn descs_for(len: usize) -> u32 {
    if len == 0 { 1 } else { len.div_ceil(BUF_SIZE) as u32 }
}

/// Where frame bytes go when the driver copies them out of a buffer.
pub trait ByteSink {
    /// Appends `bytes`; `false` if there is no room (allocation failed).
    fn extend(&mut self, bytes: &[u8]) -> bool;
}

/// A packet buffer, shared by device and driver.
pub struct DmaBuf {
    words: [AtomicU64; BUF_WORDS],
}

impl Default for DmaBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl DmaBuf {
    /// A zeroed buffer.
    pub const fn new() -> Self {
        Self { words: [const { AtomicU64::new(0) }; BUF_WORDS] }
    }

    /// Writes `data` at byte offset `off` (the writer owns the buffer).
    pub fn write_at(&self, off: usize, data: &[u8]) {
        let mut pos = off;
        let mut rest = data;
        while !rest.is_empty() {
            let (w, b) = (pos / 8, pos % 8);
            let n = (8 - b).min(rest.len());
            let word = &self.words[w];
            let mut bytes = if n == 8 { [0u8; 8] } else { word.load(Relaxed).to_le_bytes() };
            bytes[b..b + n].copy_from_slice(&rest[..n]);
            word.store(u64::from_le_bytes(bytes), Relaxed);
            pos += n;
            rest = &rest[n..];
        }
    }

    /// Zeroes the first `len` bytes (rounded up to whole words).
    pub fn zero(&self, len: usize) {
        for w in &self.words[..len.div_ceil(8)] {
            w.store(0, Relaxed);
        }
    }

    /// Reads bytes `off..off + out.len()`.
    pub fn read_at(&self, off: usize, out: &mut [u8]) {
        let mut pos = off;
        let mut done = 0;
        while done < out.len() {
            let (w, b) = (pos / 8, pos % 8);
            let n = (8 - b).min(out.len() - done);
            let bytes = self.words[w].load(Relaxed).to_le_bytes();
            out[done..done + n].copy_from_slice(&bytes[b..b + n]);
            pos += n;
            done += n;
        }
    }

    /// Appends the first `len` bytes to `sink`; `false` if it ran out of room.
    pub fn read_into(&self, len: usize, sink: &mut impl ByteSink) -> bool {
        let len = len.min(BUF_SIZE);
        for (i, w) in self.words[..len.div_ceil(8)].iter().enumerate() {
            let bytes = w.load(Relaxed).to_le_bytes();
            let n = (len - i * 8).min(8);
            if !sink.extend(&bytes[..n]) {
                return false;
            }
        }
        true
    }

    /// Copies the first `len` bytes of `src` here (device to device), in
    /// whole words: up to 7 bytes past `len` are copied too, which no reader
    /// looks at (lengths travel in the descriptors).
    pub fn copy_from(&self, src: &DmaBuf, len: usize) {
        for (d, s) in self.words[..len.min(BUF_SIZE).div_ceil(8)].iter().zip(src.words.iter()) {
            d.store(s.load(Relaxed), Relaxed);
        }
    }
}

/// Something that can be written into descriptors, chunk by chunk.
pub trait FrameSource {
    /// Frame length in bytes.
    fn len(&self) -> usize;
    /// Whether the frame is empty (a zero-length frame still takes one
    /// descriptor).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Writes chunk `k` (bytes `k * BUF_SIZE..`) into `dst` from offset 0;
    /// returns its length.
    fn write_chunk(&self, k: usize, dst: &DmaBuf) -> usize;
}

/// Length of chunk `k` of a `len`-byte frame.
pub fn chunk_len(len: usize, k: usize) -> usize {
    len.saturating_sub(k * BUF_SIZE).min(BUF_SIZE)
}

/// A frame made of a header and a payload slice, written without first
/// concatenating them.
pub struct HeaderAndPayload<'a> {
    /// Header bytes, written first.
    pub header: &'a [u8],
    /// Payload bytes.
    pub payload: &'a [u8],
}

impl FrameSource for HeaderAndPayload<'_> {
    fn len(&self) -> usize {
        self.header.len() + self.payload.len()
    }

    fn write_chunk(&self, k: usize, dst: &DmaBuf) -> usize {
        let n = chunk_len(self.len(), k);
        let (start, end) = (k * BUF_SIZE, k * BUF_SIZE + n);
        let h = self.header.len();
        if start < h {
            let e = end.min(h);
            dst.write_at(0, &self.header[start..e]);
        }
        if end > h {
            let s = start.max(h);
            dst.write_at(s - start, &self.payload[s - h..end - h]);
        }
        n
    }
}

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

/// Builds frames out of the descriptors a poll cleans: the chunks of one
/// frame until its EOP (like `rx_skb_top` in e1000 for jumbo frames). Its
/// state survives between polls, since a budget can end mid-frame.
pub struct FrameAssembler<V> {
    cur: Option<V>,
    broken: bool,
}

/// What one descriptor completed.
pub enum Assembled<V> {
    /// The frame goes on.
    More,
    /// A whole frame.
    Frame(V),
    /// A frame was lost: its buffer could not be allocated.
    Dropped,
}

impl<V> Default for FrameAssembler<V> {
    fn default() -> Self {
        Self { cur: None, broken: false }
    }
}

impl<V: ByteSink> FrameAssembler<V> {
    /// Adds one descriptor's data. At a frame's first descriptor, `alloc` is
    /// asked for a sink with room for `hint` bytes (the header's length field,
    /// read from the buffer, plus the header; it may be garbage in a malformed
    /// frame and is clamped by the caller).
    pub fn push(
        &mut self,
        buf: &DmaBuf,
        len: usize,
        eop: bool,
        alloc: impl FnOnce(usize) -> Option<V>,
    ) -> Assembled<V> {
        if self.cur.is_none() && !self.broken {
            let mut hdr = [0u8; 8];
            buf.read_at(0, &mut hdr);
            let hint = 8 + u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
            match alloc(hint) {
                Some(v) => self.cur = Some(v),
                None => self.broken = true,
            }
        }
        if let Some(v) = self.cur.as_mut() {
            if !buf.read_into(len, v) {
                self.cur = None;
                self.broken = true;
            }
        }
        if !eop {
            return Assembled::More;
        }
        let broken = core::mem::replace(&mut self.broken, false);
        match self.cur.take() {
            Some(v) if !broken => Assembled::Frame(v),
            _ => Assembled::Dropped,
        }
    }
}
