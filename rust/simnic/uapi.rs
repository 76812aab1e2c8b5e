// SPDX-License-Identifier: GPL-2.0

//! The user-space ABI of /dev/simnic: ioctl numbers, their argument structs,
//! the frame header on the simulated wire, and the limits.
//!
//! One file, two users: simnic.ko compiles it, and the userspace crate
//! `crates/simnic` includes it by path, so the numbers and layouts cannot
//! drift apart. Plain `core` Rust.
//!
//! Every struct is `#[repr(C)]` with explicit padding and native byte order,
//! as a C header would declare it. The driver never casts user memory to a
//! struct: it copies bytes (`to_bytes`/`from_bytes`, generated below), which
//! is safe Rust; host tests check those byte images against the in-memory
//! layout userspace passes.

/// `ioctl` magic of simnic. Registered nowhere; unused in
/// `Documentation/userspace-api/ioctl/ioctl-number.rst` of 6.12.
pub const SIMNIC_IOC_MAGIC: u32 = 0xE5;

const IOC_NONE: u32 = 0;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// `_IOC(dir, type, nr, size)` as in `include/uapi/asm-generic/ioctl.h`.
pub const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | (SIMNIC_IOC_MAGIC << 8) | nr
}

/// Largest payload of one datagram (as for UDP over IPv4 with 64 KiB frames).
pub const MAX_DATAGRAM: usize = 65535;
/// First port handed out to an endpoint that did not bind (like the
/// ephemeral range of `ip_local_port_range`).
pub const EPHEMERAL_PORT_FIRST: u16 = 49152;
/// Default receive queue byte limit (`net.core.rmem_default`).
pub const RCVBUF_DEFAULT: u32 = 212_992;
/// Smallest receive queue byte limit `SIMNIC_IOC_SET_RCVBUF` accepts.
pub const RCVBUF_MIN: u32 = 2048;
/// Largest receive queue byte limit `SIMNIC_IOC_SET_RCVBUF` accepts.
pub const RCVBUF_MAX: u32 = 16 << 20;
/// Receive queue slots per endpoint (datagrams queued or being read).
pub const RX_QUEUE_SLOTS: usize = 256;
/// AIO reads (`io_submit` of `IOCB_CMD_PREAD`/`PREADV`) that can wait for a
/// datagram on one endpoint at once; one more completes with `ENOBUFS`.
pub const AIO_READS_MAX: usize = 64;
/// Generator flows that can run at once.
pub const GEN_FLOWS: usize = 8;

/// Set in [`RecvFrom::flags`] when the datagram was longer than the buffer
/// (like `MSG_TRUNC` from `recvmsg`).
pub const SIMNIC_MSG_TRUNC: u32 = 0x20;

/// Generates `SIZE`, `to_bytes` and `from_bytes` for a `#[repr(C)]` struct
/// whose fields are listed in order and leave no implicit padding.
macro_rules! uapi_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident: $t:ty,)* }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name { $($(#[$fm])* pub $f: $t,)* }

        impl $name {
            /// Size in bytes, equal to `size_of::<Self>()` (checked below).
            pub const SIZE: usize = 0 $(+ core::mem::size_of::<$t>())*;
            /// Number of fields.
            pub const FIELDS: usize = 0 $(+ { let _ = stringify!($f); 1 })*;
            /// Every field as (name, Rust type, byte offset), in declaration
            /// order: what `crates/simnic` writes out as a C header, with
            /// the offsets the compiler really gave the fields.
            pub const LAYOUT: [(&'static str, &'static str, usize); Self::FIELDS] =
                [$((stringify!($f), stringify!($t), core::mem::offset_of!($name, $f)),)*];

            /// The struct as the bytes userspace has in memory.
            pub fn to_bytes(&self) -> [u8; Self::SIZE] {
                let mut out = [0u8; Self::SIZE];
                let mut _at = 0;
                $(
                    let b = self.$f.to_ne_bytes();
                    out[_at.._at + b.len()].copy_from_slice(&b);
                    _at += b.len();
                )*
                out
            }

            /// Every field by name, widened to `u64`, in declaration order
            /// (for counter tables and text output).
            #[allow(clippy::unnecessary_cast)]
            pub fn fields(&self) -> [(&'static str, u64); Self::FIELDS] {
                [$((stringify!($f), self.$f as u64),)*]
            }

            /// Field by field `self - earlier`, wrapping (counter deltas).
            pub fn wrapping_sub(&self, earlier: &Self) -> Self {
                Self { $($f: self.$f.wrapping_sub(earlier.$f),)* }
            }

            /// Field by field `self + other`, wrapping (sums of deltas).
            pub fn wrapping_add(&self, other: &Self) -> Self {
                Self { $($f: self.$f.wrapping_add(other.$f),)* }
            }

            /// The struct from the bytes userspace has in memory.
            pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
                let mut _at = 0;
                $(
                    let $f = {
                        const N: usize = core::mem::size_of::<$t>();
                        let mut raw = [0u8; N];
                        raw.copy_from_slice(&b[_at.._at + N]);
                        _at += N;
                        <$t>::from_ne_bytes(raw)
                    };
                )*
                Self { $($f,)* }
            }
        }

        const _: () = assert!($name::SIZE == core::mem::size_of::<$name>());
    };
}

uapi_struct! {
    /// `SIMNIC_IOC_SENDTO`: send one datagram to `port`.
    pub struct SendTo {
        /// User address of the payload.
        pub buf: u64,
        /// Payload length, at most [`MAX_DATAGRAM`].
        pub len: u32,
        /// Destination port (1..=65535).
        pub port: u32,
        /// [`SIMNIC_MSG_NOSIGNAL`] or 0; other bits give `EINVAL`.
        pub flags: u32,
        /// Reserved, zero.
        pub reserved: u32,
    }
}

/// [`SendTo::flags`]: no `SIGPIPE` when the endpoint is shut for writing
/// (`EPIPE` still), like `MSG_NOSIGNAL` on a socket.
pub const SIMNIC_MSG_NOSIGNAL: u32 = 0x4000;

uapi_struct! {
    /// `SIMNIC_IOC_RECVFROM`: receive one datagram; the ioctl returns the
    /// bytes copied, like `read`.
    pub struct RecvFrom {
        /// User address of the buffer.
        pub buf: u64,
        /// Buffer length.
        pub buf_len: u32,
        /// In: `O_NONBLOCK`-like 1 to not wait. Out: [`SIMNIC_MSG_TRUNC`] if
        /// the datagram did not fit.
        pub flags: u32,
        /// Out: the datagram's full payload length.
        pub dgram_len: u32,
        /// Out: the sender's port.
        pub src_port: u32,
    }
}

/// [`RecvFrom::flags`] input bit: fail with `EAGAIN` instead of waiting.
pub const SIMNIC_RECV_DONTWAIT: u32 = 0x40;

uapi_struct! {
    /// `SIMNIC_IOC_GEN_START`: start (or reconfigure) generator flow `flow`.
    pub struct GenFlow {
        /// Flow index, `0..GEN_FLOWS`.
        pub flow: u32,
        /// Destination port.
        pub dst_port: u32,
        /// Payload bytes per datagram, at most [`MAX_DATAGRAM`].
        pub payload_len: u32,
        /// Datagrams per second, at least 1.
        pub rate_pps: u32,
        /// Datagrams sent back to back when due (1 to 4096): a burst.
        pub burst: u32,
        /// Reserved, zero.
        pub reserved: u32,
        /// Datagrams to send before stopping; 0 means unlimited.
        pub count: u64,
    }
}

uapi_struct! {
    /// `SIMNIC_IOC_NIC_STATS`: counters of the simulated NIC and its driver.
    pub struct NicStats {
        /// Interrupts the hardware raised.
        pub irqs: u64,
        /// Frames the hardware wrote while the driver had its interrupt
        /// masked, so no interrupt was raised: interrupt mitigation.
        pub irqs_suppressed: u64,
        /// NAPI poll runs.
        pub polls: u64,
        /// Polls that used the whole budget and rescheduled themselves.
        pub budget_exhausted: u64,
        /// Polls that drained the ring and unmasked the interrupt.
        pub napi_complete: u64,
        /// RX descriptors processed.
        pub rx_descs: u64,
        /// Frames received and delivered to an endpoint queue.
        pub rx_packets: u64,
        /// Payload bytes of those frames.
        pub rx_bytes: u64,
        /// Frames the hardware dropped: RX ring full (like `rx_missed_errors`).
        pub rx_missed: u64,
        /// Frames dropped: no endpoint bound to the destination port.
        pub rx_no_port: u64,
        /// Frames dropped: the endpoint's receive queue was full.
        pub rx_queue_full: u64,
        /// Frames dropped: malformed header.
        pub rx_errors: u64,
        /// Frames transmitted on the TX ring.
        pub tx_packets: u64,
        /// Payload bytes of those frames.
        pub tx_bytes: u64,
        /// Sends refused with `ENOBUFS`: TX ring full.
        pub tx_busy: u64,
        /// Frames the built-in generator made.
        pub gen_packets: u64,
        /// Wake-ups of endpoint wait queues by `data_ready`.
        pub wakeups: u64,
        /// Times the hardware engine ran: its thread, or a doorbell inline
        /// (module parameter `hw_inline`).
        pub hw_runs: u64,
        /// Frames transmitted while loopback was off: they left the NIC and
        /// never came back ([`SIMNIC_IOC_SET_LOOPBACK`]).
        pub tx_lost: u64,
        /// Frames dropped: the NIC-wide receive memory budget
        /// ([`Limits::rx_mem_max`]) was used up (like `udp_mem`).
        pub rx_mem_drops: u64,
        /// Frames dropped: the endpoint was shut for reading or closing.
        pub rx_closed: u64,
        /// Frames to an unbound port whose sender is connected to that port:
        /// the sender got `ECONNREFUSED`, as from an ICMP port unreachable.
        pub port_unreach: u64,
        /// Endpoints woken by `write_space` when TX descriptors were
        /// reclaimed (they had found the TX ring too full).
        pub write_space: u64,
    }
}

uapi_struct! {
    /// `SIMNIC_IOC_EP_STATS`: counters of the calling endpoint.
    pub struct EpStats {
        /// Bound port.
        pub port: u32,
        /// Receive queue byte limit.
        pub rcvbuf: u32,
        /// Datagrams waiting in the receive queue.
        pub queued: u32,
        /// Bytes charged to the receive queue: each datagram's memory as
        /// allocated ([`rx_truesize`]), like a socket's `sk_rmem_alloc`.
        pub queued_bytes: u32,
        /// [`SIMNIC_SHUT_RD_BIT`] and [`SIMNIC_SHUT_WR_BIT`] as shut down.
        pub shutdown: u32,
        /// The pending error (`sk_err`) as a positive errno, 0 if none.
        pub error: u32,
        /// Datagrams queued for this endpoint.
        pub rx_packets: u64,
        /// Their payload bytes.
        pub rx_bytes: u64,
        /// Datagrams dropped: receive queue full.
        pub rx_drops: u64,
        /// Datagrams truncated by a short read.
        pub rx_truncated: u64,
        /// Datagrams sent.
        pub tx_packets: u64,
        /// Their payload bytes.
        pub tx_bytes: u64,
        /// Times `data_ready` woke a waiter.
        pub wakeups: u64,
    }
}

uapi_struct! {
    /// `SIMNIC_IOC_RING_STATE`: a snapshot of the descriptor rings.
    pub struct RingState {
        /// RX descriptors.
        pub rx_size: u32,
        /// RX head: next descriptor the hardware writes (RDH).
        pub rx_head: u32,
        /// RX tail: descriptors before it belong to the hardware (RDT).
        pub rx_tail: u32,
        /// Next descriptor the driver's poll looks at.
        pub rx_next_to_clean: u32,
        /// TX descriptors.
        pub tx_size: u32,
        /// TX head: next descriptor the hardware transmits (TDH).
        pub tx_head: u32,
        /// TX tail: where the driver puts the next frame (TDT).
        pub tx_tail: u32,
        /// Next transmitted descriptor the driver reclaims.
        pub tx_next_to_clean: u32,
        /// 1 while the driver has masked the NIC interrupt.
        pub irq_masked: u32,
        /// NAPI budget (descriptors per poll).
        pub budget: u32,
        /// Delay between TX and the frame reaching RX, in nanoseconds.
        pub tx_delay_ns: u64,
    }
}

uapi_struct! {
    /// `SIMNIC_IOC_GET_LIMITS` / `SIMNIC_IOC_SET_LIMITS`: the NIC-wide
    /// memory limits (the `net.core.rmem_max` and `net.ipv4.udp_mem` of
    /// simnic) and, read-only, what is charged now.
    pub struct Limits {
        /// Largest receive buffer an endpoint without `CAP_NET_ADMIN` may
        /// set with `SIMNIC_IOC_SET_RCVBUF`; larger requests are clamped to
        /// it, as `SO_RCVBUF` is to `rmem_max`.
        pub rmem_max: u32,
        /// Receive memory all endpoints together may hold, in bytes; a
        /// datagram that would go over is dropped (`rx_mem_drops`).
        pub rx_mem_max: u32,
        /// Out: receive memory charged now, all endpoints together.
        pub rx_mem: u64,
    }
}

/// [`EpStats::shutdown`] bit: shut for reading.
pub const SIMNIC_SHUT_RD_BIT: u32 = 1;
/// [`EpStats::shutdown`] bit: shut for writing.
pub const SIMNIC_SHUT_WR_BIT: u32 = 2;

/// `SIMNIC_IOC_SHUTDOWN` argument: stop receiving (`SHUT_RD`).
pub const SHUT_RD: u32 = 0;
/// `SIMNIC_IOC_SHUTDOWN` argument: stop sending (`SHUT_WR`).
pub const SHUT_WR: u32 = 1;
/// `SIMNIC_IOC_SHUTDOWN` argument: both (`SHUT_RDWR`).
pub const SHUT_RDWR: u32 = 2;

/// Default [`Limits::rmem_max`], as `net.core.rmem_max`.
pub const RMEM_MAX_DEFAULT: u32 = 212_992;
/// Default [`Limits::rx_mem_max`]: 64 MiB.
pub const RX_MEM_MAX_DEFAULT: u32 = 64 << 20;

/// The memory a received datagram of `payload` bytes is charged for: the
/// buffer the poll allocates for its frame (header and payload), rounded up
/// as `kmalloc` rounds it (`kmalloc_size_roundup`: its slab caches up to
/// 8 KiB, whole pages in powers of two above). The driver charges the real
/// rounded size; this mirror lets user space predict it, and the in-guest
/// tests check that the two agree.
pub const fn rx_truesize(payload: usize) -> usize {
    let n = FrameHeader::SIZE + payload;
    let caches = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];
    let mut i = 0;
    while i < caches.len() {
        if n <= caches[i] {
            return caches[i];
        }
        i += 1;
    }
    let mut pages = 4096;
    while pages < n {
        pages *= 2;
    }
    pages
}

/// `SIMNIC_IOC_BIND`: bind to the port in the `u32` argument (0 picks a free
/// ephemeral port). `EADDRINUSE` if taken, `EINVAL` above 65535.
pub const SIMNIC_IOC_BIND: u32 = ioc(IOC_WRITE, 1, 4);
/// `SIMNIC_IOC_CONNECT`: default destination of `write()` (0: own port).
pub const SIMNIC_IOC_CONNECT: u32 = ioc(IOC_WRITE, 2, 4);
/// `SIMNIC_IOC_GET_PORT`: the bound port, into a `u32`.
pub const SIMNIC_IOC_GET_PORT: u32 = ioc(IOC_READ, 3, 4);
/// `SIMNIC_IOC_SENDTO`: [`SendTo`]; returns the bytes sent.
pub const SIMNIC_IOC_SENDTO: u32 = ioc(IOC_WRITE, 4, SendTo::SIZE);
/// `SIMNIC_IOC_RECVFROM`: [`RecvFrom`]; returns the bytes copied.
pub const SIMNIC_IOC_RECVFROM: u32 = ioc(IOC_READ | IOC_WRITE, 5, RecvFrom::SIZE);
/// `SIMNIC_IOC_SET_RCVBUF`: receive queue byte limit, a `u32` in
/// `RCVBUF_MIN..=RCVBUF_MAX` (`EINVAL` otherwise). Without `CAP_NET_ADMIN`
/// it is clamped to [`Limits::rmem_max`] (as `SO_RCVBUF` is to
/// `net.core.rmem_max`; with it, as `SO_RCVBUFFORCE`, it is not).
pub const SIMNIC_IOC_SET_RCVBUF: u32 = ioc(IOC_WRITE, 6, 4);
/// `SIMNIC_IOC_EP_STATS`: [`EpStats`] of this endpoint.
pub const SIMNIC_IOC_EP_STATS: u32 = ioc(IOC_READ, 7, EpStats::SIZE);
/// `SIMNIC_IOC_NIC_STATS`: [`NicStats`].
pub const SIMNIC_IOC_NIC_STATS: u32 = ioc(IOC_READ, 8, NicStats::SIZE);
/// `SIMNIC_IOC_RING_STATE`: [`RingState`].
pub const SIMNIC_IOC_RING_STATE: u32 = ioc(IOC_READ, 9, RingState::SIZE);
/// `SIMNIC_IOC_GEN_START`: [`GenFlow`]. Needs `CAP_NET_ADMIN` (`EPERM`), as
/// do the other NIC-wide settings below. A flow belongs to the endpoint that
/// started it and stops when that endpoint is closed.
pub const SIMNIC_IOC_GEN_START: u32 = ioc(IOC_WRITE, 10, GenFlow::SIZE);
/// `SIMNIC_IOC_GEN_STOP`: stop the flow in the `u32` argument (`u32::MAX`: all).
/// A pass of the hardware engine already under way may still deliver up to
/// four bursts of the flow after the call returns.
pub const SIMNIC_IOC_GEN_STOP: u32 = ioc(IOC_WRITE, 11, 4);
/// `SIMNIC_IOC_SET_TX_DELAY`: wire delay in nanoseconds, a `u64`
/// (at most one second).
pub const SIMNIC_IOC_SET_TX_DELAY: u32 = ioc(IOC_WRITE, 12, 8);
/// `SIMNIC_IOC_RESET_STATS`: zero the NIC counters (no argument).
pub const SIMNIC_IOC_RESET_STATS: u32 = ioc(IOC_NONE, 13, 0);
/// `SIMNIC_IOC_SHUTDOWN`: [`SHUT_RD`], [`SHUT_WR`] or [`SHUT_RDWR`] in a
/// `u32`, as `shutdown(2)`.
pub const SIMNIC_IOC_SHUTDOWN: u32 = ioc(IOC_WRITE, 14, 4);
/// `SIMNIC_IOC_SET_LOOPBACK`: a `u32`, 1 (default) to loop transmitted
/// frames back to the RX ring, 0 to let them leave and be lost.
pub const SIMNIC_IOC_SET_LOOPBACK: u32 = ioc(IOC_WRITE, 15, 4);
/// `SIMNIC_IOC_GET_LIMITS`: [`Limits`].
pub const SIMNIC_IOC_GET_LIMITS: u32 = ioc(IOC_READ, 16, Limits::SIZE);
/// `SIMNIC_IOC_SET_LIMITS`: [`Limits`] (`rx_mem` ignored).
pub const SIMNIC_IOC_SET_LIMITS: u32 = ioc(IOC_WRITE, 17, Limits::SIZE);
/// Largest wire delay `SIMNIC_IOC_SET_TX_DELAY` accepts.
pub const TX_DELAY_MAX_NS: u64 = 1_000_000_000;

// ---------------------------------------------------------------------------
// The mmap receive ring (Documentation/models/mmap.rst): datagrams delivered
// into memory shared with the process instead of the receive queue.
//
// The mapping, from offset 0, `map_len` bytes:
//
//   0                  the header page: the producer index at
//                      RX_RING_OFF_PRODUCER (written by the kernel), the
//                      consumer index at RX_RING_OFF_CONSUMER (written by the
//                      process), the status word at RX_RING_OFF_STATUS, each
//                      on its own 64-byte line;
//   desc_off           `slots` descriptors (RxRingDesc, 16 bytes each);
//   data_off           `slots` buffers of `slot_size` bytes.
//
// Indices run freely (u32, wrapping); slot `i` is `i & (slots - 1)`. The
// kernel fills slot `producer`, then stores `producer + 1` with release
// ordering; the process reads the producer with acquire ordering, handles
// the slots up to it, then stores the consumer with release ordering.

/// The page size the ring's layout is computed with (x86-64's and the
/// guest's; the module refuses to load elsewhere).
pub const RX_RING_PAGE_SIZE: usize = 4096;
/// Fewest slots of a ring.
pub const RX_RING_MIN_SLOTS: u32 = 1;
/// Most slots of a ring.
pub const RX_RING_MAX_SLOTS: u32 = 32768;
/// Smallest slot.
pub const RX_RING_MIN_SLOT_SIZE: u32 = 64;
/// Largest slot: a whole datagram of the largest size fits.
pub const RX_RING_MAX_SLOT_SIZE: u32 = 65536;
/// Largest mapping, header and descriptors included.
pub const RX_RING_MAX_BYTES: u64 = 16 << 20;
/// Offset of the producer index (`u32`, written by the kernel only).
pub const RX_RING_OFF_PRODUCER: u32 = 0;
/// Offset of the consumer index (`u32`, written by the process only).
pub const RX_RING_OFF_CONSUMER: u32 = 64;
/// Offset of the status word (`u32`, written by the kernel only):
/// [`RX_RING_STATUS_BAD_INDEX`].
pub const RX_RING_OFF_STATUS: u32 = 128;
/// [`RX_RING_OFF_STATUS`] bit: the consumer index the kernel last read was
/// not between the last valid one and the producer, so the kernel ignored it
/// (and dropped what it had to deliver, [`RxRingStats::bad_index`]). Cleared
/// when a valid index is read again.
pub const RX_RING_STATUS_BAD_INDEX: u32 = 1;

uapi_struct! {
    /// `SIMNIC_IOC_RX_RING_SETUP`: the geometry asked for (in) and the
    /// layout of the mapping (out). [`RxRingReq::layout`] computes the
    /// same.
    pub struct RxRingReq {
        /// In: number of slots, a power of two in
        /// [`RX_RING_MIN_SLOTS`]`..=`[`RX_RING_MAX_SLOTS`].
        pub slots: u32,
        /// In: bytes per slot, a power of two in
        /// [`RX_RING_MIN_SLOT_SIZE`]`..=`[`RX_RING_MAX_SLOT_SIZE`]; a longer
        /// datagram is cut to it ([`SIMNIC_MSG_TRUNC`] in its descriptor).
        pub slot_size: u32,
        /// In: zero.
        pub flags: u32,
        /// Out: offset of the descriptor array in the mapping.
        pub desc_off: u32,
        /// Out: offset of slot 0's buffer in the mapping.
        pub data_off: u32,
        /// Reserved, zero.
        pub reserved: u32,
        /// Out: the length to `mmap` (at offset 0), at most
        /// [`RX_RING_MAX_BYTES`].
        pub map_len: u64,
    }
}

impl RxRingReq {
    /// The layout of a ring of `slots` slots of `slot_size` bytes: the
    /// header page, then the descriptors, then the buffers, each part
    /// starting on a page. `None` for a geometry the driver refuses with
    /// `EINVAL`.
    pub const fn layout(slots: u32, slot_size: u32) -> Option<Self> {
        if !slots.is_power_of_two()
            || slots < RX_RING_MIN_SLOTS
            || slots > RX_RING_MAX_SLOTS
            || !slot_size.is_power_of_two()
            || slot_size < RX_RING_MIN_SLOT_SIZE
            || slot_size > RX_RING_MAX_SLOT_SIZE
        {
            return None;
        }
        let page = RX_RING_PAGE_SIZE as u64;
        let desc_off = page;
        let data_off = desc_off + (slots as u64 * RxRingDesc::SIZE as u64).div_ceil(page) * page;
        let map_len = data_off + (slots as u64 * slot_size as u64).div_ceil(page) * page;
        if map_len > RX_RING_MAX_BYTES {
            return None;
        }
        Some(Self {
            slots,
            slot_size,
            flags: 0,
            desc_off: desc_off as u32,
            data_off: data_off as u32,
            reserved: 0,
            map_len,
        })
    }

    /// Offset of slot `i`'s descriptor (`i` taken modulo the slots).
    pub const fn desc_at(&self, i: u32) -> usize {
        self.desc_off as usize + (i & (self.slots - 1)) as usize * RxRingDesc::SIZE
    }

    /// Offset of slot `i`'s buffer (`i` taken modulo the slots).
    pub const fn data_at(&self, i: u32) -> usize {
        self.data_off as usize + (i & (self.slots - 1)) as usize * self.slot_size as usize
    }
}

uapi_struct! {
    /// One slot's descriptor in the ring, written by the kernel before it
    /// publishes the slot.
    pub struct RxRingDesc {
        /// Bytes of payload in the slot's buffer: `min(dgram_len, slot_size)`.
        pub len: u32,
        /// The datagram's full payload length.
        pub dgram_len: u32,
        /// The sender's port (0 for the generator).
        pub src_port: u32,
        /// [`SIMNIC_MSG_TRUNC`] if `len < dgram_len`.
        pub flags: u32,
    }
}

uapi_struct! {
    /// `SIMNIC_IOC_RX_RING_STATS`: the ring's geometry, indices and
    /// counters, as the kernel sees them.
    pub struct RxRingStats {
        /// Slots (0 if the endpoint has no ring).
        pub slots: u32,
        /// Bytes per slot.
        pub slot_size: u32,
        /// The producer index: datagrams placed, wrapping.
        pub producer: u32,
        /// The last consumer index the kernel found valid.
        pub consumer: u32,
        /// The status word ([`RX_RING_STATUS_BAD_INDEX`]).
        pub status: u32,
        /// Reserved, zero.
        pub reserved: u32,
        /// The length of the mapping.
        pub map_len: u64,
        /// Datagrams placed in the ring.
        pub delivered: u64,
        /// Datagrams dropped: no free slot (the consumer is behind).
        pub ring_full: u64,
        /// Datagrams dropped: the consumer index in shared memory was
        /// invalid (beyond the producer, or moved backwards).
        pub bad_index: u64,
        /// Datagrams cut to the slot size.
        pub truncated: u64,
        /// Datagrams that were in the receive queue when the ring was set
        /// up, dropped then.
        pub purged: u64,
    }
}

/// `SIMNIC_IOC_RX_RING_SETUP`: [`RxRingReq`]: give the endpoint a receive
/// ring to `mmap`. From then on datagrams go into the ring, `read()` and
/// `SIMNIC_IOC_RECVFROM` fail with `EINVAL`, and `poll` reports `POLLIN`
/// while the ring has unconsumed slots (`POLLERR` while the consumer index
/// is invalid). `EINVAL` for a bad geometry or nonzero `flags`/`reserved`,
/// `EBUSY` if the endpoint has a ring already, `ENOBUFS` if the ring would
/// take the user over `RLIMIT_MEMLOCK` (without `CAP_IPC_LOCK`) or the NIC
/// over its receive memory budget ([`Limits::rx_mem_max`]), `ENOMEM` if the
/// pages cannot be allocated. Datagrams queued before are dropped.
pub const SIMNIC_IOC_RX_RING_SETUP: u32 = ioc(IOC_READ | IOC_WRITE, 24, RxRingReq::SIZE);
/// `SIMNIC_IOC_RX_RING_STATS`: [`RxRingStats`] of the endpoint's ring.
pub const SIMNIC_IOC_RX_RING_STATS: u32 = ioc(IOC_READ, 25, RxRingStats::SIZE);

// ---------------------------------------------------------------------------
// /dev/simnic-epoll: the module's own multiplexers (mini-poll, mini-epoll).
// Each open of the node is a mini-epoll instance.

/// Path of the multiplexer node.
pub const MUX_DEVICE_PATH: &str = "/dev/simnic-epoll";

uapi_struct! {
    /// One watched descriptor of `SIMNIC_MUX_IOC_POLL`, as `struct pollfd`
    /// (with room to spare): `events` in, `revents` out.
    pub struct MiniPollFd {
        /// Descriptor; negative ones are skipped (`revents` 0), as poll does.
        pub fd: i32,
        /// Events asked for (`POLLIN`, `POLLOUT`, ...); `POLLERR`/`POLLHUP`
        /// are always reported.
        pub events: u32,
        /// Out: events ready, or `POLLNVAL` for a descriptor that is not open.
        pub revents: u32,
        /// Reserved, zero.
        pub reserved: u32,
    }
}

uapi_struct! {
    /// `SIMNIC_MUX_IOC_POLL`: `poll(2)` done by the module's `do_poll`, and
    /// what it did.
    pub struct MiniPoll {
        /// User address of an array of `nfds` [`MiniPollFd`].
        pub fds: u64,
        /// Entries in the array, at most [`MINI_POLL_MAX_FDS`].
        pub nfds: u32,
        /// Milliseconds to wait; negative: forever; 0: do not wait.
        pub timeout_ms: i32,
        /// Out: how many times every descriptor was polled (`->poll`).
        pub rescans: u32,
        /// Out: wait-queue entries hooked (one per `poll_wait` of the first
        /// scan, like `__pollwait`'s table entries).
        pub entries: u32,
        /// Out: times an entry's wake function woke us (`pollwake`).
        pub wakeups: u32,
        /// Out: rescans after a wake-up that found nothing ready.
        pub spurious: u32,
    }
}

/// Largest `nfds` of `SIMNIC_MUX_IOC_POLL`.
pub const MINI_POLL_MAX_FDS: u32 = 65536;

/// `SIMNIC_MUX_IOC_CTL` operations, as `EPOLL_CTL_ADD/DEL/MOD`.
pub const MINI_EPOLL_CTL_ADD: u32 = 1;
/// Remove a descriptor.
pub const MINI_EPOLL_CTL_DEL: u32 = 2;
/// Change a descriptor's events and data (re-arms `EPOLLONESHOT`).
pub const MINI_EPOLL_CTL_MOD: u32 = 3;

uapi_struct! {
    /// `SIMNIC_MUX_IOC_CTL`: add, change or remove a watched descriptor, as
    /// `epoll_ctl(2)`; `events` takes the `EPOLL*` bits, `EPOLLET`,
    /// `EPOLLONESHOT` and `EPOLLEXCLUSIVE` included.
    pub struct MiniEpollCtl {
        /// [`MINI_EPOLL_CTL_ADD`], [`MINI_EPOLL_CTL_DEL`] or
        /// [`MINI_EPOLL_CTL_MOD`].
        pub op: u32,
        /// The descriptor.
        pub fd: i32,
        /// Events and flags (ignored for DEL).
        pub events: u32,
        /// Reserved, zero.
        pub reserved: u32,
        /// Returned with each event (`epoll_data`).
        pub data: u64,
    }
}

uapi_struct! {
    /// One event `SIMNIC_MUX_IOC_WAIT` returns (16 bytes, unlike the packed
    /// 12-byte `struct epoll_event` of x86_64).
    pub struct MiniEpollEvent {
        /// Events ready.
        pub events: u32,
        /// Reserved, zero.
        pub reserved: u32,
        /// The item's data.
        pub data: u64,
    }
}

uapi_struct! {
    /// `SIMNIC_MUX_IOC_WAIT`: `epoll_wait(2)`; returns how many events were
    /// written.
    pub struct MiniEpollWait {
        /// User address of an array of `maxevents` [`MiniEpollEvent`].
        pub events: u64,
        /// Room in the array, 1 to [`MINI_EPOLL_MAX_EVENTS`].
        pub maxevents: u32,
        /// Milliseconds to wait; negative: forever; 0: do not wait.
        pub timeout_ms: i32,
    }
}

/// Largest `maxevents` of `SIMNIC_MUX_IOC_WAIT`.
pub const MINI_EPOLL_MAX_EVENTS: u32 = 1024;
/// Most items one instance holds.
pub const MINI_EPOLL_MAX_ITEMS: u32 = 65536;
/// Default of `max_user_watches`: most items all instances opened by one
/// user hold together (`fs.epoll.max_user_watches`);
/// `SIMNIC_MUX_IOC_SET_LIMITS` changes it.
pub const MINI_EPOLL_MAX_USER_WATCHES_DEFAULT: u32 = 65536;
/// Deepest nesting of instances (`EP_MAX_NESTS`).
pub const MINI_EPOLL_MAX_NESTS: u32 = 4;

uapi_struct! {
    /// `SIMNIC_MUX_IOC_INFO`: the instance's counters, what a learner
    /// watches the ready list with.
    pub struct MiniEpollInfo {
        /// Items in the interest set.
        pub items: u32,
        /// Items on the ready list now.
        pub ready: u32,
        /// Wake function calls (`ep_poll_callback`), on any item.
        pub callbacks: u64,
        /// Items the wake function put on the ready list.
        pub ready_adds: u64,
        /// Wake-ups the wake function ignored (events not asked for, or a
        /// disarmed `EPOLLONESHOT` item).
        pub filtered: u64,
        /// Items taken off the ready list by waits.
        pub harvested: u64,
        /// Events reported to user space.
        pub reported: u64,
        /// Level-triggered items put back on the ready list after a report.
        pub lt_requeued: u64,
        /// Items harvested with nothing ready any more.
        pub spurious: u64,
        /// Wait-queue entries hooked, in all.
        pub entries: u64,
        /// Wake-ups of this instance's pollers not passed on: they came back
        /// round a loop of multiplexers, or went deeper than
        /// [`MINI_EPOLL_MAX_NESTS`].
        pub wake_loops: u64,
        /// Items all instances of this instance's user hold
        /// (`user->epoll_watches`).
        pub user_watches: u32,
        /// The bound on them, `max_user_watches`.
        pub max_user_watches: u32,
    }
}

uapi_struct! {
    /// `SIMNIC_MUX_IOC_SET_LIMITS`: the multiplexers' machine-wide bound
    /// (`CAP_SYS_ADMIN`, as the sysctl is root's).
    pub struct MiniEpollLimits {
        /// Most items one user's instances hold together; 0 refuses every
        /// `ADD`.
        pub max_user_watches: u32,
        /// Reserved, zero.
        pub reserved: u32,
    }
}

/// `SIMNIC_MUX_IOC_POLL`: [`MiniPoll`]; returns the number of descriptors
/// ready, as `poll`.
pub const SIMNIC_MUX_IOC_POLL: u32 = ioc(IOC_READ | IOC_WRITE, 32, MiniPoll::SIZE);
/// `SIMNIC_MUX_IOC_CTL`: [`MiniEpollCtl`].
pub const SIMNIC_MUX_IOC_CTL: u32 = ioc(IOC_WRITE, 33, MiniEpollCtl::SIZE);
/// `SIMNIC_MUX_IOC_WAIT`: [`MiniEpollWait`].
pub const SIMNIC_MUX_IOC_WAIT: u32 = ioc(IOC_WRITE, 34, MiniEpollWait::SIZE);
/// `SIMNIC_MUX_IOC_INFO`: [`MiniEpollInfo`].
pub const SIMNIC_MUX_IOC_INFO: u32 = ioc(IOC_READ, 35, MiniEpollInfo::SIZE);
/// `SIMNIC_MUX_IOC_SET_LIMITS`: [`MiniEpollLimits`]; needs `CAP_SYS_ADMIN`.
pub const SIMNIC_MUX_IOC_SET_LIMITS: u32 = ioc(IOC_WRITE, 36, MiniEpollLimits::SIZE);

/// `FIONREAD` (as on a UDP socket): the payload length of the next datagram,
/// 0 if none, into an `int`.
pub const FIONREAD: u32 = 0x541B;

/// The header each frame carries on the simulated wire, before the payload:
/// what the driver's protocol demux parses (an 8-byte UDP-like header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Destination port.
    pub dst_port: u16,
    /// Source port.
    pub src_port: u16,
    /// Payload length.
    pub len: u32,
}

impl FrameHeader {
    /// Bytes on the wire.
    pub const SIZE: usize = 8;
    /// Largest frame: header plus the largest payload.
    pub const MAX_FRAME: usize = Self::SIZE + MAX_DATAGRAM;

    /// Wire encoding (little-endian, like most NIC descriptors).
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..2].copy_from_slice(&self.dst_port.to_le_bytes());
        b[2..4].copy_from_slice(&self.src_port.to_le_bytes());
        b[4..8].copy_from_slice(&self.len.to_le_bytes());
        b
    }

    /// Parses and validates the header of a frame of `frame_len` bytes:
    /// `None` if it is too short, the payload length disagrees with the
    /// frame, or the destination port is 0.
    pub fn parse(b: &[u8], frame_len: usize) -> Option<Self> {
        if b.len() < Self::SIZE || frame_len < Self::SIZE {
            return None;
        }
        let h = Self {
            dst_port: u16::from_le_bytes([b[0], b[1]]),
            src_port: u16::from_le_bytes([b[2], b[3]]),
            len: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        };
        if h.len as usize != frame_len - Self::SIZE || h.len as usize > MAX_DATAGRAM || h.dst_port == 0 {
            return None;
        }
        Some(h)
    }
}
