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
