// SPDX-License-Identifier: GPL-2.0

//! An endpoint's posted asynchronous reads: the AIO reads (`io_submit` of
//! `IOCB_CMD_PREAD`/`PREADV`) that found no datagram and wait for one, oldest
//! first. The receive path hands the next datagram to the oldest live one
//! before the receive queue sees it (see `Endpoint::queue_rcv`), so while
//! reads are posted the receive queue stays empty.
//!
//! A read can be cancelled at any time (`io_cancel`, `io_destroy`, exit) by
//! the AIO core, which does not tell the driver: the entry stays here,
//! inert, until it is met. [`AioReads::push_back`] first drops the cancelled
//! ones, so they never take the place of live ones, and the receive path
//! skips them. An entry costs the NIC nothing: the pages it pins are the
//! reader's own memory, charged to the reader's `RLIMIT_MEMLOCK` by the
//! layer (`Kiocb::queue`) and given back when they are unpinned, at the
//! completion or the cancellation itself, not when the entry leaves here.
//! What an entry costs the kernel is bounded by `N` per endpoint.
//!
//! Plain `core` Rust with no kernel dependency: simnic.ko compiles it, and so
//! does `crates/simnic-core`, which tests it on the host. The caller provides
//! the locking (the receive queue's lock in the driver: the two queues
//! change together).

use crate::sock::dgram_queue::Slots;

/// What the queue needs to know about a posted read.
pub trait PostedRead {
    /// Whether it was cancelled meanwhile: it can only be dropped.
    fn is_cancelled(&self) -> bool;
}

/// Why [`AioReads::push_back`] refused a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostFull {
    /// `N` live reads are posted already.
    Slots,
    /// The slot array could not be allocated.
    NoMem,
}

/// A FIFO of at most `N` posted reads, in `S`'s slots.
///
/// Invariants: `slots` is empty or has `N` slots; the posted reads are
/// `slots[head..head+len]` (mod `N`), all `Some`, every other slot `None`.
pub struct AioReads<T, S, const N: usize> {
    slots: S,
    head: usize,
    len: usize,
    _t: core::marker::PhantomData<T>,
}

impl<T: PostedRead, S: Slots<T>, const N: usize> Default for AioReads<T, S, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: PostedRead, S: Slots<T>, const N: usize> AioReads<T, S, N> {
    /// An empty queue, with no slot array until the first read is posted.
    pub fn new() -> Self {
        Self {
            slots: S::empty(),
            head: 0,
            len: 0,
            _t: core::marker::PhantomData,
        }
    }

    /// Reads posted (cancelled ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no read is posted.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn cap(&self) -> usize {
        self.slots.slots().len()
    }

    /// Posts `r` behind the others, after dropping the cancelled ones.
    /// Refused with `r` if `N` live reads are posted, or if the slot array
    /// (made at the first post) cannot be allocated.
    pub fn push_back(&mut self, r: T) -> Result<(), (T, PostFull)> {
        self.prune();
        if self.cap() == 0 {
            match S::try_with_slots(N) {
                Some(s) if s.slots().len() == N => self.slots = s,
                _ => return Err((r, PostFull::NoMem)),
            }
            self.head = 0;
        }
        if self.len == N {
            return Err((r, PostFull::Slots));
        }
        let at = (self.head + self.len) % N;
        self.slots.slots_mut()[at] = Some(r);
        self.len += 1;
        Ok(())
    }

    /// Takes the oldest read, cancelled or not (the caller drops a cancelled
    /// one and takes the next).
    pub fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let head = self.head;
        let r = self.slots.slots_mut()[head].take();
        self.head = (head + 1) % N;
        self.len -= 1;
        r
    }

    /// Drops the cancelled reads, keeping the order of the others; returns
    /// how many were dropped.
    pub fn prune(&mut self) -> usize {
        let (head, len) = (self.head, self.len);
        let mut kept = 0;
        for i in 0..len {
            let from = (head + i) % N;
            let r = self.slots.slots_mut()[from].take();
            match r {
                Some(r) if r.is_cancelled() => {}
                Some(r) => {
                    self.slots.slots_mut()[(head + kept) % N] = Some(r);
                    kept += 1;
                }
                None => {}
            }
        }
        let dropped = len - kept;
        self.len = kept;
        dropped
    }

    /// Takes every read off the queue, oldest first, into `each` (at
    /// shutdown, to complete them; at release, to drop them). The slot array
    /// is freed.
    pub fn drain(&mut self, mut each: impl FnMut(T)) {
        while let Some(r) = self.pop_front() {
            each(r);
        }
        self.slots = S::empty();
        self.head = 0;
    }
}
