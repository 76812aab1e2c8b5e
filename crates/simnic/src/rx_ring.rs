//! The mmap receive ring of an endpoint, from the process's side
//! (Documentation/models/mmap.rst).
//!
//! [`Endpoint::rx_ring_setup`] gives the endpoint a ring; [`RxRing::map`]
//! maps it. Datagrams then arrive in the ring's slots without any system
//! call: [`RxRing::producer`] (an acquire load of the index the kernel
//! publishes) says how far the kernel has filled, [`RxRing::next_frame`]
//! borrows the oldest unconsumed slot in place, and [`RxRing::advance`]
//! hands slots back by storing the consumer index (release). `poll()` on
//! the endpoint waits for `POLLIN` when the ring is empty.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::uapi::{
    self, RxRingDesc, RxRingReq, RxRingStats, RX_RING_OFF_CONSUMER, RX_RING_OFF_PRODUCER,
    RX_RING_OFF_STATUS,
};
use crate::{check, Endpoint};

impl Endpoint {
    /// Gives the endpoint a receive ring of `slots` slots of `slot_size`
    /// bytes (`SIMNIC_IOC_RX_RING_SETUP`) and returns its layout. From then
    /// on datagrams go to the ring and `read()` fails with `EINVAL`.
    /// `EINVAL` for a bad geometry, `EBUSY` for a second ring, `ENOBUFS`
    /// over `RLIMIT_MEMLOCK` or the NIC's receive memory budget.
    pub fn rx_ring_setup(&self, slots: u32, slot_size: u32) -> io::Result<RxRingReq> {
        self.rx_ring_setup_raw(RxRingReq {
            slots,
            slot_size,
            ..Default::default()
        })
    }

    /// [`Self::rx_ring_setup`] with every field as given (to test what the
    /// driver refuses).
    pub fn rx_ring_setup_raw(&self, mut req: RxRingReq) -> io::Result<RxRingReq> {
        // SAFETY: `req` is a live RxRingReq, read and written back.
        unsafe { self.ioctl(uapi::SIMNIC_IOC_RX_RING_SETUP, &mut req as *mut RxRingReq) }?;
        Ok(req)
    }

    /// The ring's geometry, indices and counters
    /// (`SIMNIC_IOC_RX_RING_STATS`); all zero without a ring.
    pub fn rx_ring_stats(&self) -> io::Result<RxRingStats> {
        self.ioctl_out(uapi::SIMNIC_IOC_RX_RING_STATS)
    }
}

/// A mapped receive ring. Unmapped on drop.
///
/// The process owns the consumer index; this keeps its own copy, which it
/// stores into the shared word on [`Self::advance`]. Payloads are borrowed
/// in place: sound as long as the kernel keeps to its side of the protocol
/// (it never writes a slot between the consumer and the producer), which
/// only a lie about the consumer index (another thread or process writing
/// one ahead of ours into the shared word) could make it break.
#[derive(Debug)]
pub struct RxRing {
    base: *mut u8,
    layout: RxRingReq,
    next: u32,
}

// SAFETY: The mapping is process-wide; the shared words are accessed
// atomically and the rest only read.
unsafe impl Send for RxRing {}

/// A datagram in a slot, borrowed from the ring.
#[derive(Debug)]
pub struct RxFrame<'a> {
    /// Its descriptor (copied out).
    pub desc: RxRingDesc,
    /// Its bytes, in the slot: `desc.len` of them.
    pub payload: &'a [u8],
    /// Its index (the consumer index it was found at).
    pub index: u32,
}

impl RxRing {
    /// Maps the ring of `ep` with `layout` (what setup returned):
    /// `mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)`.
    pub fn map(ep: &Endpoint, layout: &RxRingReq) -> io::Result<Self> {
        // SAFETY: A new mapping chosen by the kernel; nothing of ours is
        // replaced.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                layout.map_len as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                std::os::fd::AsRawFd::as_raw_fd(ep),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut ring = Self {
            base: p.cast(),
            layout: *layout,
            next: 0,
        };
        ring.next = ring
            .word(RX_RING_OFF_CONSUMER as usize)
            .load(Ordering::Relaxed);
        Ok(ring)
    }

    /// The layout it was mapped with.
    pub fn layout(&self) -> &RxRingReq {
        &self.layout
    }

    /// The mapping's first byte (to scribble on, in tests).
    pub fn as_ptr(&self) -> *mut u8 {
        self.base
    }

    /// The 4-aligned word at `offset` of the mapping.
    ///
    /// # Panics
    /// If `offset` is misaligned or outside the mapping.
    pub fn word(&self, offset: usize) -> &AtomicU32 {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.layout.map_len as usize,
            "word at {offset}"
        );
        // SAFETY: Inside the live mapping, aligned; shared words are only
        // ever accessed atomically.
        unsafe { AtomicU32::from_ptr(self.base.add(offset).cast()) }
    }

    /// The producer index the kernel published (acquire: the slots before
    /// it are complete).
    pub fn producer(&self) -> u32 {
        self.word(RX_RING_OFF_PRODUCER as usize)
            .load(Ordering::Acquire)
    }

    /// Our consumer index.
    pub fn consumer(&self) -> u32 {
        self.next
    }

    /// The kernel's status word (`RX_RING_STATUS_BAD_INDEX`).
    pub fn status(&self) -> u32 {
        self.word(RX_RING_OFF_STATUS as usize)
            .load(Ordering::Relaxed)
    }

    /// Unconsumed slots.
    pub fn pending(&self) -> u32 {
        self.producer().wrapping_sub(self.next)
    }

    /// The oldest unconsumed datagram, in place; `None` if the ring is
    /// empty. A length the kernel wrote beyond the slot (it never does) is
    /// cut to the slot.
    pub fn next_frame(&self) -> Option<RxFrame<'_>> {
        if self.producer() == self.next {
            return None;
        }
        let d = self.layout.desc_at(self.next);
        let mut raw = [0u8; RxRingDesc::SIZE];
        // SAFETY: The descriptor is inside the mapping; the kernel wrote it
        // before publishing the producer we loaded with acquire, and does
        // not write it again until we advance.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(d), raw.as_mut_ptr(), raw.len()) };
        let desc = RxRingDesc::from_bytes(&raw);
        let len = (desc.len as usize).min(self.layout.slot_size as usize);
        // SAFETY: The slot's buffer is inside the mapping; as for the
        // descriptor, it stays as it is until we advance past it, and the
        // borrow of `self` keeps `advance` (and the unmap) away.
        let payload = unsafe {
            std::slice::from_raw_parts(self.base.add(self.layout.data_at(self.next)), len)
        };
        Some(RxFrame {
            desc,
            payload,
            index: self.next,
        })
    }

    /// Returns `n` slots to the kernel: stores our consumer index plus `n`
    /// (release: our reads of those slots come before the kernel's reuse).
    pub fn advance(&mut self, n: u32) {
        self.next = self.next.wrapping_add(n);
        self.word(RX_RING_OFF_CONSUMER as usize)
            .store(self.next, Ordering::Release);
    }

    /// Stores `v` as the consumer index, whatever it is (tests of what the
    /// kernel does with a bad one); our own copy is not changed.
    pub fn write_consumer_raw(&self, v: u32) {
        self.word(RX_RING_OFF_CONSUMER as usize)
            .store(v, Ordering::Release);
    }
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: Our mapping, unmapped once; no borrow of it outlives
        // `self`.
        unsafe { libc::munmap(self.base.cast(), self.layout.map_len as usize) };
    }
}

/// `poll()` of one descriptor for `events` with a timeout in milliseconds
/// (negative: forever); returns `revents` (0 on timeout).
pub fn poll_one(fd: std::os::fd::RawFd, events: i16, timeout_ms: i32) -> io::Result<i16> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: One live pollfd.
    let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    check(n.into())?;
    Ok(p.revents)
}
