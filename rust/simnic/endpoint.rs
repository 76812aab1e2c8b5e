// SPDX-License-Identifier: GPL-2.0

//! An endpoint: what one `open()` of /dev/simnic is, the simnic analogue of a
//! datagram `struct sock`: a bound port, a receive queue (`sk_receive_queue`
//! with its `sk_rcvbuf` limit), the wait queue its readers and pollers sleep
//! on (`sk_wq`), its `data_ready` callback and its counters.
//!
//! Sending puts a frame on the NIC's TX ring (`udp_sendmsg` down to
//! `ndo_start_xmit`); receiving takes a datagram the NAPI poll queued.

use crate::data_ready::{sock_def_readable, DataReadyFn};
use crate::dgram_queue::{Datagram, DgramQueue};
use crate::dma::HeaderAndPayload;
use crate::nic::NicCore;
use crate::stats::{add, inc, EpCounters};
use crate::uapi::{EpStats, FrameHeader, MAX_DATAGRAM, RCVBUF_DEFAULT, RX_QUEUE_SLOTS};
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use kernel::{
    alloc::KVec,
    error::code_ext::{EMSGSIZE, ENOBUFS},
    new_spinlock_bh,
    prelude::*,
    sync::{
        poll::{PollMask, PollTable},
        wait::{new_wait_queue_head, WaitQueueHead},
        Arc, SpinLockBh,
    },
    time::Ktime,
};

/// A received datagram: the whole frame (header, then payload) as the poll
/// assembled it, so queueing it copies nothing. The source port is read
/// back from the header rather than stored beside it: a receive queue slot
/// is then just the vector (24 bytes), which keeps an idle endpoint, whose
/// 256 slots are inline, in half the memory.
pub(crate) struct Received {
    frame: KVec<u8>,
}

impl Received {
    /// Wraps an assembled frame whose header was validated
    /// (`FrameHeader::parse`), so it is at least a header long.
    pub(crate) fn new(frame: KVec<u8>) -> Self {
        Self { frame }
    }

    fn payload(&self) -> &[u8] {
        &self.frame[FrameHeader::SIZE..]
    }

    fn src_port(&self) -> u16 {
        // Parsed once more rather than knowing the header's layout twice.
        FrameHeader::parse(&self.frame, self.frame.len()).map_or(0, |h| h.src_port)
    }
}

impl Datagram for Received {
    fn payload_len(&self) -> usize {
        self.frame.len() - FrameHeader::SIZE
    }
}

type RxQueue = DgramQueue<Received, RX_QUEUE_SLOTS>;

/// What a receive returned.
pub(crate) struct RecvInfo {
    /// Bytes copied to the caller.
    pub(crate) copied: usize,
    /// The datagram's payload length.
    pub(crate) dgram_len: usize,
    /// Its sender's port.
    pub(crate) src_port: u16,
}

/// One open file of /dev/simnic.
#[pin_data]
pub(crate) struct Endpoint {
    pub(crate) nic: Arc<NicCore>,
    /// `sk_receive_queue`, filled by the poll in softirq context: BH lock.
    #[pin]
    pub(crate) rxq: SpinLockBh<RxQueue>,
    /// `sk_wq`: blocked readers (exclusive) and pollers sleep here.
    #[pin]
    pub(crate) wq: WaitQueueHead,
    /// Bound port (0 once released).
    port: AtomicU32,
    /// Default destination of `write()`; 0 means the endpoint's own port.
    dest: AtomicU32,
    /// `sk_data_ready`.
    pub(crate) data_ready: DataReadyFn,
    pub(crate) stats: EpCounters,
}

impl Endpoint {
    /// A new, unbound endpoint on `nic`.
    pub(crate) fn new(nic: Arc<NicCore>) -> impl PinInit<Self> {
        pin_init!(Self {
            nic,
            rxq <- new_spinlock_bh!(RxQueue::new(RCVBUF_DEFAULT as usize), "simnic_rxq"),
            wq <- new_wait_queue_head!("simnic_wq"),
            port: AtomicU32::new(0),
            dest: AtomicU32::new(0),
            data_ready: sock_def_readable,
            stats: EpCounters::default(),
        })
    }

    /// The bound port.
    pub(crate) fn port(&self) -> u16 {
        self.port.load(Relaxed) as u16
    }

    /// Records the bound port (the port table does, under its lock).
    pub(crate) fn set_port(&self, port: u16) {
        self.port.store(port as u32, Relaxed);
    }

    /// `connect()`: the default destination (0: own port).
    pub(crate) fn connect(&self, port: u16) {
        self.dest.store(port as u32, Relaxed);
    }

    /// Where `write()` sends.
    pub(crate) fn default_dest(&self) -> u16 {
        match self.dest.load(Relaxed) as u16 {
            0 => self.port(),
            p => p,
        }
    }

    /// `sk_rcvbuf`.
    pub(crate) fn set_rcvbuf(&self, bytes: u32) {
        self.rxq.lock().set_limit_bytes(bytes as usize);
    }

    /// Sends `payload` to `port` through the NIC: builds the frame header,
    /// puts the frame on the TX ring (with its launch time: now plus the wire
    /// delay) and rings the doorbell. `ENOBUFS` if the TX ring is full.
    pub(crate) fn send_to(&self, port: u16, payload: &[u8]) -> Result<usize> {
        if payload.len() > MAX_DATAGRAM {
            return Err(EMSGSIZE);
        }
        if port == 0 {
            return Err(EINVAL);
        }
        let nic = &*self.nic;
        let header = FrameHeader { dst_port: port, src_port: self.port(), len: payload.len() as u32 }.encode();
        let frame = HeaderAndPayload { header: &header, payload };
        let launch = Ktime::ktime_get().to_ns() as u64 + nic.tx_delay_ns.load(Relaxed);
        {
            let mut p = nic.tx_lock.lock();
            // Reclaim what the hardware already sent, as a driver's
            // `ndo_start_xmit` may when the ring looks full.
            nic.tx.clean(&mut p);
            if nic.tx.xmit(&mut p, &frame, launch).is_err() {
                inc(&nic.stats.tx_busy);
                return Err(ENOBUFS);
            }
        }
        inc(&nic.stats.tx_packets);
        add(&nic.stats.tx_bytes, payload.len() as u64);
        inc(&self.stats.tx_packets);
        add(&self.stats.tx_bytes, payload.len() as u64);
        nic.ring_doorbell();
        Ok(payload.len())
    }

    /// Receive path, called by the poll: queue a datagram and call
    /// `data_ready`, or count it dropped when the queue is full.
    pub(crate) fn queue_rcv(&self, d: Received) -> bool {
        let len = d.payload_len() as u64;
        let queued = self.rxq.lock().push_back(d).is_ok();
        if queued {
            inc(&self.stats.rx_packets);
            add(&self.stats.rx_bytes, len);
            (self.data_ready)(self);
        } else {
            inc(&self.stats.rx_drops);
        }
        queued
    }

    /// Dequeues one datagram and hands at most `room` bytes of it to `copy`
    /// (which writes them to user memory, failing with `EFAULT`). The rest of
    /// the datagram is discarded, like UDP. With `nonblock`, `EAGAIN` instead
    /// of sleeping; a signal while sleeping gives `ERESTARTSYS`. A failed copy
    /// puts the datagram back for the next reader.
    pub(crate) fn recv(
        &self,
        room: usize,
        nonblock: bool,
        copy: impl FnOnce(&[u8]) -> Result,
    ) -> Result<RecvInfo> {
        let d = if nonblock {
            self.rxq.lock().pop_front().ok_or(EAGAIN)?
        } else {
            // Exclusive: one datagram, one reader woken (no thundering herd).
            self.wq.wait_interruptible_exclusive(|| self.rxq.lock().pop_front())?
        };
        let len = d.payload_len();
        let want = len.min(room);
        if let Err(e) = copy(&d.payload()[..want]) {
            self.rxq.lock().requeue_front(d);
            // Readable again: pass on the wake-up we consumed.
            (self.data_ready)(self);
            return Err(e);
        }
        if want < len {
            inc(&self.stats.rx_truncated);
        }
        let src_port = d.src_port();
        self.rxq.lock().complete(len);
        drop(d);
        Ok(RecvInfo { copied: want, dgram_len: len, src_port })
    }

    /// `FIONREAD`: the next datagram's payload length, 0 if none.
    pub(crate) fn next_len(&self) -> usize {
        self.rxq.lock().front().map(|d| d.payload_len()).unwrap_or(0)
    }

    /// `->poll`: register on the wait queue, then report readiness.
    pub(crate) fn poll<'a>(&'a self, table: &mut PollTable<'a>) -> PollMask {
        table.register_wait(&self.wq);
        // TX room is the NIC's, not ours: its queue wakes us when it frees.
        table.register_wait(&self.nic.tx_wq);
        let mut mask = PollMask::NONE;
        if !self.rxq.lock().is_empty() {
            mask |= PollMask::IN | PollMask::RDNORM;
        }
        if self.nic.tx_unused() > 0 {
            mask |= PollMask::OUT | PollMask::WRNORM;
        }
        mask
    }

    /// `SIMNIC_IOC_EP_STATS`.
    pub(crate) fn ep_stats(&self) -> EpStats {
        let (queued, queued_bytes, rcvbuf) = {
            let q = self.rxq.lock();
            (q.len() as u32, q.bytes() as u32, q.limit_bytes() as u32)
        };
        let c = &self.stats;
        EpStats {
            port: self.port() as u32,
            rcvbuf,
            queued,
            queued_bytes,
            rx_packets: c.rx_packets.load(Relaxed),
            rx_bytes: c.rx_bytes.load(Relaxed),
            rx_drops: c.rx_drops.load(Relaxed),
            rx_truncated: c.rx_truncated.load(Relaxed),
            tx_packets: c.tx_packets.load(Relaxed),
            tx_bytes: c.tx_bytes.load(Relaxed),
            wakeups: c.wakeups.load(Relaxed),
        }
    }
}
