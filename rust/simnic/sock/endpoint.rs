// SPDX-License-Identifier: GPL-2.0

//! An endpoint: what one `open()` of /dev/simnic is, the simnic analogue of a
//! datagram `struct sock`: a bound port, a receive queue (`sk_receive_queue`
//! with its `sk_rcvbuf` limit), one wait queue that its readers, writers and
//! pollers all sleep on (`sk_wq`), its fasync list for `SIGIO`, its
//! shutdown state and pending error (`sk_shutdown`, `sk_err`), its
//! callbacks (`sk_data_ready`, `sk_write_space`, `sk_error_report`,
//! `sk_state_change`) and its counters.
//!
//! Sending puts a frame on the NIC's TX ring (`udp_sendmsg` down to
//! `ndo_start_xmit`); receiving takes a datagram the NAPI poll queued.

use crate::sock::aio_reads::{AioReads, PostFull, PostedRead};
use crate::sock::data_ready::{sock_def_readable, DataReadyFn};
use crate::sock::dgram_queue::{Datagram, DgramQueue, QueueFull, Slots};
use crate::hw::dma_buf::HeaderAndPayload;
use crate::sock::error_report::sock_def_error_report;
use crate::sock::rx_mmap_ring::RxMmapRing;
use crate::sock::state_change::sock_def_wakeup;
use crate::driver::nic::NicCore;
use crate::driver::stats::{add, inc, EpCounters};
use crate::uapi::{
    EpStats, FrameHeader, RxRingReq, AIO_READS_MAX, MAX_DATAGRAM, RCVBUF_DEFAULT, RX_QUEUE_SLOTS, SHUT_RD,
    SHUT_RDWR, SHUT_WR, SIMNIC_SHUT_RD_BIT, SIMNIC_SHUT_WR_BIT,
};
use crate::sock::write_space::sock_def_write_space;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering::*};
use kernel::{
    alloc::{kmalloc_size_roundup, KVec},
    error::code_ext::{EMSGSIZE, ENOBUFS},
    fs::{
        aio::{AsyncKiocb, ClaimedKiocb},
        fasync::FasyncQueue,
    },
    page::PAGE_SIZE,
    impl_has_list_links, impl_list_arc_safe, impl_list_item,
    // `TryNewListArc`: 6.12's `impl_list_arc_safe!` names it unqualified.
    list::{AtomicTracker, ListArc, ListLinks, TryNewListArc},
    new_spinlock_bh,
    prelude::*,
    signal,
    sync::{
        poll::{PollMask, PollTable},
        barrier,
        wait::{new_wait_queue_head, WaitQueueHead},
        Arc, ArcBorrow, SpinLockBh,
    },
    time::Ktime,
    trace::simnic as trace,
};

/// A received datagram: the whole frame (header, then payload) as the poll
/// assembled it, so queueing it copies nothing. The source port is read
/// back from the header rather than stored beside it, and its charge
/// computed from the capacity: a receive queue slot is just the vector.
pub(crate) struct Received {
    frame: KVec<u8>,
}

impl Received {
    /// Wraps an assembled frame whose header was validated
    /// (`FrameHeader::parse`), so it is at least a header long. It is
    /// charged what its buffer really takes: the allocator's rounded size
    /// (`skb->truesize`), which `uapi::rx_truesize` predicts.
    pub(crate) fn new(frame: KVec<u8>) -> Self {
        Self { frame }
    }

    fn payload_len(&self) -> usize {
        self.frame.len() - FrameHeader::SIZE
    }

    pub(crate) fn payload(&self) -> &[u8] {
        &self.frame[FrameHeader::SIZE..]
    }

    pub(crate) fn src_port(&self) -> u16 {
        // Parsed once more rather than knowing the header's layout twice.
        FrameHeader::parse(&self.frame, self.frame.len()).map_or(0, |h| h.src_port)
    }
}

impl Datagram for Received {
    /// Computed from the capacity each time rather than stored: the slot
    /// stays the vector alone (24 bytes in the queue's slot array),
    /// and the capacity never changes once queued.
    fn truesize(&self) -> usize {
        kmalloc_size_roundup(self.frame.capacity())
    }
}

/// The slot arrays of the receive queue and of the posted AIO reads:
/// allocated when the first datagram (read) comes, the receive queue's grown
/// by the poll (softirq, hence atomic), freed when the queue drains after a
/// burst (`dgram_queue.rs`).
impl<T> Slots<T> for KVec<Option<T>> {
    fn empty() -> Self {
        KVec::new()
    }

    fn try_with_slots(n: usize) -> Option<Self> {
        let mut v = KVec::with_capacity(n, GFP_ATOMIC | __GFP_NOWARN).ok()?;
        for _ in 0..n {
            // Within the capacity just reserved: does not allocate.
            v.push(None, GFP_ATOMIC).ok()?;
        }
        Some(v)
    }

    fn slots(&self) -> &[Option<T>] {
        self
    }

    fn slots_mut(&mut self) -> &mut [Option<T>] {
        self
    }
}

type RxQueue = DgramQueue<Received, KVec<Option<Received>>, RX_QUEUE_SLOTS>;

/// A posted AIO read: the request `fs/aio.c` left with the endpoint
/// (`-EIOCBQUEUED`). The pages it pins are the reader's memory, charged to
/// the reader's `RLIMIT_MEMLOCK` by `Kiocb::queue`, not to the NIC's
/// receive budget (which bounds kernel memory, as `udp_mem` does, and which
/// a pending `recvmsg` does not touch either).
pub(crate) struct PostedAio(AsyncKiocb);

impl PostedRead for PostedAio {
    fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// The most pages one AIO read pins: a maximum-size datagram at any page
/// offset in a buffer of up to two pieces (iovec elements); a buffer cut
/// into more pieces than that is filled as far as they reach.
pub(crate) const AIO_READ_MAX_PAGES: usize = 2 * (MAX_DATAGRAM.div_ceil(PAGE_SIZE) + 1);

/// The receive queue and, under the same lock, the AIO reads waiting for it
/// (`aio_reads.rs`): a datagram goes to the oldest posted read if there is
/// one, so the receive queue is empty while reads are posted. Derefs to the
/// receive queue.
pub(crate) struct RxState {
    dgrams: RxQueue,
    aio: AioReads<PostedAio, KVec<Option<PostedAio>>, AIO_READS_MAX>,
}

impl Deref for RxState {
    type Target = RxQueue;

    fn deref(&self) -> &RxQueue {
        &self.dgrams
    }
}

impl DerefMut for RxState {
    fn deref_mut(&mut self) -> &mut RxQueue {
        &mut self.dgrams
    }
}

/// What a receive returned.
pub(crate) struct RecvInfo {
    /// Bytes copied to the caller.
    pub(crate) copied: usize,
    /// The datagram's payload length (0 at end of file).
    pub(crate) dgram_len: usize,
    /// Its sender's port (0 at end of file).
    pub(crate) src_port: u16,
}

/// Where [`Endpoint::queue_rcv`] put a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rcv {
    /// On the receive queue, for a reader.
    Queued,
    /// Straight into the oldest posted AIO read's buffer.
    ToAioRead,
    /// Into a slot of the endpoint's mmap ring.
    ToRing,
}

/// Why [`Endpoint::queue_rcv`] dropped a datagram.
#[derive(Clone, Copy)]
pub(crate) enum RcvDrop {
    /// The receive buffer (bytes) or the queue's slots are full.
    QueueFull,
    /// The NIC-wide receive memory budget is used up.
    NoMem,
    /// Shut for reading, or being released.
    Closed,
}

/// What a reader found: the `__skb_recv_datagram` outcomes.
enum Rx {
    Datagram(Received),
    /// Shut for reading and nothing queued: `read()` returns 0.
    Eof,
    /// A pending error (`sock_error()`), reported once.
    Error(Error),
}

/// `sk_shutdown & RCV_SHUTDOWN`.
const RCV_SHUTDOWN: u32 = SIMNIC_SHUT_RD_BIT;
/// `sk_shutdown & SEND_SHUTDOWN`.
const SEND_SHUTDOWN: u32 = SIMNIC_SHUT_WR_BIT;
/// `SOCKWQ_ASYNC_NOSPACE`: a send or poll found the TX ring too full; the
/// next `write_space` signals `POLL_OUT`.
const NOSPACE: u32 = 1 << 8;
/// Released: the poll must not queue here any more.
const DEAD: u32 = 1 << 9;

/// One open file of /dev/simnic.
#[pin_data]
pub(crate) struct Endpoint {
    pub(crate) nic: Arc<NicCore>,
    /// Unique per open, to own generator flows.
    pub(crate) id: u64,
    /// `sk_receive_queue`, filled by the poll in softirq context: BH lock;
    /// with the posted AIO reads the poll fills first.
    #[pin]
    rxq: SpinLockBh<RxState>,
    /// Datagrams waiting in `rxq`, published under its lock after every
    /// change so `->poll` reads it without the lock
    /// (`skb_queue_empty_lockless()` on `sk_receive_queue.qlen`).
    rx_queued: AtomicU32,
    /// `sk_wq`: blocked readers (exclusive) and every poller sleep here, and
    /// nowhere else, so `->poll` registers exactly one queue.
    #[pin]
    pub(crate) wq: WaitQueueHead,
    /// `sk_wq->fasync_list`: files that asked for `SIGIO`.
    pub(crate) fasync: FasyncQueue,
    /// Shutdown bits, `NOSPACE`, `DEAD`.
    state: AtomicU32,
    /// `sk_err`: a pending error as a positive errno, 0 if none.
    err: AtomicI32,
    /// Bound port (0 once released).
    port: AtomicU32,
    /// Connected destination (`connect()`); 0 means not connected, and
    /// `write()` then goes to the endpoint's own port.
    dest: AtomicU32,
    /// `sk_data_ready`.
    pub(crate) data_ready: DataReadyFn,
    /// `sk_write_space`.
    pub(crate) write_space: fn(&Endpoint),
    /// `sk_error_report`.
    pub(crate) error_report: fn(&Endpoint),
    /// `sk_state_change`.
    pub(crate) state_change: fn(&Endpoint),
    pub(crate) stats: EpCounters,
    /// The mmap receive ring, once `SIMNIC_IOC_RX_RING_SETUP` made one
    /// (`sock/rx_mmap_ring.rs`): then datagrams go there, not to `rxq`.
    #[pin]
    pub(crate) rx_ring: RxMmapRing,
    /// Links on the NIC's list of endpoints waiting for TX room.
    #[pin]
    tx_wait_links: ListLinks,
    #[pin]
    tx_wait_tracker: AtomicTracker,
}

impl_has_list_links! {
    impl HasListLinks<0> for Endpoint { self.tx_wait_links }
}
impl_list_arc_safe! {
    impl ListArcSafe<0> for Endpoint { tracked_by tx_wait_tracker: AtomicTracker; }
}
impl_list_item! {
    impl ListItem<0> for Endpoint { using ListLinks; }
}

impl Endpoint {
    /// A new, unbound endpoint on `nic`.
    pub(crate) fn new(nic: Arc<NicCore>, id: u64) -> impl PinInit<Self> {
        pin_init!(Self {
            nic,
            id,
            rxq <- new_spinlock_bh!(
                RxState { dgrams: RxQueue::new(RCVBUF_DEFAULT as usize), aio: AioReads::new() },
                "simnic_rxq"
            ),
            rx_queued: AtomicU32::new(0),
            wq <- new_wait_queue_head!("simnic_wq"),
            fasync: FasyncQueue::new(),
            state: AtomicU32::new(0),
            err: AtomicI32::new(0),
            port: AtomicU32::new(0),
            dest: AtomicU32::new(0),
            data_ready: sock_def_readable,
            write_space: sock_def_write_space,
            error_report: sock_def_error_report,
            state_change: sock_def_wakeup,
            stats: EpCounters::default(),
            rx_ring <- RxMmapRing::new(),
            tx_wait_links <- ListLinks::new(),
            tx_wait_tracker <- AtomicTracker::new(),
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

    /// `connect()`: the default destination; 0 disconnects.
    pub(crate) fn connect(&self, port: u16) {
        self.dest.store(port as u32, Relaxed);
    }

    /// The port the endpoint is connected to, if it is.
    pub(crate) fn connected_to(&self) -> Option<u16> {
        match self.dest.load(Relaxed) as u16 {
            0 => None,
            p => Some(p),
        }
    }

    /// Where `write()` sends: the connected port, else the own port.
    pub(crate) fn default_dest(&self) -> u16 {
        self.connected_to().unwrap_or_else(|| self.port())
    }

    /// `sk_rcvbuf` (the caller applied `rmem_max`).
    pub(crate) fn set_rcvbuf(&self, bytes: u32) {
        self.rxq.lock().set_limit_bytes(bytes as usize);
    }

    /// `sk_shutdown`.
    fn shutdown_bits(&self) -> u32 {
        self.state.load(Acquire) & (RCV_SHUTDOWN | SEND_SHUTDOWN)
    }

    /// Shut for reading, or released: nothing more is delivered.
    pub(crate) fn rcv_shut(&self) -> bool {
        self.state.load(Acquire) & (RCV_SHUTDOWN | DEAD) != 0
    }

    /// Sends `payload` to `port` through the NIC (`udp_sendmsg`): builds
    /// the frame header and puts the frame on the TX ring with its launch
    /// time (now plus the wire delay). `ENOBUFS` if the TX ring is full,
    /// and the endpoint then waits for `write_space`; `EPIPE` (and
    /// `SIGPIPE` unless `nosignal`) once shut for writing.
    #[doc(alias = "udp_sendmsg")]
    pub(crate) fn sendmsg(this: ArcBorrow<'_, Self>, port: u16, payload: &[u8], nosignal: bool) -> Result<usize> {
        if this.shutdown_bits() & SEND_SHUTDOWN != 0 {
            if !nosignal {
                signal::send_sigpipe();
            }
            return Err(EPIPE);
        }
        if payload.len() > MAX_DATAGRAM {
            return Err(EMSGSIZE);
        }
        if port == 0 {
            return Err(EINVAL);
        }
        let nic = &*this.nic;
        let header = FrameHeader { dst_port: port, src_port: this.port(), len: payload.len() as u32 }.encode();
        let frame = HeaderAndPayload { header: &header, payload };
        let launch = Ktime::ktime_get().to_ns() as u64 + nic.tx_delay_ns.load(Relaxed);
        let Ok(sent) = nic.start_xmit(&frame, launch) else {
            inc(&nic.stats.tx_busy);
            // No room now: be told when there is (`sk_stream_wait_memory`
            // would sleep here; a datagram socket returns at once). Joined
            // before looking again: a reclaim that freed room after the
            // failed attempt either finds us on the list or is seen here.
            Self::wait_for_tx_room(this);
            if nic.tx_writable() {
                crate::sock::write_space::tx_room_available(nic);
            }
            return Err(ENOBUFS);
        };
        trace::xmit(this.port(), port, payload.len() as u32, sent.descs);
        inc(&nic.stats.tx_packets);
        add(&nic.stats.tx_bytes, payload.len() as u64);
        inc(&this.stats.tx_packets);
        add(&this.stats.tx_bytes, payload.len() as u64);
        nic.tx_doorbell(sent.tail);
        Ok(payload.len())
    }

    /// The TX ring is too full for a maximum-size datagram: set `NOSPACE`
    /// (`SOCKWQ_ASYNC_NOSPACE`) and join the NIC's list of endpoints that
    /// TX reclaim calls `write_space` on. Joining twice is a no-op.
    fn wait_for_tx_room(this: ArcBorrow<'_, Self>) {
        this.state.fetch_or(NOSPACE, AcqRel);
        if let Some(entry) = ListArc::try_from_arc_borrow(this) {
            this.nic.tx_waiters.lock().push_back(entry);
        }
    }

    /// `write_space` found room: whether `NOSPACE` was set (and is now
    /// cleared), i.e. whether a `SIGIO` with `POLL_OUT` is due.
    pub(crate) fn test_and_clear_nospace(&self) -> bool {
        self.state.fetch_and(!NOSPACE, AcqRel) & NOSPACE != 0
    }

    /// Receive path, called by the poll in softirq context: the oldest
    /// posted AIO read takes the datagram if there is one (copied straight
    /// into its pinned pages; nothing is queued, nobody woken); otherwise
    /// charge the NIC's receive memory budget and the endpoint's receive
    /// buffer, queue the datagram and call `data_ready`
    /// (`__udp_enqueue_schedule_skb`), or drop it (the caller counts why on
    /// the NIC; here, on the endpoint). An endpoint with an mmap ring gets
    /// it there instead (`sock/rx_mmap_ring.rs`). `delivered` sees the
    /// outcome before `data_ready` runs or the AIO read completes.
    pub(crate) fn queue_rcv(
        &self,
        d: Received,
        delivered: impl FnOnce(Result<Rcv, RcvDrop>),
    ) -> Result<Rcv, RcvDrop> {
        if self.rx_ring.is_active() {
            return crate::sock::rx_mmap_ring::queue_rcv(self, d.payload(), d.src_port(), delivered);
        }
        let nic = &*self.nic;
        let charge = d.truesize();
        let len = d.payload_len() as u64;
        let charged = nic.rx_mem_charge(charge);
        let mut q = self.rxq.lock();
        // Checked under the queue's lock, which `close` takes too: after
        // `close` has purged the queue nothing more is charged to it;
        // nor after the ring setup has (a datagram racing with the setup
        // is dropped as if it had arrived just before).
        let r = if self.rcv_shut() || self.rx_ring.is_active() {
            Err(RcvDrop::Closed)
        } else if let Some(read) = self.claim_aio_read(&mut q) {
            drop(q);
            if charged {
                nic.rx_mem_uncharge(charge);
            }
            delivered(Ok(Rcv::ToAioRead));
            self.complete_aio_read(read, &d);
            inc(&self.stats.rx_packets);
            add(&self.stats.rx_bytes, len);
            return Ok(Rcv::ToAioRead);
        } else if !charged {
            Err(RcvDrop::NoMem)
        } else {
            q.push_back(d).map_err(|(_, why)| match why {
                QueueFull::NoMem => RcvDrop::NoMem,
                QueueFull::Slots | QueueFull::Bytes => RcvDrop::QueueFull,
            })
        };
        self.publish_queued(&q);
        drop(q);
        if r.is_err() && charged {
            nic.rx_mem_uncharge(charge);
        }
        let r = r.map(|()| Rcv::Queued);
        delivered(r);
        match r {
            Ok(_) => {
                inc(&self.stats.rx_packets);
                add(&self.stats.rx_bytes, len);
                (self.data_ready)(self);
            }
            Err(_) => inc(&self.stats.rx_drops),
        }
        r
    }

    /// Publishes the queue's length for [`Self::poll`]; called with the
    /// queue's lock held, after each change to it.
    fn publish_queued(&self, q: &RxQueue) {
        self.rx_queued.store(q.len() as u32, Release);
    }

    /// `sock_error()`: takes the pending error, if any.
    fn take_error(&self) -> Option<Error> {
        match self.err.swap(0, AcqRel) {
            0 => None,
            e => Some(Error::from_errno(-e)),
        }
    }

    /// Records `err` (a positive errno) as `sk_err` and reports it
    /// (`sk_error_report`): pollers see `EPOLLERR`, one blocked reader wakes
    /// and returns it, `SIGIO` owners get `POLL_ERR`. If AIO reads are
    /// posted, the oldest is the reader that gets it.
    pub(crate) fn set_error(&self, errno: i32) {
        self.err.store(errno, Release);
        self.give_error_to_aio_read();
        (self.error_report)(self);
    }

    /// One step of a reader: the pending error first (as `__skb_recv_udp`
    /// checks `sock_error` first), then `EINVAL` once the endpoint has an
    /// mmap ring, then a datagram, then end of file if shut for reading.
    fn try_recv(&self) -> Option<Rx> {
        self.try_recv_locked(&mut self.rxq.lock())
    }

    /// [`Self::try_recv`] with the receive queue's lock held (by the caller,
    /// which may then post an AIO read if nothing is there).
    fn try_recv_locked(&self, q: &mut RxState) -> Option<Rx> {
        if let Some(e) = self.take_error() {
            return Some(Rx::Error(e));
        }
        // Datagrams go to the ring from now on: a reader that went to sleep
        // before the setup (which wakes every sleeper) must not wait for
        // what never comes here. Checked under the queue's lock, which the
        // setup activates the ring under. `post_aio_read` looks at the ring
        // itself first, under the same lock, so it never gets this error
        // (nor puts it back as a pending one).
        if self.rx_ring.is_active() {
            return Some(Rx::Error(EINVAL));
        }
        let d = q.pop_front();
        self.publish_queued(q);
        if let Some(d) = d {
            return Some(Rx::Datagram(d));
        }
        if self.shutdown_bits() & RCV_SHUTDOWN != 0 {
            return Some(Rx::Eof);
        }
        None
    }

    /// A datagram a reader took off the queue was copied: it leaves the
    /// queue's and the NIC's accounts.
    fn consumed(&self, d: Received) {
        let charge = d.truesize();
        self.rxq.lock().complete(charge);
        self.nic.rx_mem_uncharge(charge);
    }

    /// Posts an AIO read that found nothing to read (`-EIOCBQUEUED`): the
    /// next datagram, a pending error or end of file completes it, oldest
    /// posted first. What arrived since it looked is looked at again under
    /// the receive queue's lock, which the receive path, `set_error` and
    /// `shutdown` take to hand things to posted reads: each either sees the
    /// read posted or is seen here. `ENOBUFS` completes it if
    /// [`AIO_READS_MAX`] reads are posted already. The NIC's receive budget
    /// is not charged: the pinned pages are the reader's, charged to its
    /// `RLIMIT_MEMLOCK` by `Kiocb::queue` until they are unpinned.
    pub(crate) fn post_aio_read(&self, read: AsyncKiocb) {
        let mut q = self.rxq.lock();
        // Under the queue's lock, which the ring's setup activates it
        // under before it ends the reads posted until then.
        if self.rx_ring.is_active() {
            drop(q);
            if let Some(read) = read.try_claim() {
                read.ki_complete(Err(EINVAL));
            }
            return;
        }
        let Some(found) = self.try_recv_locked(&mut q) else {
            let r = q.aio.push_back(PostedAio(read));
            drop(q);
            if let Err((PostedAio(read), why)) = r {
                if let Some(read) = read.try_claim() {
                    read.ki_complete(Err(match why {
                        PostFull::Slots => ENOBUFS,
                        PostFull::NoMem => ENOMEM,
                    }));
                }
            }
            return;
        };
        drop(q);
        let Some(read) = read.try_claim() else {
            // Cancelled meanwhile: what it took goes back to the next reader.
            self.put_back(found);
            return;
        };
        match found {
            Rx::Datagram(d) => {
                self.complete_aio_read(read, &d);
                self.consumed(d);
            }
            Rx::Eof => read.ki_complete(Ok(0)),
            Rx::Error(e) => read.ki_complete(Err(e)),
        }
    }

    /// Gives back what a reader took and could not use: a datagram goes to
    /// [`Self::give_back`], an error becomes pending again.
    fn put_back(&self, found: Rx) {
        match found {
            Rx::Datagram(d) => self.give_back(d),
            Rx::Error(e) => {
                let _ = self.err.compare_exchange(0, e.to_errno().wrapping_neg(), AcqRel, Acquire);
                (self.error_report)(self);
            }
            Rx::Eof => {}
        }
    }

    /// The one way back for a datagram a reader took off the queue and
    /// could not use (its copy failed, or the AIO read that took it was
    /// cancelled meanwhile). Decided under the receive queue's lock, which
    /// the ring's setup, the receive path and the posting of AIO reads
    /// take too, so it goes where a datagram arriving now would go:
    ///
    /// - the mmap ring is active: `read()` cannot return it any more and
    ///   the ring's setup purged the queue, so it is dropped (counted as
    ///   purged) and its charges given back, rather than left in a queue
    ///   nobody reads, with `POLLIN` forever;
    /// - an AIO read was posted while it was out: the oldest live one
    ///   completes with it (posted reads come first, and the receive queue
    ///   stays empty while reads are posted);
    /// - otherwise it goes back to the head of the queue, and the wake-up
    ///   its reader consumed is passed on.
    fn give_back(&self, d: Received) {
        let mut q = self.rxq.lock();
        if self.rx_ring.is_active() {
            drop(q);
            self.rx_ring.count_purged(1);
            self.consumed(d);
            return;
        }
        if let Some(read) = self.claim_aio_read(&mut q) {
            drop(q);
            self.complete_aio_read(read, &d);
            self.consumed(d);
            return;
        }
        q.requeue_front(d);
        self.publish_queued(&q);
        drop(q);
        (self.data_ready)(self);
    }

    /// The oldest posted AIO read that was not cancelled, taken for
    /// completion; the cancelled ones met on the way are dropped.
    fn claim_aio_read(&self, q: &mut RxState) -> Option<ClaimedKiocb> {
        while let Some(posted) = q.aio.pop_front() {
            if let Some(read) = posted.0.try_claim() {
                return Some(read);
            }
        }
        None
    }

    /// Completes a claimed AIO read with datagram `d`: its payload, cut to
    /// the read's size, goes straight into the pinned pages.
    fn complete_aio_read(&self, mut read: ClaimedKiocb, d: &Received) {
        let n = read.copy_from_slice(d.payload());
        if n < d.payload_len() {
            inc(&self.stats.rx_truncated);
        }
        read.ki_complete(Ok(n));
    }

    /// An error arrived: the oldest posted AIO read returns it, as the one
    /// blocked reader it wakes would.
    fn give_error_to_aio_read(&self) {
        let mut q = self.rxq.lock();
        if q.aio.is_empty() {
            return;
        }
        let Some(e) = self.take_error() else {
            return;
        };
        match self.claim_aio_read(&mut q) {
            Some(read) => {
                drop(q);
                read.ki_complete(Err(e));
            }
            None => {
                let _ = self.err.compare_exchange(0, e.to_errno().wrapping_neg(), AcqRel, Acquire);
            }
        }
    }

    /// Takes every posted AIO read off the endpoint, completing each with
    /// `res` (end of file at `shutdown(SHUT_RD)`, `EINVAL` at the mmap
    /// ring's setup); at release they are all cancelled already (each held
    /// the file), and are just dropped.
    fn end_aio_reads(&self, res: Option<Result<usize>>) {
        self.rxq.lock().aio.drain(|posted| {
            if let (Some(r), Some(read)) = (res, posted.0.try_claim()) {
                read.ki_complete(r);
            }
        });
    }

    /// Dequeues one datagram and hands at most `room` bytes of it to `copy`
    /// (which writes them to user memory, failing with `EFAULT`). The rest of
    /// the datagram is discarded, like UDP. With `nonblock`, `EAGAIN` instead
    /// of sleeping; a signal while sleeping gives `ERESTARTSYS`. A failed copy
    /// puts the datagram back for the next reader. A pending error is
    /// returned once; shut for reading with nothing queued reads 0 bytes.
    #[doc(alias = "udp_recvmsg")]
    pub(crate) fn recvmsg(
        &self,
        room: usize,
        nonblock: bool,
        copy: impl FnOnce(&[u8]) -> Result,
    ) -> Result<RecvInfo> {
        // Datagrams go to the ring, and would never come here. A pending
        // error is still reported (once), so that read() can clear it.
        if self.rx_ring.is_active() {
            return Err(self.take_error().unwrap_or(EINVAL));
        }
        let next = if nonblock {
            self.try_recv().ok_or(EAGAIN)?
        } else {
            // Exclusive: one datagram, one reader woken (no thundering herd).
            self.wq.wait_interruptible_exclusive(|| self.try_recv())?
        };
        let d = match next {
            Rx::Datagram(d) => d,
            Rx::Eof => return Ok(RecvInfo { copied: 0, dgram_len: 0, src_port: 0 }),
            Rx::Error(e) => return Err(e),
        };
        let len = d.payload_len();
        let want = len.min(room);
        if let Err(e) = copy(&d.payload()[..want]) {
            // To the next reader, to a read posted meanwhile, or nowhere if
            // the ring was set up meanwhile.
            self.give_back(d);
            return Err(e);
        }
        trace::recv_copy(self.port(), len as u32, want as u32);
        if want < len {
            inc(&self.stats.rx_truncated);
        }
        let src_port = d.src_port();
        self.consumed(d);
        Ok(RecvInfo { copied: want, dgram_len: len, src_port })
    }

    /// `FIONREAD`: the next datagram's payload length, 0 if none (and
    /// always 0 with an mmap ring, which `read()` cannot read from).
    pub(crate) fn next_len(&self) -> usize {
        if self.rx_ring.is_active() {
            return 0;
        }
        self.rxq.lock().front().map(|d| d.payload_len()).unwrap_or(0)
    }

    /// `shutdown()`: stop receiving, sending, or both. Blocked readers and
    /// pollers are woken (`sk_state_change`).
    pub(crate) fn shutdown(&self, how: u32) -> Result {
        let bits = match how {
            SHUT_RD => RCV_SHUTDOWN,
            SHUT_WR => SEND_SHUTDOWN,
            SHUT_RDWR => RCV_SHUTDOWN | SEND_SHUTDOWN,
            _ => return Err(EINVAL),
        };
        self.state.fetch_or(bits, AcqRel);
        if bits & RCV_SHUTDOWN != 0 {
            // Posted AIO reads are readers too: end of file.
            self.end_aio_reads(Some(Ok(0)));
        }
        (self.state_change)(self);
        Ok(())
    }

    /// `release`: nothing more is queued here, and what is queued is freed
    /// now and given back to the NIC's budget, not when the last reference
    /// (perhaps held by the poll or the TX waiters list) goes.
    pub(crate) fn close(&self) {
        let freed = {
            let mut q = self.rxq.lock();
            self.state.fetch_or(DEAD, AcqRel);
            let freed = q.purge();
            self.publish_queued(&q);
            freed
        };
        self.nic.rx_mem_uncharge(freed);
        self.end_aio_reads(None);
        self.rx_ring.teardown(&self.nic);
    }

    /// `SIMNIC_IOC_RX_RING_SETUP`: gives the endpoint its mmap receive ring
    /// (`sock/rx_mmap_ring.rs`). Datagrams queued until then are dropped:
    /// `read()` fails on a ring endpoint, so they could never be read; and
    /// AIO reads posted until then end with `EINVAL`, as `read()` would.
    pub(crate) fn rx_ring_setup(&self, req: RxRingReq) -> Result<RxRingReq> {
        let layout = self.rx_ring.install(&self.nic, req)?;
        let (purged, freed) = {
            let mut q = self.rxq.lock();
            // Under the queue's lock, which `queue_rcv` checks under: no
            // datagram is queued after the purge.
            self.rx_ring.activate();
            let n = q.len();
            let freed = q.purge();
            self.publish_queued(&q);
            (n, freed)
        };
        self.nic.rx_mem_uncharge(freed);
        self.end_aio_reads(Some(Err(EINVAL)));
        self.rx_ring.count_purged(purged);
        // Readers blocked in `read()` since before the setup wait for a
        // datagram that now goes to the ring: wake them all (exclusive
        // ones too, as `sk_state_change` does) so that each finds the ring
        // active (`try_recv_locked`) and returns `EINVAL`. Pollers re-poll
        // and see the ring's readiness instead of the queue's.
        (self.state_change)(self);
        Ok(layout)
    }

    /// `->poll` (`datagram_poll`): register on the endpoint's wait queue,
    /// its only one, then report readiness. `EPOLLOUT` means a datagram of
    /// the largest size fits on the TX ring now, so an event loop cannot
    /// spin between `EPOLLOUT` and `ENOBUFS`; when it does not, the endpoint
    /// asks to be woken by `write_space`.
    pub(crate) fn poll<'a>(this: ArcBorrow<'a, Self>, table: &mut PollTable<'a>) -> PollMask {
        let ep: &'a Endpoint = this.into_ref();
        table.register_wait(&ep.wq);
        // `sock_poll_wait()`'s barrier: our joining the queue is ordered
        // before the loads below, and pairs with the `smp_mb()` in the
        // wakers' `wq_has_sleeper()`, which they call after changing the
        // state (queueing, an error, shutdown): either they see us on the
        // queue or we see their change. The loads take no lock.
        barrier::smp_mb();
        let mut mask = PollMask::NONE;
        if ep.err.load(Acquire) != 0 {
            mask |= PollMask::ERR;
        }
        let shut = ep.shutdown_bits();
        if shut & RCV_SHUTDOWN != 0 {
            mask |= PollMask::RDHUP | PollMask::IN | PollMask::RDNORM;
        }
        if shut == RCV_SHUTDOWN | SEND_SHUTDOWN {
            mask |= PollMask::HUP;
        }
        // Readable from the ring only, once there is one: a datagram that
        // a reader gives back after the setup's purge (its copy failed, or
        // its AIO read was cancelled, as the setup ran) must not leave
        // `POLLIN` on for a ring that is empty, which `read()` (`EINVAL`)
        // could never clear and a level-triggered loop would spin on.
        if ep.rx_ring.is_active() {
            mask |= ep.rx_ring.poll_mask();
        } else if ep.rx_queued.load(Acquire) != 0 {
            mask |= PollMask::IN | PollMask::RDNORM;
        }
        if shut & SEND_SHUTDOWN == 0 {
            // Read once, then once more only after joining the waiters: a
            // second read after a first that found room could find none
            // (a sender took it) with us on no list, and no `write_space`
            // would ever come.
            let mut writable = ep.nic.tx_writable();
            if !writable {
                Self::wait_for_tx_room(this);
                // Joined before looking again: a reclaim that freed room in
                // between either saw us on the list or is seen here.
                writable = ep.nic.tx_writable();
            }
            if writable {
                mask |= crate::sock::write_space::WRITABLE;
            }
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
            shutdown: self.shutdown_bits(),
            error: self.err.load(Relaxed) as u32,
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
