// SPDX-License-Identifier: GPL-2.0

//! An endpoint's receive queue: a bounded FIFO of datagrams, the simnic
//! version of `sk_receive_queue` with its `sk_rcvbuf` byte limit.
//!
//! Plain `core` Rust with no kernel dependency: simnic.ko compiles it, and so
//! does `crates/simnic-core`, which unit- and property-tests it on the host.
//! The caller provides the locking (a spinlock in the driver).
//!
//! A reader takes a datagram off the head with [`DgramQueue::pop_front`] and
//! then copies it to user space *without* the lock held (the copy may fault
//! and sleep). Until it reports back, the datagram is "in flight": it still
//! counts against both limits, so that [`DgramQueue::requeue_front`] after a
//! failed copy (`EFAULT`) always has room, and nothing is ever lost. A
//! successful copy ends with [`DgramQueue::complete`]. UDP's `udp_recvmsg`
//! drops the datagram on a faulting copy instead; we keep it.

/// What the queue needs to know about a datagram: what it is charged.
pub trait Datagram {
    /// Bytes charged against the byte limit: the memory the datagram takes
    /// (a socket buffer's `truesize`), not just its payload.
    fn truesize(&self) -> usize;
}

/// Why [`DgramQueue::push_back`] refused a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueFull {
    /// All `N` slots are taken (queued or in flight).
    Slots,
    /// The datagram would take the queue over its byte limit.
    Bytes,
}

/// A FIFO of at most `N` datagrams and `limit_bytes` charged bytes.
///
/// Invariants: `len + in_flight <= N`; `bytes` is the charge of the queued
/// plus the in-flight datagrams; the queued ones are `slots[head..head+len]`
/// (mod `N`), all `Some`, every other slot `None`.
pub struct DgramQueue<T, const N: usize> {
    slots: [Option<T>; N],
    head: usize,
    len: usize,
    in_flight: usize,
    bytes: usize,
    limit_bytes: usize,
}

impl<T: Datagram, const N: usize> DgramQueue<T, N> {
    /// An empty queue that holds at most `limit_bytes` of charge.
    pub const fn new(limit_bytes: usize) -> Self {
        assert!(N > 0);
        Self { slots: [const { None }; N], head: 0, len: 0, in_flight: 0, bytes: 0, limit_bytes }
    }

    /// Datagrams waiting to be read (in-flight ones excluded).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no datagram waits to be read.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes charged: queued plus in flight.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Datagrams handed to readers that have not yet completed or requeued.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The byte limit.
    pub fn limit_bytes(&self) -> usize {
        self.limit_bytes
    }

    /// Changes the byte limit (`SO_RCVBUF`). Datagrams already charged stay;
    /// new ones are refused until the total is below the new limit.
    pub fn set_limit_bytes(&mut self, limit_bytes: usize) {
        self.limit_bytes = limit_bytes;
    }

    /// The oldest queued datagram, if any (`FIONREAD` peeks at it).
    pub fn front(&self) -> Option<&T> {
        if self.len == 0 { None } else { self.slots[self.head].as_ref() }
    }

    /// Whether a datagram of `len` bytes would be accepted now.
    pub fn has_room_for(&self, len: usize) -> bool {
        self.check_room(len).is_ok()
    }

    fn check_room(&self, len: usize) -> Result<(), QueueFull> {
        if self.len + self.in_flight >= N {
            Err(QueueFull::Slots)
        } else if len > self.limit_bytes.saturating_sub(self.bytes) {
            Err(QueueFull::Bytes)
        } else {
            Ok(())
        }
    }

    /// Appends a datagram, or gives it back with the reason it did not fit.
    pub fn push_back(&mut self, d: T) -> Result<(), (T, QueueFull)> {
        let len = d.truesize();
        if let Err(why) = self.check_room(len) {
            return Err((d, why));
        }
        let tail = (self.head + self.len) % N;
        self.slots[tail] = Some(d);
        self.len += 1;
        self.bytes += len;
        Ok(())
    }

    /// Takes the oldest datagram, which is then in flight until
    /// [`Self::complete`] or [`Self::requeue_front`].
    pub fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let d = self.slots[self.head].take();
        self.head = (self.head + 1) % N;
        self.len -= 1;
        self.in_flight += 1;
        d
    }

    /// A reader is done with an in-flight datagram charged `len` bytes: it
    /// stops counting against the limits.
    pub fn complete(&mut self, len: usize) {
        debug_assert!(self.in_flight > 0 && self.bytes >= len);
        self.in_flight -= 1;
        self.bytes -= len;
    }

    /// Drops every queued datagram (the endpoint is closing) and returns the
    /// bytes they were charged. In-flight ones stay charged until their
    /// readers complete or requeue them.
    pub fn purge(&mut self) -> usize {
        let mut freed = 0;
        while let Some(d) = self.pop_front() {
            let charge = d.truesize();
            self.complete(charge);
            freed += charge;
        }
        freed
    }

    /// Puts an in-flight datagram back at the head (its copy failed). Cannot
    /// fail: its slot and bytes were kept reserved.
    pub fn requeue_front(&mut self, d: T) {
        debug_assert!(self.in_flight > 0);
        self.in_flight -= 1;
        self.head = (self.head + N - 1) % N;
        debug_assert!(self.slots[self.head].is_none());
        self.slots[self.head] = Some(d);
        self.len += 1;
    }
}
