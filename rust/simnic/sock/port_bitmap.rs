// SPDX-License-Identifier: GPL-2.0

//! Which ephemeral ports are taken: one bit per port, so that finding a free
//! one costs at most a pass over 256 words whatever the number of endpoints
//! (the reason `udp_lib_get_port` keeps a bitmap per hash chain too). With
//! only the port table's rbtree, a search probes port after port, each an
//! O(log n) lookup, under a spinlock that the receive path also takes.
//!
//! Plain `core` Rust, shared with `crates/simnic-core`, where it is tested
//! against a model; the port table (`port_table.rs`) keeps it in step with
//! its rbtree under the same lock.

/// Words of the bitmap: room for the 16384 ports from 49152 up.
const WORDS: usize = 256;

/// Bits for the ports `first..=65535`.
pub struct PortBitmap {
    first: u16,
    words: [u64; WORDS],
    /// Where the next search starts (round-robin, like the kernel's
    /// ephemeral port hint), as an offset from `first`.
    hint: u32,
}

impl PortBitmap {
    /// All of `first..=65535` free; `first` must leave at most 16384 ports.
    pub const fn new(first: u16) -> Self {
        assert!(65536 - first as usize <= WORDS * 64);
        Self { first, words: [0; WORDS], hint: 0 }
    }

    fn span(&self) -> u32 {
        65536 - self.first as u32
    }

    fn index(&self, port: u16) -> Option<u32> {
        (port >= self.first).then(|| (port - self.first) as u32)
    }

    /// Marks `port` taken or free; ports below `first` are not tracked.
    pub fn set(&mut self, port: u16, taken: bool) {
        if let Some(i) = self.index(port) {
            let (w, b) = ((i / 64) as usize, i % 64);
            if taken {
                self.words[w] |= 1 << b;
            } else {
                self.words[w] &= !(1 << b);
            }
        }
    }

    /// Whether `port` is marked taken (`false` below `first`).
    pub fn is_taken(&self, port: u16) -> bool {
        self.index(port).is_some_and(|i| self.words[(i / 64) as usize] & (1 << (i % 64)) != 0)
    }

    /// A free port, searching round-robin from after the last one handed
    /// out, or `None` if all are taken. Does not mark it.
    pub fn find_free(&mut self) -> Option<u16> {
        let span = self.span();
        let nwords = span.div_ceil(64);
        let start = self.hint % span;
        // Word by word from the hint's word, wrapping once; the first word
        // is visited twice (its bits from the hint on, then the ones before).
        for k in 0..=nwords {
            let w = (start / 64 + k) % nwords;
            let mut free = !self.words[w as usize];
            if k == 0 {
                free &= !0u64 << (start % 64);
            }
            // Bits past the end of the span are not ports.
            let valid = span - w * 64;
            if valid < 64 {
                free &= (1u64 << valid) - 1;
            }
            if free != 0 {
                let i = w * 64 + free.trailing_zeros();
                self.hint = (i + 1) % span;
                return Some(self.first + i as u16);
            }
        }
        None
    }
}
