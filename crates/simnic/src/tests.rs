//! Host tests. The device itself is tested in the guest (tests/guest); here
//! the uapi (ioctl numbers, struct byte images, the wire header) and the
//! wrapper's own logic: flags, the request each method makes, errno mapping,
//! ownership of the fd.

use super::*;
use uapi::*;

fn pipe() -> (Endpoint, Endpoint) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
    assert_eq!(rc, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned by nobody.
    unsafe { (Endpoint::from_raw_fd(fds[0]), Endpoint::from_raw_fd(fds[1])) }
}

fn fcntl(fd: RawFd, cmd: libc::c_int) -> libc::c_int {
    // SAFETY: F_GETFL/F_GETFD take no argument and only read state.
    let v = unsafe { libc::fcntl(fd, cmd) };
    assert!(v >= 0, "fcntl: {}", io::Error::last_os_error());
    v
}

// ---------------------------------------------------------------- the uapi

#[test]
fn ioctl_numbers_are_the_c_macros() {
    // _IOW('\xe5', nr, size) etc., computed by hand from
    // include/uapi/asm-generic/ioctl.h: dir << 30 | size << 16 | 0xe5 << 8 | nr
    // with dir 1 = write (userspace -> driver), 2 = read, 3 = both.
    let want: [(u32, u32, &str); 18] = [
        (SIMNIC_IOC_BIND, 0x4004_e501, "_IOW(1, u32)"),
        (SIMNIC_IOC_CONNECT, 0x4004_e502, "_IOW(2, u32)"),
        (SIMNIC_IOC_GET_PORT, 0x8004_e503, "_IOR(3, u32)"),
        (SIMNIC_IOC_SENDTO, 0x4018_e504, "_IOW(4, 24-byte SendTo)"),
        (
            SIMNIC_IOC_RECVFROM,
            0xc018_e505,
            "_IOWR(5, 24-byte RecvFrom)",
        ),
        (SIMNIC_IOC_SET_RCVBUF, 0x4004_e506, "_IOW(6, u32)"),
        (SIMNIC_IOC_EP_STATS, 0x8050_e507, "_IOR(7, 80-byte EpStats)"),
        (
            SIMNIC_IOC_NIC_STATS,
            0x80b8_e508,
            "_IOR(8, 184-byte NicStats)",
        ),
        (
            SIMNIC_IOC_RING_STATE,
            0x8030_e509,
            "_IOR(9, 48-byte RingState)",
        ),
        (
            SIMNIC_IOC_GEN_START,
            0x4020_e50a,
            "_IOW(10, 32-byte GenFlow)",
        ),
        (SIMNIC_IOC_GEN_STOP, 0x4004_e50b, "_IOW(11, u32)"),
        (SIMNIC_IOC_SET_TX_DELAY, 0x4008_e50c, "_IOW(12, u64)"),
        (SIMNIC_IOC_RESET_STATS, 0x0000_e50d, "_IO(13)"),
        (SIMNIC_IOC_SHUTDOWN, 0x4004_e50e, "_IOW(14, u32)"),
        (SIMNIC_IOC_SET_LOOPBACK, 0x4004_e50f, "_IOW(15, u32)"),
        (SIMNIC_IOC_GET_LIMITS, 0x8010_e510, "_IOR(16, 16-byte Limits)"),
        (SIMNIC_IOC_SET_LIMITS, 0x4010_e511, "_IOW(17, 16-byte Limits)"),
        (FIONREAD, 0x541b, "asm-generic FIONREAD"),
    ];
    for (got, want, what) in want {
        assert_eq!(got, want, "{what}: {got:#010x} != {want:#010x}");
    }
}

#[test]
fn struct_sizes_are_the_c_layout() {
    // The sizes a C header with the same fields would give on x86_64, and
    // an alignment that lets the u64 fields sit where C puts them.
    assert_eq!(size_of::<SendTo>(), 24);
    assert_eq!(size_of::<RecvFrom>(), 24);
    assert_eq!(size_of::<GenFlow>(), 32);
    assert_eq!(size_of::<NicStats>(), 23 * 8);
    assert_eq!(size_of::<EpStats>(), 6 * 4 + 7 * 8);
    assert_eq!(size_of::<Limits>(), 2 * 4 + 8);
    assert_eq!(size_of::<RingState>(), 10 * 4 + 8);
    for align in [
        align_of::<SendTo>(),
        align_of::<RecvFrom>(),
        align_of::<GenFlow>(),
        align_of::<NicStats>(),
        align_of::<EpStats>(),
        align_of::<RingState>(),
        align_of::<Limits>(),
    ] {
        assert_eq!(align, 8);
    }
}

/// The bytes of `v` as they are in memory: what the driver copies from or to
/// the pointer userspace passes.
fn raw_bytes<T>(v: &T) -> &[u8] {
    // SAFETY: `v` is a live T, and every uapi struct is plain integers with
    // no padding (the uapi asserts SIZE == size_of), so all bytes are
    // initialised.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
}

/// For struct `$t`: `from_bytes` of a pattern where every byte differs puts
/// each byte where the in-memory struct has it, and `to_bytes` gives the
/// same bytes back. If either function ordered fields or bytes differently
/// from the `#[repr(C)]` layout, the driver's byte copies and userspace's
/// pointer passing would disagree, and one of the comparisons would fail.
macro_rules! check_byte_image {
    ($t:ty) => {{
        let mut pattern = [0u8; <$t>::SIZE];
        for (i, b) in pattern.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(7).wrapping_add(1);
        }
        let v = <$t>::from_bytes(&pattern);
        assert_eq!(
            raw_bytes(&v),
            &pattern[..],
            "{}: from_bytes vs memory",
            stringify!($t)
        );
        assert_eq!(v.to_bytes(), pattern, "{}: to_bytes", stringify!($t));
        assert_eq!(
            <$t>::from_bytes(&v.to_bytes()),
            v,
            "{}: round trip",
            stringify!($t)
        );
        assert_eq!(<$t>::SIZE, size_of::<$t>());
    }};
}

#[test]
fn to_bytes_is_the_in_memory_image() {
    check_byte_image!(SendTo);
    check_byte_image!(RecvFrom);
    check_byte_image!(GenFlow);
    check_byte_image!(NicStats);
    check_byte_image!(EpStats);
    check_byte_image!(RingState);
    check_byte_image!(Limits);
}

#[test]
fn byte_image_of_known_values() {
    // Field order and native (little-endian on x86_64) byte order, spelt out.
    let s = SendTo {
        buf: 0x0102_0304_0506_0708,
        len: 0x1122_3344,
        port: 7000,
        flags: SIMNIC_MSG_NOSIGNAL,
        reserved: 0,
    };
    let mut want = Vec::new();
    want.extend_from_slice(&0x0102_0304_0506_0708u64.to_ne_bytes());
    want.extend_from_slice(&0x1122_3344u32.to_ne_bytes());
    want.extend_from_slice(&7000u32.to_ne_bytes());
    want.extend_from_slice(&0x4000u32.to_ne_bytes());
    want.extend_from_slice(&0u32.to_ne_bytes());
    assert_eq!(s.to_bytes().as_slice(), want.as_slice());
    assert_eq!(raw_bytes(&s), want.as_slice());

    let g = GenFlow {
        flow: 3,
        dst_port: 9000,
        payload_len: 64,
        rate_pps: 1000,
        burst: 4,
        reserved: 0,
        count: 1 << 40,
    };
    let b = g.to_bytes();
    assert_eq!(&b[0..4], &3u32.to_ne_bytes());
    assert_eq!(&b[4..8], &9000u32.to_ne_bytes());
    assert_eq!(&b[16..20], &4u32.to_ne_bytes());
    assert_eq!(&b[24..32], &(1u64 << 40).to_ne_bytes());
    assert_eq!(GenFlow::from_bytes(&b), g);
}

fn frame(h: FrameHeader, payload: &[u8]) -> Vec<u8> {
    let mut f = h.encode().to_vec();
    f.extend_from_slice(payload);
    f
}

#[test]
fn frame_header_encodes_little_endian() {
    let h = FrameHeader {
        dst_port: 0x1234,
        src_port: 0xabcd,
        len: 0x0102_0304,
    };
    assert_eq!(h.encode(), [0x34, 0x12, 0xcd, 0xab, 0x04, 0x03, 0x02, 0x01]);
}

#[test]
fn frame_header_accepts_valid_frames() {
    let h = FrameHeader {
        dst_port: 7000,
        src_port: 49152,
        len: 5,
    };
    let f = frame(h, b"hello");
    assert_eq!(FrameHeader::parse(&f, f.len()), Some(h));
    // Source port 0 is the generator's: valid.
    let h = FrameHeader {
        dst_port: 1,
        src_port: 0,
        len: 0,
    };
    let f = frame(h, b"");
    assert_eq!(FrameHeader::parse(&f, FrameHeader::SIZE), Some(h));
    // The largest payload.
    let h = FrameHeader {
        dst_port: 65535,
        src_port: 65535,
        len: MAX_DATAGRAM as u32,
    };
    assert_eq!(
        FrameHeader::parse(&h.encode(), FrameHeader::MAX_FRAME),
        Some(h)
    );
}

#[test]
fn frame_header_rejects_bad_frames() {
    let good = FrameHeader {
        dst_port: 7000,
        src_port: 1,
        len: 3,
    };
    let f = frame(good, b"abc");
    // Header bytes missing, or a frame shorter than a header.
    assert_eq!(
        FrameHeader::parse(&f[..FrameHeader::SIZE - 1], f.len()),
        None
    );
    assert_eq!(FrameHeader::parse(&[], 0), None);
    assert_eq!(FrameHeader::parse(&f, FrameHeader::SIZE - 1), None);
    // Payload length disagreeing with the frame, either way.
    assert_eq!(FrameHeader::parse(&f, f.len() - 1), None);
    assert_eq!(FrameHeader::parse(&f, f.len() + 1), None);
    // Destination port 0.
    let f0 = frame(
        FrameHeader {
            dst_port: 0,
            ..good
        },
        b"abc",
    );
    assert_eq!(FrameHeader::parse(&f0, f0.len()), None);
    // A length past the largest datagram, even if the frame agrees.
    let big = FrameHeader {
        len: MAX_DATAGRAM as u32 + 1,
        ..good
    };
    assert_eq!(
        FrameHeader::parse(&big.encode(), FrameHeader::MAX_FRAME + 1),
        None
    );
}

#[test]
fn crate_constants_follow_the_uapi() {
    assert_eq!(DEVICE_PATH_C.to_str().unwrap(), DEVICE_PATH);
    assert_eq!(MAX_DATAGRAM, 65535);
    assert_eq!(RX_QUEUE_MAX_DATAGRAMS, 256);
    assert_eq!(RX_QUEUE_MAX_BYTES, 212_992);
    const { assert!(RCVBUF_MIN <= RCVBUF_DEFAULT && RCVBUF_DEFAULT <= RCVBUF_MAX) };
}

// ------------------------------------------------------------- the wrapper

#[test]
fn open_missing_path_is_enoent() {
    let err = Endpoint::open_cstr(c"/nonexistent-simnic-dir/simnic", false).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
    let err = Endpoint::open_at("/nonexistent-simnic-dir/simnic", true).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
}

#[test]
fn open_at_refuses_a_nul_in_the_path() {
    let err = Endpoint::open_at("/dev/null\0x", false).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
}

#[test]
fn open_is_read_write_cloexec_and_blocking() {
    for ep in [
        Endpoint::open_cstr(c"/dev/null", false).unwrap(),
        Endpoint::open_at("/dev/null", false).unwrap(),
    ] {
        let fl = fcntl(ep.as_raw_fd(), libc::F_GETFL);
        assert_eq!(fl & libc::O_ACCMODE, libc::O_RDWR);
        assert_eq!(fl & libc::O_NONBLOCK, 0);
        assert_ne!(fcntl(ep.as_raw_fd(), libc::F_GETFD) & libc::FD_CLOEXEC, 0);
    }
}

#[test]
fn open_nonblocking_sets_o_nonblock() {
    for ep in [
        Endpoint::open_cstr(c"/dev/null", true).unwrap(),
        Endpoint::open_at("/dev/null", true).unwrap(),
    ] {
        let fl = fcntl(ep.as_raw_fd(), libc::F_GETFL);
        assert_eq!(fl & libc::O_ACCMODE, libc::O_RDWR);
        assert_ne!(fl & libc::O_NONBLOCK, 0);
    }
}

#[test]
fn send_and_recv_return_counts() {
    let (r, w) = pipe();
    assert_eq!(w.send(b"abcdef").unwrap(), 6);
    let mut buf = [0u8; 4];
    assert_eq!(r.recv(&mut buf).unwrap(), 4);
    assert_eq!(&buf, b"abcd");
    assert_eq!(w.send(b"").unwrap(), 0);
}

#[test]
fn pending_len_is_fionread() {
    // A pipe answers FIONREAD too (bytes buffered), through the same
    // pointer-to-int convention as the device.
    let (r, w) = pipe();
    assert_eq!(r.pending_len().unwrap(), 0);
    w.send(b"0123456789").unwrap();
    assert_eq!(r.pending_len().unwrap(), 10);
    r.recv(&mut [0u8; 3]).unwrap();
    assert_eq!(r.pending_len().unwrap(), 7);
}

#[test]
fn errors_carry_the_raw_errno() {
    let (r, w) = pipe();
    let err = r.recv(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EAGAIN), "{err}");
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    // The read end of a pipe is not writable.
    let err = r.send(b"x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
    // simnic's ioctls mean nothing to a pipe.
    let err = r.nic_stats().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTTY), "{err}");
    drop(w);
}

#[test]
fn recv_info_reads_the_drivers_reply() {
    let mut reply = RecvFrom {
        buf: 0,
        buf_len: 4,
        flags: SIMNIC_MSG_TRUNC,
        dgram_len: 10,
        src_port: 49153,
    };
    assert_eq!(
        RecvInfo::from_reply(4, &reply),
        RecvInfo {
            len: 4,
            dgram_len: 10,
            src_port: 49153,
            truncated: true
        }
    );
    // Other bits (such as the request's own DONTWAIT) are not truncation.
    reply.flags = SIMNIC_RECV_DONTWAIT;
    reply.dgram_len = 4;
    reply.src_port = 0;
    assert_eq!(
        RecvInfo::from_reply(4, &reply),
        RecvInfo {
            len: 4,
            dgram_len: 4,
            src_port: 0,
            truncated: false
        }
    );
}

#[test]
fn lengths_saturate_instead_of_wrapping() {
    assert_eq!(len_u32(0), 0);
    assert_eq!(len_u32(65535), 65535);
    assert_eq!(len_u32(u32::MAX as usize), u32::MAX);
    assert_eq!(len_u32(u32::MAX as usize + 2), u32::MAX);
}

/// Each wrapper method issues its own request number. A seccomp filter on a
/// thread of its own answers every simnic request (and FIONREAD) with an
/// errno that names it, 200 + its index below, without reaching any driver;
/// every other system call passes. Calling each method on /dev/null then
/// shows which request it made.
#[cfg(target_arch = "x86_64")]
#[test]
fn each_method_makes_its_own_request() {
    const REQUESTS: [u32; 14] = [
        SIMNIC_IOC_BIND,
        SIMNIC_IOC_CONNECT,
        SIMNIC_IOC_GET_PORT,
        SIMNIC_IOC_SENDTO,
        SIMNIC_IOC_RECVFROM,
        SIMNIC_IOC_SET_RCVBUF,
        SIMNIC_IOC_EP_STATS,
        SIMNIC_IOC_NIC_STATS,
        SIMNIC_IOC_RING_STATE,
        SIMNIC_IOC_GEN_START,
        SIMNIC_IOC_GEN_STOP,
        SIMNIC_IOC_SET_TX_DELAY,
        SIMNIC_IOC_RESET_STATS,
        FIONREAD,
    ];
    fn code_of(request: u32) -> i32 {
        200 + REQUESTS.iter().position(|&r| r == request).unwrap() as i32
    }
    // Thread-directed: seccomp filters without TSYNC apply to the calling
    // thread only, so the other tests never see this one.
    std::thread::spawn(|| {
        install_ioctl_filter(&REQUESTS, 200);
        let ep = Endpoint::open_at("/dev/null", false).unwrap();
        let got = |r: io::Result<()>| r.unwrap_err().raw_os_error();
        let mut buf = [0u8; 8];
        let calls: [(u32, Option<i32>); 14] = [
            (SIMNIC_IOC_BIND, got(ep.bind(7000))),
            (SIMNIC_IOC_CONNECT, got(ep.connect(7001))),
            (SIMNIC_IOC_GET_PORT, got(ep.port().map(drop))),
            (SIMNIC_IOC_SENDTO, got(ep.send_to(7000, b"x").map(drop))),
            (
                SIMNIC_IOC_RECVFROM,
                got(ep.recv_from(&mut buf, true).map(drop)),
            ),
            (SIMNIC_IOC_SET_RCVBUF, got(ep.set_rcvbuf(4096))),
            (SIMNIC_IOC_EP_STATS, got(ep.ep_stats().map(drop))),
            (SIMNIC_IOC_NIC_STATS, got(ep.nic_stats().map(drop))),
            (SIMNIC_IOC_RING_STATE, got(ep.ring_state().map(drop))),
            (SIMNIC_IOC_GEN_START, got(ep.gen_start(&GenFlow::default()))),
            (SIMNIC_IOC_GEN_STOP, got(ep.gen_stop(GEN_STOP_ALL))),
            (SIMNIC_IOC_SET_TX_DELAY, got(ep.set_tx_delay_ns(1000))),
            (SIMNIC_IOC_RESET_STATS, got(ep.reset_stats())),
            (FIONREAD, got(ep.pending_len().map(drop))),
        ];
        for (request, errno) in calls {
            assert_eq!(errno, Some(code_of(request)), "request {request:#010x}");
        }
    })
    .join()
    .unwrap();
}

/// Installs, on the calling thread (x86_64), a seccomp filter that fails
/// `ioctl(_, requests[i], _)` with errno `base + i` and allows everything
/// else.
#[cfg(target_arch = "x86_64")]
fn install_ioctl_filter(requests: &[u32], base: u32) {
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    // Offsets in struct seccomp_data: nr, arch, then args[] at 16; the low
    // half of args[1] (the request) on a little-endian machine.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    const ARG1_LO: u32 = 16 + 8;
    let ld = |k| libc::sock_filter {
        code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq_next = |k| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt: 1,
        jf: 0,
        k,
    };
    let jne_next = |k| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt: 0,
        jf: 1,
        k,
    };
    let ret = |k| libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k,
    };

    let mut prog = vec![
        ld(ARCH),
        jeq_next(AUDIT_ARCH_X86_64),
        ret(libc::SECCOMP_RET_ALLOW),
        ld(NR),
        jeq_next(libc::SYS_ioctl as u32),
        ret(libc::SECCOMP_RET_ALLOW),
        ld(ARG1_LO),
    ];
    for (i, &request) in requests.iter().enumerate() {
        prog.push(jne_next(request));
        prog.push(ret(libc::SECCOMP_RET_ERRNO | (base + i as u32)));
    }
    prog.push(ret(libc::SECCOMP_RET_ALLOW));

    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: prctl with these arguments only changes this thread's state.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "PR_SET_NO_NEW_PRIVS: {}", io::Error::last_os_error());
    // SAFETY: `fprog` points to a valid program for the duration of the call
    // (the kernel copies it).
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const libc::sock_fprog,
        )
    };
    assert_eq!(rc, 0, "PR_SET_SECCOMP: {}", io::Error::last_os_error());
}

#[test]
fn drop_closes_the_descriptor() {
    let (r, w) = pipe();
    drop(r);
    // With its only read end closed the pipe reports EPIPE (Rust's
    // runtime ignores SIGPIPE), which proves the close without racing
    // other tests for the reused fd number.
    let err = w.send(b"x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPIPE), "{err}");
}

#[test]
fn into_raw_fd_keeps_the_descriptor_open() {
    let (r, w) = pipe();
    let raw = r.into_raw_fd();
    assert_eq!(w.send(b"still open").unwrap(), 10);
    // SAFETY: `raw` was released by into_raw_fd and is owned here.
    let r = unsafe { Endpoint::from_raw_fd(raw) };
    let mut buf = [0u8; 16];
    assert_eq!(r.recv(&mut buf).unwrap(), 10);
    assert_eq!(&buf[..10], b"still open");
}
