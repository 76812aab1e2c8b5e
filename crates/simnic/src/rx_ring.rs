//! The mmap receive ring of an endpoint, from the process's side
//! (Documentation/models/mmap.rst).
//!
//! [`Endpoint::rx_ring_setup`] gives the endpoint a ring; [`RxRing::map`]
//! maps it. Datagrams then arrive in the ring's slots without any system
//! call: [`RxRing::producer`] (an acquire load of the index the kernel
//! publishes) says how far the kernel has filled, [`RxRing::next_frame`]
//! shows the oldest unconsumed slot in place (its payload read with atomic
//! loads, [`SlotBytes`]), and [`RxRing::advance`]
//! hands slots back by storing the consumer index (release). `poll()` on
//! the endpoint waits for `POLLIN` when the ring is empty.

use std::io;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

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
/// stores into the shared word on [`Self::advance`].
///
/// Nothing in the mapping is ever borrowed as plain bytes: the kernel, a
/// second mapping of the same ring, a forked child or this value's own
/// [`Self::write_consumer_raw`] can make the kernel write a slot while it
/// is being read, and a `&[u8]` over memory that changes is undefined
/// behaviour whatever the reader does. So every access to shared memory is
/// atomic: the header words and descriptors as `AtomicU32`, payloads as
/// `AtomicU8` ([`SlotBytes`]). A process that breaks the protocol reads
/// garbage, never UB. Borrows keep the rest straight: a frame borrows the
/// ring (`&self`), and handing slots back ([`Self::advance`],
/// [`Self::write_consumer_raw`]) and unmapping (drop) need it whole
/// (`&mut self`, by value).
#[derive(Debug)]
pub struct RxRing {
    base: *mut u8,
    layout: RxRingReq,
    next: u32,
}

// SAFETY: The mapping is process-wide, and every access to it is atomic.
unsafe impl Send for RxRing {}

/// A datagram in a slot, borrowed from the ring.
#[derive(Debug)]
pub struct RxFrame<'a> {
    /// Its descriptor (copied out).
    pub desc: RxRingDesc,
    /// Its bytes, in the slot: `desc.len` of them, read in place.
    pub payload: SlotBytes<'a>,
    /// Its index (the consumer index it was found at).
    pub index: u32,
}

/// Bytes in the ring's shared memory, read with atomic (relaxed) loads:
/// the in-place view of a slot's payload. Copy them out with
/// [`Self::copy_to`] or [`Self::to_vec`], or compare them with `==`.
#[derive(Clone, Copy)]
pub struct SlotBytes<'a>(&'a [AtomicU8]);

impl SlotBytes<'_> {
    /// How many bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Byte `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<u8> {
        self.0.get(i).map(|b| b.load(Ordering::Relaxed))
    }

    /// Copies as many bytes as fit into `out`; returns how many.
    pub fn copy_to(&self, out: &mut [u8]) -> usize {
        let n = self.0.len().min(out.len());
        for (o, b) in out[..n].iter_mut().zip(self.0) {
            *o = b.load(Ordering::Relaxed);
        }
        n
    }

    /// The bytes, copied out.
    pub fn to_vec(&self) -> Vec<u8> {
        self.0.iter().map(|b| b.load(Ordering::Relaxed)).collect()
    }

    /// The bytes as the atomics they are read with.
    pub fn as_atomic(&self) -> &[AtomicU8] {
        self.0
    }
}

impl PartialEq<[u8]> for SlotBytes<'_> {
    fn eq(&self, other: &[u8]) -> bool {
        self.0.len() == other.len()
            && self
                .0
                .iter()
                .zip(other)
                .all(|(a, b)| a.load(Ordering::Relaxed) == *b)
    }
}

impl PartialEq<Vec<u8>> for SlotBytes<'_> {
    fn eq(&self, other: &Vec<u8>) -> bool {
        *self == **other
    }
}

impl std::fmt::Debug for SlotBytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotBytes({:?})", self.to_vec())
    }
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
            .shared_word(RX_RING_OFF_CONSUMER as usize)
            .load(Ordering::Relaxed);
        Ok(ring)
    }

    /// The layout it was mapped with.
    pub fn layout(&self) -> &RxRingReq {
        &self.layout
    }

    /// The mapping's first byte (to scribble on, in tests; using it takes
    /// `unsafe` and the care [`Self::word`] asks for).
    pub fn as_ptr(&self) -> *mut u8 {
        self.base
    }

    /// The 4-aligned word at `offset` of the mapping, as this type reads
    /// header words and descriptors.
    ///
    /// # Panics
    /// If `offset` is misaligned or outside the mapping.
    fn shared_word(&self, offset: usize) -> &AtomicU32 {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.layout.map_len as usize,
            "word at {offset}"
        );
        // SAFETY: Inside the live mapping (which lives as long as `self`),
        // aligned; the atomic type allows others (the kernel) to change it.
        unsafe { AtomicU32::from_ptr(self.base.add(offset).cast()) }
    }

    /// The 4-aligned word at `offset` of the mapping, to write what the
    /// protocol does not (tests of what the kernel does with it).
    ///
    /// # Safety
    /// Payload bytes are read as `AtomicU8` ([`SlotBytes`]); Rust does not
    /// allow accesses of different sizes to race. So no store through the
    /// word may overlap a slot's buffer while a [`SlotBytes`] of that slot
    /// (from this or any other mapping of the ring in the process) is being
    /// read. The header words and descriptors are only ever accessed as
    /// `AtomicU32`, and may be stored to at any time.
    ///
    /// # Panics
    /// If `offset` is misaligned or outside the mapping.
    pub unsafe fn word(&self, offset: usize) -> &AtomicU32 {
        self.shared_word(offset)
    }

    /// The producer index the kernel published (acquire: the slots before
    /// it are complete).
    pub fn producer(&self) -> u32 {
        self.shared_word(RX_RING_OFF_PRODUCER as usize)
            .load(Ordering::Acquire)
    }

    /// Our consumer index.
    pub fn consumer(&self) -> u32 {
        self.next
    }

    /// The consumer index in shared memory, as whoever stored it last (this
    /// value, a forked child, another mapping) left it (acquire).
    pub fn shared_consumer(&self) -> u32 {
        self.shared_word(RX_RING_OFF_CONSUMER as usize)
            .load(Ordering::Acquire)
    }

    /// The kernel's status word (`RX_RING_STATUS_BAD_INDEX`).
    pub fn status(&self) -> u32 {
        self.shared_word(RX_RING_OFF_STATUS as usize)
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
        let w = |i: usize| self.shared_word(d + 4 * i).load(Ordering::Relaxed);
        // The descriptor's four words, in their uapi order.
        let desc = RxRingDesc {
            len: w(0),
            dgram_len: w(1),
            src_port: w(2),
            flags: w(3),
        };
        let len = (desc.len as usize).min(self.layout.slot_size as usize);
        // SAFETY: The slot's buffer is inside the mapping, which the borrow
        // of `self` keeps mapped for the frame's life; `AtomicU8` has the
        // layout of `u8` and lets the kernel (or anyone) change the bytes
        // under the shared reference.
        let payload = unsafe {
            std::slice::from_raw_parts(
                self.base
                    .add(self.layout.data_at(self.next))
                    .cast::<AtomicU8>()
                    .cast_const(),
                len,
            )
        };
        Some(RxFrame {
            desc,
            payload: SlotBytes(payload),
            index: self.next,
        })
    }

    /// Returns `n` slots to the kernel: stores our consumer index plus `n`
    /// (release: our reads of those slots come before the kernel's reuse).
    /// Takes the ring whole: no frame is borrowed while the kernel may
    /// start overwriting it.
    pub fn advance(&mut self, n: u32) {
        self.next = self.next.wrapping_add(n);
        self.shared_word(RX_RING_OFF_CONSUMER as usize)
            .store(self.next, Ordering::Release);
    }

    /// Stores `v` as the consumer index, whatever it is (tests of what the
    /// kernel does with a bad one); our own copy is not changed, so frames
    /// read afterwards may be ones the kernel is overwriting (their bytes
    /// are then garbage; reading them is still sound). Like
    /// [`Self::advance`], only while no frame is borrowed.
    pub fn write_consumer_raw(&mut self, v: u32) {
        self.shared_word(RX_RING_OFF_CONSUMER as usize)
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
