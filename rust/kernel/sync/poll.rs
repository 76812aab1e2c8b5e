// SPDX-License-Identifier: GPL-2.0

//! Poll tables and poll masks: what `f_op->poll` receives and returns.
//!
//! Shape follows upstream Rust-for-Linux `kernel::sync::poll`, with one
//! difference: [`PollTable::register_wait`] (C's `poll_wait()`) is safe because
//! the table carries the lifetime of the file's private data, so the wait
//! queue registered must live until `->release`, after every poller has let go
//! (see the safety comment inside).
//!
//! C header: [`include/linux/poll.h`](srctree/include/linux/poll.h)

use super::wait::WaitQueueHead;
use crate::{bindings, fs::File};
use core::{marker::PhantomData, ops};

/// A set of `EPOLL*` bits: a `__poll_t`.
///
/// # Examples
///
/// ```
/// use kernel::sync::poll::PollMask;
///
/// let readable = PollMask::IN | PollMask::RDNORM;
/// assert!(readable.contains(PollMask::IN));
/// assert!(!readable.contains(PollMask::IN | PollMask::OUT));
/// assert_eq!((readable & PollMask::RDNORM).bits(), 0x40); // EPOLLRDNORM, as in uapi
/// assert_eq!(PollMask::IN.bits(), 0x1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PollMask(u32);

impl PollMask {
    /// `EPOLLIN`: there is data to read.
    pub const IN: Self = Self(bindings::EPOLLIN);
    /// `EPOLLPRI`: exceptional condition.
    pub const PRI: Self = Self(bindings::EPOLLPRI);
    /// `EPOLLOUT`: writing will not block.
    pub const OUT: Self = Self(bindings::EPOLLOUT);
    /// `EPOLLERR`: error condition.
    pub const ERR: Self = Self(bindings::EPOLLERR);
    /// `EPOLLHUP`: hang up.
    pub const HUP: Self = Self(bindings::EPOLLHUP);
    /// `EPOLLRDNORM`: normal data to read.
    pub const RDNORM: Self = Self(bindings::EPOLLRDNORM);
    /// `EPOLLRDBAND`: priority band data to read.
    pub const RDBAND: Self = Self(bindings::EPOLLRDBAND);
    /// `EPOLLWRNORM`: normal data may be written.
    pub const WRNORM: Self = Self(bindings::EPOLLWRNORM);
    /// `EPOLLWRBAND`: priority data may be written.
    pub const WRBAND: Self = Self(bindings::EPOLLWRBAND);
    /// `EPOLLRDHUP`: the peer (or a `shutdown(SHUT_RD)`) closed the read side.
    pub const RDHUP: Self = Self(bindings::EPOLLRDHUP);
    /// `EPOLLNVAL` (`POLLNVAL`): the descriptor is not open (poll's answer).
    pub const NVAL: Self = Self(bindings::EPOLLNVAL);
    /// No events.
    pub const NONE: Self = Self(0);

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Builds a mask from raw bits, e.g. a wake-up key.
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits)
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The mask without the bits only the kernel may produce: `POLLFREE`
    /// ("this wait queue is being freed", on which epoll, aio and io_uring
    /// detach their entries) and `EPOLL_URING_WAKE` (io_uring's "this
    /// wake-up comes from io_uring", on which its multishot polls stop).
    /// Wake-up keys and `->poll` results go through this, so safe code
    /// cannot fake them.
    pub const fn without_internal(self) -> Self {
        Self(self.0 & !(bindings::POLLFREE | bindings::EPOLL_URING_WAKE))
    }

    /// `poll_to_key()`: the mask as the `void *key` wake-ups pass.
    pub(crate) fn to_key(self) -> *mut crate::ffi::c_void {
        self.without_internal().0 as usize as *mut crate::ffi::c_void
    }
}

impl ops::BitOr for PollMask {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl ops::BitOrAssign for PollMask {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl ops::BitAnd for PollMask {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self {
        Self(self.0 & rhs.0)
    }
}

/// The `poll_table` a `->poll` call gets, bound to its file.
///
/// `'a` is the lifetime of the file's private data borrow that the same call
/// gets: the file operation shims create both with one lifetime.
///
/// # Invariants
///
/// `table` is null or points to a `poll_table` valid for the duration of the
/// `->poll` call that created this value, which is also the lifetime of
/// `&mut PollTable` handed to the driver. `file` is the file being polled.
pub struct PollTable<'a> {
    table: *mut bindings::poll_table,
    file: &'a File,
    _not_send: PhantomData<*mut ()>,
}

impl<'a> PollTable<'a> {
    /// Wraps the arguments of `f_op->poll`.
    ///
    /// # Safety
    ///
    /// `table` must be null or valid for the duration of the `->poll` call,
    /// and the value must not outlive that call. `'a` must not exceed the
    /// lifetime of the file's private data, i.e. every `&'a` reference the
    /// driver can produce must stay valid until `->release` of `file`.
    pub unsafe fn from_raw(file: &'a File, table: *mut bindings::poll_table) -> Self {
        // INVARIANT: As required by the caller.
        Self { table, file, _not_send: PhantomData }
    }

    /// `poll_wait()`: adds the caller (select, poll, epoll, aio or io_uring
    /// poll) to `wq`, so a later wake-up with a matching key re-polls.
    pub fn register_wait(&mut self, wq: &'a WaitQueueHead) {
        // Why the queue outlives the entry the poller's callback adds: the
        // entry is gone before the polled file's `->release`, and `wq` lives
        // at least until then (`'a` is the private data's lifetime):
        // - select/poll (`__pollwait`), aio poll and io_uring poll hold a
        //   reference to `file` until they have removed their entry, and
        //   `->release` only runs once the last reference is gone;
        // - epoll holds no file reference, but `__fput` calls
        //   `eventpoll_release()` before `->release`, which removes every
        //   epoll entry on the file's queues, synchronously.
        // So no entry is left when `wq` drops, and the drop only checks
        // (`WaitQueueHead`'s `PinnedDrop`). `POLLFREE` would not save
        // select/poll: `pollwake` ignores it and `poll_freewait` would
        // unlink from freed memory.
        // SAFETY: `table` is null or valid for this call (type invariant; the
        // helper checks for null), and `wq` outlives the entry (above).
        unsafe { bindings::poll_wait(self.file.as_ptr(), wq.as_raw(), self.table) };
    }

    /// `poll_requested_events()`: the events the poller asked for (all of
    /// them when it did not say).
    pub fn requested_events(&self) -> PollMask {
        // SAFETY: `table` is null or valid (type invariant); the helper
        // handles null.
        PollMask(unsafe { bindings::poll_requested_events(self.table) })
    }

    /// The file being polled.
    pub fn file(&self) -> &'a File {
        self.file
    }
}
