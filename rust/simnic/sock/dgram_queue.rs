// SPDX-License-Identifier: GPL-2.0

//! An endpoint's receive queue: a bounded FIFO of datagrams, the simnic
//! version of `sk_receive_queue` with its `sk_rcvbuf` byte limit.
//!
//! It takes memory only while it holds datagrams, as a socket's list of
//! buffers does: its slots live in an array that grows by doubling when a
//! datagram finds it full (from [`MIN_SLOTS`] up to the queue's bound) and
//! is freed when the queue drains after holding more than [`MIN_SLOTS`].
//! An endpoint that never received anything has no array at all; one that
//! exchanges a datagram at a time keeps the smallest and allocates nothing
//! more. The array is the caller's ([`Slots`]: a `KVec` in the driver,
//! a `Vec` on the host).
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

/// The smallest slot array, and what a queue keeps while it exchanges a
/// datagram at a time.
pub const MIN_SLOTS: usize = 4;

/// A growable array of slots, which the queue re-creates at a new size.
pub trait Slots<T>: Sized {
    /// No slots, allocating nothing.
    fn empty() -> Self;
    /// `n` empty slots, or `None` if the memory is not there (the queue
    /// then refuses the datagram that needed them).
    fn try_with_slots(n: usize) -> Option<Self>;
    /// The slots.
    fn slots(&self) -> &[Option<T>];
    /// The slots, to change.
    fn slots_mut(&mut self) -> &mut [Option<T>];
}

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
    /// The slot array had to grow and the memory was not there.
    NoMem,
}

/// A FIFO of at most `N` datagrams and `limit_bytes` charged bytes, its
/// slots in `S`.
///
/// Invariants: with `cap` the length of `slots`: `len + in_flight <= cap
/// <= N` (so a requeue always finds a free slot); `bytes` is the charge of
/// the queued plus the in-flight datagrams; the queued ones are
/// `slots[head..head+len]` (mod `cap`), all `Some`, every other slot
/// `None`; `head < cap` unless `cap` is 0, when `head` is 0.
pub struct DgramQueue<T, S, const N: usize> {
    slots: S,
    head: usize,
    len: usize,
    in_flight: usize,
    bytes: usize,
    limit_bytes: usize,
    _t: core::marker::PhantomData<T>,
}

impl<T: Datagram, S: Slots<T>, const N: usize> DgramQueue<T, S, N> {
    /// An empty queue that holds at most `limit_bytes` of charge, with no
    /// slot array yet.
    pub fn new(limit_bytes: usize) -> Self {
        const { assert!(N >= MIN_SLOTS) };
        Self {
            slots: S::empty(),
            head: 0,
            len: 0,
            in_flight: 0,
            bytes: 0,
            limit_bytes,
            _t: core::marker::PhantomData,
        }
    }

    fn cap(&self) -> usize {
        self.slots.slots().len()
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

    /// Slots allocated now (memory the queue itself takes, with the size
    /// of one slot).
    pub fn capacity(&self) -> usize {
        self.cap()
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
        if self.len == 0 { None } else { self.slots.slots()[self.head].as_ref() }
    }

    /// Whether a datagram of `len` bytes would be accepted now (memory for
    /// a larger slot array permitting).
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

    /// Moves the queued datagrams into a new array of `n` slots, the head
    /// at 0. False if the array could not be allocated (nothing changed).
    fn resize(&mut self, n: usize) -> bool {
        debug_assert!(n >= self.len + self.in_flight);
        let Some(mut new) = S::try_with_slots(n) else { return false };
        let cap = self.cap();
        let (old, dst) = (self.slots.slots_mut(), new.slots_mut());
        for (i, slot) in dst.iter_mut().enumerate().take(self.len) {
            *slot = old[(self.head + i) % cap].take();
        }
        self.slots = new;
        self.head = 0;
        true
    }

    /// Appends a datagram, or gives it back with the reason it did not fit.
    pub fn push_back(&mut self, d: T) -> Result<(), (T, QueueFull)> {
        let len = d.truesize();
        if let Err(why) = self.check_room(len) {
            return Err((d, why));
        }
        let cap = self.cap();
        if self.len + self.in_flight == cap && !self.resize((cap * 2).clamp(MIN_SLOTS, N)) {
            return Err((d, QueueFull::NoMem));
        }
        let cap = self.cap();
        let tail = (self.head + self.len) % cap;
        self.slots.slots_mut()[tail] = Some(d);
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
        let cap = self.cap();
        let d = self.slots.slots_mut()[self.head].take();
        self.head = (self.head + 1) % cap;
        self.len -= 1;
        self.in_flight += 1;
        d
    }

    /// A reader is done with an in-flight datagram charged `len` bytes: it
    /// stops counting against the limits. A queue that held more than
    /// [`MIN_SLOTS`] and is now empty gives its array back.
    pub fn complete(&mut self, len: usize) {
        debug_assert!(self.in_flight > 0 && self.bytes >= len);
        self.in_flight -= 1;
        self.bytes -= len;
        self.shrink_if_drained();
    }

    fn shrink_if_drained(&mut self) {
        if self.len == 0 && self.in_flight == 0 && self.cap() > MIN_SLOTS {
            self.slots = S::empty();
            self.head = 0;
        }
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
        let cap = self.cap();
        self.head = (self.head + cap - 1) % cap;
        debug_assert!(self.slots.slots()[self.head].is_none());
        self.slots.slots_mut()[self.head] = Some(d);
        self.len += 1;
    }
}
