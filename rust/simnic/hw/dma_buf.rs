// SPDX-License-Identifier: GPL-2.0

//! DMA memory: the packet buffers the simulated NIC and its driver share,
//! and what can be written into them (step 1 and 2 of
//! Documentation/nic.rst: the driver fills TX buffers, the hardware RX ones).
//!
//! A real NIC and its driver share descriptor rings and packet buffers in
//! memory and hand descriptors back and forth with two rules: whoever fills
//! a descriptor writes the buffer and length first and the status bit last,
//! with a release barrier (`dma_wmb()` before the DD bit), and whoever
//! consumes it reads the status bit first, with an acquire barrier
//! (`dma_rmb()`), and only then the rest. Here both sides are CPUs, the
//! buffers are arrays of `AtomicU64` (so sharing them is safe Rust, with
//! relaxed word accesses standing in for DMA), and the status bits and ring
//! registers (head, tail) carry the release/acquire pairs: see
//! `rx_ring.rs` and `tx_ring.rs`.
//!
//! Plain `core` Rust, shared with `crates/simnic-core`.

use core::sync::atomic::{AtomicU64, Ordering::*};

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

