// SPDX-License-Identifier: GPL-2.0

//! The index state machine of the mmap receive ring
//! (`sock/rx_mmap_ring.rs`, Documentation/models/mmap.rst): which slot the
//! next datagram goes to, whether there is one free, and whether the
//! consumer index the process wrote into shared memory can be believed.
//!
//! The producer index is the kernel's own (this struct's `prod`); the copy
//! in shared memory is only ever written. The consumer index is the
//! process's, read from shared memory on every use, and the process may
//! write anything there at any time. So it is checked, as AF_XDP and
//! io_uring would have to if they did not simply trust it: a valid consumer
//! index lies between the last valid one and the producer (modulo 2^32: it
//! never moves backwards and never passes the producer). Anything else is a
//! bad index: nothing is delivered while it stands, and the last valid value
//! stays the kernel's idea of the consumer. A slot is handed out only from
//! `prod` (the kernel's), and only if fewer than `slots` are unconsumed
//! according to the last valid consumer, so what the process writes can
//! neither choose the slot nor make the kernel overwrite a slot it has not
//! returned.
//!
//! Plain `core` Rust, shared with `crates/simnic-core` (host proptests); the
//! caller provides the locking (a spinlock in the driver).

/// Why no slot was handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Every slot holds a datagram the process has not returned.
    Full,
    /// The consumer index in shared memory is invalid.
    BadIndex,
}

/// Producer and (last valid) consumer of a ring of `mask + 1` slots.
///
/// Invariants: `mask + 1` is a power of two (at most 2^31);
/// `prod - cons` (wrapping) is at most `mask + 1`.
#[derive(Clone, Debug)]
pub struct RingIndex {
    mask: u32,
    prod: u32,
    cons: u32,
    bad: bool,
}

impl RingIndex {
    /// An empty ring of `slots` slots; `None` unless a power of two up to
    /// 2^31.
    pub fn new(slots: u32) -> Option<Self> {
        Self::new_at(slots, 0)
    }

    /// As [`Self::new`], with both indices at `start` rather than 0 (the
    /// host tests cross the 2^32 wrap with it).
    pub fn new_at(slots: u32, start: u32) -> Option<Self> {
        if !slots.is_power_of_two() {
            return None;
        }
        Some(Self {
            mask: slots - 1,
            prod: start,
            cons: start,
            bad: false,
        })
    }

    /// Number of slots.
    pub fn slots(&self) -> u32 {
        self.mask + 1
    }

    /// The producer index: datagrams published, wrapping.
    pub fn producer(&self) -> u32 {
        self.prod
    }

    /// The last consumer index found valid.
    pub fn consumer(&self) -> u32 {
        self.cons
    }

    /// Whether the last consumer index read was invalid.
    pub fn is_bad(&self) -> bool {
        self.bad
    }

    /// Takes `user_cons`, just read from shared memory: if it is valid
    /// (from the last valid consumer up to the producer), it becomes the
    /// consumer and the number of unconsumed slots is returned; otherwise
    /// nothing changes but the bad flag.
    pub fn observe(&mut self, user_cons: u32) -> Result<u32, Refused> {
        let advanced = user_cons.wrapping_sub(self.cons);
        let published = self.prod.wrapping_sub(self.cons);
        if advanced > published {
            self.bad = true;
            return Err(Refused::BadIndex);
        }
        self.bad = false;
        self.cons = user_cons;
        Ok(self.prod.wrapping_sub(self.cons))
    }

    /// The slot the next datagram goes to, given the consumer index just
    /// read from shared memory; [`Self::publish`] makes it visible.
    pub fn claim(&mut self, user_cons: u32) -> Result<u32, Refused> {
        if self.observe(user_cons)? > self.mask {
            return Err(Refused::Full);
        }
        Ok(self.prod & self.mask)
    }

    /// The slot [`Self::claim`] handed out is filled: advances the producer
    /// and returns the value to store in shared memory. `None` (and no
    /// change) if every slot is unconsumed, i.e. without a successful
    /// `claim` before.
    pub fn publish(&mut self) -> Option<u32> {
        if self.prod.wrapping_sub(self.cons) > self.mask {
            return None;
        }
        self.prod = self.prod.wrapping_add(1);
        Some(self.prod)
    }
}
