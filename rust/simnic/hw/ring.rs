// SPDX-License-Identifier: GPL-2.0

//! Descriptor ring index arithmetic, as e1000-class drivers do it.
//!
//! A ring has a power-of-two number of descriptors and free-running indices
//! kept in `0..size`. The hardware owns descriptors from its head up to (not
//! including) the tail the driver writes; one descriptor always stays empty
//! so that `head == tail` means "hardware owns none" rather than "all"
//! (`e1000_desc_unused()`). Plain `core` Rust, tested on the host.

/// Smallest ring the `rx_ring_size`/`tx_ring_size` parameters accept.
pub const RING_SIZE_MIN: u32 = 64;
/// Largest ring those parameters accept.
pub const RING_SIZE_MAX: u32 = 4096;

/// Index arithmetic for a ring of `size` descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    mask: u32,
}

impl Ring {
    /// A ring of `size` descriptors: `None` unless `size` is a power of two
    /// in `RING_SIZE_MIN..=RING_SIZE_MAX`.
    pub const fn new(size: u32) -> Option<Self> {
        if size.is_power_of_two() && size >= RING_SIZE_MIN && size <= RING_SIZE_MAX {
            Some(Self { mask: size - 1 })
        } else {
            None
        }
    }

    /// Number of descriptors.
    pub const fn size(&self) -> u32 {
        self.mask + 1
    }

    /// The index after `i`.
    pub const fn next(&self, i: u32) -> u32 {
        (i + 1) & self.mask
    }

    /// `i + n`, wrapped.
    pub const fn add(&self, i: u32, n: u32) -> u32 {
        i.wrapping_add(n) & self.mask
    }

    /// How many descriptors lie from `from` up to (not including) `to`.
    pub const fn distance(&self, from: u32, to: u32) -> u32 {
        to.wrapping_sub(from) & self.mask
    }

    /// `e1000_desc_unused()`: descriptors the producer may still fill when
    /// the consumer is at `next_to_clean` and the producer at `next_to_use`.
    pub const fn unused(&self, next_to_clean: u32, next_to_use: u32) -> u32 {
        self.size() - 1 - self.distance(next_to_clean, next_to_use)
    }

    /// The tail that hands every descriptor before `next_to_clean` back to
    /// the hardware, keeping the one-descriptor gap.
    pub const fn tail_for(&self, next_to_clean: u32) -> u32 {
        self.add(next_to_clean, self.mask)
    }
}
