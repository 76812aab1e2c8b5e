// SPDX-License-Identifier: GPL-2.0

//! Frames out of RX buffers (step 5 of Documentation/nic.rst): the chunks
//! of one frame, one per descriptor, stitched together until its EOP, like
//! e1000's `rx_skb_top` for jumbo frames. Its state survives between polls,
//! since a budget can end mid-frame.
//!
//! Plain `core` Rust, shared with `crates/simnic-core`.

use crate::hw::dma_buf::{ByteSink, DmaBuf};

/// Builds frames out of the descriptors a poll cleans, one chunk per
/// descriptor until the frame's EOP.
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
