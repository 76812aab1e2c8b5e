// SPDX-License-Identifier: GPL-2.0

//! An endpoint: what one `open()` of /dev/simnic is, the simnic analogue of a
//! `struct sock` for a datagram socket: a receive queue and the wait queue
//! its readers and pollers sleep on (`sk->sk_wq`).

use crate::dgram_queue::{Datagram, DgramQueue, QueueFull};
use kernel::{
    alloc::{Flags, KVec},
    error::code_ext::{EMSGSIZE, ENOBUFS},
    iov::{IovIterDest, IovIterSource},
    new_spinlock,
    prelude::*,
    sync::{
        poll::{PollMask, PollTable},
        wait::{new_wait_queue_head, WaitQueueHead},
        SpinLock,
    },
};

/// Largest datagram, as for UDP over IPv4 on 64 KiB frames.
pub(crate) const MAX_DATAGRAM: usize = 65535;
/// Receive queue slots per endpoint.
pub(crate) const RX_QUEUE_SLOTS: usize = 256;
/// Receive queue byte limit, the default of `net.core.rmem_default`.
pub(crate) const RX_QUEUE_BYTES: usize = 212_992;

/// A datagram's payload.
pub(crate) struct Payload(KVec<u8>);

impl Datagram for Payload {
    fn payload_len(&self) -> usize {
        self.0.len()
    }
}

type RxQueue = DgramQueue<Payload, RX_QUEUE_SLOTS>;

/// One open file of /dev/simnic.
#[pin_data]
pub(crate) struct Endpoint {
    /// `sk_receive_queue`. A spinlock: datagrams arrive from contexts that
    /// cannot sleep once the NIC feeds them.
    #[pin]
    rxq: SpinLock<RxQueue>,
    /// `sk_wq`: blocked readers (exclusive) and pollers sleep here.
    #[pin]
    wq: WaitQueueHead,
}

/// Readable events, what `sock_def_readable` wakes with.
const READABLE: PollMask = PollMask::from_bits(
    PollMask::IN.bits() | PollMask::RDNORM.bits() | PollMask::RDBAND.bits(),
);
/// Writable events, what `sock_def_write_space` wakes with.
const WRITABLE: PollMask = PollMask::from_bits(
    PollMask::OUT.bits() | PollMask::WRNORM.bits() | PollMask::WRBAND.bits(),
);

impl Endpoint {
    /// A new endpoint with an empty receive queue.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            rxq <- new_spinlock!(RxQueue::new(RX_QUEUE_BYTES), "simnic_rxq"),
            wq <- new_wait_queue_head!("simnic_wq"),
        })
    }

    /// Queues a datagram copied from `src` (the echo path of `write()`):
    /// `EMSGSIZE` if too large, `EFAULT` if user memory faulted, `ENOBUFS` if
    /// the receive queue is full. Wakes one reader and the pollers.
    pub(crate) fn send(&self, src: &mut IovIterSource<'_>, gfp: Flags) -> Result<usize> {
        let len = src.len();
        if len > MAX_DATAGRAM {
            return Err(EMSGSIZE);
        }
        let data = src.copy_from_iter_vec(gfp)?;
        if data.len() != len {
            return Err(EFAULT);
        }
        self.rxq.lock().push_back(Payload(data)).map_err(|(_, why)| match why {
            QueueFull::Slots | QueueFull::Bytes => ENOBUFS,
        })?;
        self.data_ready();
        Ok(len)
    }

    /// `sk_data_ready` with `sock_def_readable`'s behaviour: wake one
    /// exclusive reader and every poller waiting for input, with the sync
    /// hint since the waker is about to return to user space.
    fn data_ready(&self) {
        if self.wq.has_sleeper() {
            self.wq.wake_up_interruptible_sync_poll(READABLE);
        }
    }

    /// Dequeues one datagram into `dst` (`read()`): copies what fits and
    /// discards the rest, like UDP. With `nonblock`, `EAGAIN` instead of
    /// sleeping; a signal while sleeping gives `ERESTARTSYS`. A faulting copy
    /// puts the datagram back for the next reader and returns `EFAULT`.
    pub(crate) fn recv(&self, dst: &mut IovIterDest<'_>, nonblock: bool) -> Result<usize> {
        let dgram = if nonblock {
            self.rxq.lock().pop_front().ok_or(EAGAIN)?
        } else {
            // Exclusive: one datagram, one reader woken (no thundering herd).
            self.wq.wait_interruptible_exclusive(|| self.rxq.lock().pop_front())?
        };
        let len = dgram.payload_len();
        let want = len.min(dst.len());
        let copied = dst.copy_to_iter(&dgram.0[..want]);
        if copied < want {
            self.rxq.lock().requeue_front(dgram);
            // It is readable again: pass that on, as we consumed a wake-up.
            self.data_ready();
            return Err(EFAULT);
        }
        let was_full = {
            let mut q = self.rxq.lock();
            let was_full = !q.has_room_for(0);
            q.complete(len);
            was_full
        };
        // `sock_def_write_space`: tell pollers waiting for POLLOUT, but only
        // on the full -> not full edge, as the SOCK_NOSPACE flag does.
        if was_full && self.wq.has_sleeper() {
            self.wq.wake_up_interruptible_poll(WRITABLE);
        }
        drop(dgram);
        Ok(copied)
    }

    /// `->poll`: register on the wait queue, then report readiness.
    pub(crate) fn poll<'a>(&'a self, table: &mut PollTable<'a>) -> PollMask {
        table.register_wait(&self.wq);
        let q = self.rxq.lock();
        let mut mask = PollMask::NONE;
        if !q.is_empty() {
            mask |= PollMask::IN | PollMask::RDNORM;
        }
        if q.has_room_for(0) {
            mask |= PollMask::OUT | PollMask::WRNORM;
        }
        mask
    }
}
