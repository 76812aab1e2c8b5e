//! Tests of `rust/simnic/dma.rs` (packet buffers, frame chunking, the RX and
//! TX descriptor rings and frame reassembly) and of the wire header in
//! `rust/simnic/uapi.rs`: examples, property tests against byte-array and
//! queue models, and stress tests with a real "hardware" thread racing the
//! "driver" threads.

use crate::driver::rx_assemble::{Assembled, FrameAssembler};
use crate::hw::dma_buf::{
    chunk_len, descs_for, ByteSink, DmaBuf, FrameSource, HeaderAndPayload, BUF_SIZE, DESC_DD, DESC_EOP,
};
use crate::hw::ring::Ring;
use crate::hw::rx_ring::{RxDesc, RxMissed, RxRing};
use crate::hw::tx_ring::{HwTx, TxBusy, TxDesc, TxFrame, TxProducer, TxRing};
use crate::uapi::{FrameHeader, MAX_DATAGRAM};
use core::sync::atomic::Ordering::Relaxed;
use proptest::prelude::*;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use std::vec;
use std::vec::Vec;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A byte sink with a room limit, like an skb of a given size.
#[derive(Debug, Default)]
struct Sink {
    data: Vec<u8>,
    room: usize,
}

impl Sink {
    fn with_room(room: usize) -> Self {
        Self { data: Vec::new(), room }
    }
}

impl ByteSink for Sink {
    fn extend(&mut self, bytes: &[u8]) -> bool {
        if self.data.len() + bytes.len() > self.room {
            return false;
        }
        self.data.extend_from_slice(bytes);
        true
    }
}

/// Deterministic, sequence-dependent bytes (xorshift64*).
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Frame number `seq`: a valid wire header and `payload_len` payload bytes.
fn frame_parts(seq: u64, payload_len: usize) -> ([u8; 8], Vec<u8>) {
    let h = FrameHeader { dst_port: 1 + (seq % 65535) as u16, src_port: seq as u16, len: payload_len as u32 };
    (h.encode(), bytes(seq, payload_len))
}

fn frame(seq: u64, payload_len: usize) -> Vec<u8> {
    let (h, p) = frame_parts(seq, payload_len);
    [&h[..], &p[..]].concat()
}

/// A frame source over raw bytes (no header split).
struct Raw<'a>(&'a [u8]);

impl FrameSource for Raw<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn write_chunk(&self, k: usize, dst: &DmaBuf) -> usize {
        HeaderAndPayload { header: &[], payload: self.0 }.write_chunk(k, dst)
    }
}

fn ring(size: u32) -> Ring {
    Ring::new(size).unwrap()
}

fn bufs(n: u32) -> Vec<DmaBuf> {
    (0..n).map(|_| DmaBuf::new()).collect()
}

fn rx_descs(n: u32) -> Vec<RxDesc> {
    (0..n).map(|_| RxDesc::default()).collect()
}

fn tx_descs(n: u32) -> Vec<TxDesc> {
    (0..n).map(|_| TxDesc::default()).collect()
}

/// A budget larger than any ring: "clean everything". Finite, so that a
/// ring that keeps reporting work fails a test instead of hanging it.
const ALL: u32 = 100_000;

type Rx<'a> = RxRing<&'a [RxDesc], &'a [DmaBuf]>;
type Tx<'a> = TxRing<&'a [TxDesc], &'a [DmaBuf]>;

fn read_all(b: &DmaBuf) -> [u8; BUF_SIZE] {
    let mut out = [0u8; BUF_SIZE];
    b.read_at(0, &mut out);
    out
}

/// What one RX clean saw, descriptor by descriptor.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    len: usize,
    eop: bool,
}

/// The driver's RX side: `next_to_clean` and the frame being assembled.
#[derive(Default)]
struct Poller {
    ntc: u32,
    asm: FrameAssembler<Sink>,
    /// The allocation hints the assembler asked for, frame by frame.
    hints: Vec<usize>,
    /// Frames lost to allocation failure.
    dropped: u64,
    /// `Some(n)`: allocations fail after `n` more successes.
    fail_alloc_after: Option<u64>,
}

impl Poller {
    /// One NAPI poll: cleans up to `budget` descriptors and returns the
    /// number cleaned and the frames completed.
    fn poll(&mut self, rx: &Rx, budget: u32) -> (u32, Vec<Vec<u8>>) {
        let mut frames = Vec::new();
        let (asm, hints, dropped, fail) = (&mut self.asm, &mut self.hints, &mut self.dropped, &mut self.fail_alloc_after);
        let n = rx.clean(&mut self.ntc, budget, |buf, len, eop| {
            let alloc = |hint: usize| {
                hints.push(hint);
                match fail {
                    Some(0) => None,
                    Some(k) => {
                        *k -= 1;
                        Some(Sink::with_room(usize::MAX))
                    }
                    None => Some(Sink::with_room(usize::MAX)),
                }
            };
            match asm.push(buf, len, eop, alloc) {
                Assembled::More => assert!(!eop),
                Assembled::Frame(v) => {
                    assert!(eop);
                    frames.push(v.data);
                }
                Assembled::Dropped => {
                    assert!(eop);
                    *dropped += 1;
                }
            }
        });
        (n, frames)
    }
}

// ---------------------------------------------------------------------------
// DmaBuf
// ---------------------------------------------------------------------------

#[test]
fn new_buffer_is_zero() {
    assert!(read_all(&DmaBuf::new()).iter().all(|&b| b == 0));
    assert!(read_all(&DmaBuf::default()).iter().all(|&b| b == 0));
}

#[test]
fn write_read_unaligned_keeps_neighbours() {
    for off in [0usize, 1, 3, 7, 8, 9, 15, 1000, 2040, 2041, 2047] {
        for len in [0usize, 1, 2, 7, 8, 9, 16, 17, 100] {
            if off + len > BUF_SIZE {
                continue;
            }
            let b = DmaBuf::new();
            let background = bytes(99, BUF_SIZE);
            b.write_at(0, &background);
            let data = bytes((off * 1000 + len) as u64, len);
            b.write_at(off, &data);
            let mut model = background.clone();
            model[off..off + len].copy_from_slice(&data);
            assert_eq!(read_all(&b)[..], model[..], "off {off} len {len}");
            let mut back = vec![0u8; len];
            b.read_at(off, &mut back);
            assert_eq!(back, data);
        }
    }
}

#[test]
fn write_whole_buffer_and_read_every_window() {
    let b = DmaBuf::new();
    let data = bytes(7, BUF_SIZE);
    b.write_at(0, &data);
    for off in [0, 1, 5, 8, 13, 2000] {
        for len in [0, 1, 3, 8, 11, 48] {
            let mut out = vec![0xEEu8; len];
            b.read_at(off, &mut out);
            assert_eq!(out[..], data[off..off + len]);
        }
    }
}

#[test]
fn zero_rounds_up_to_words() {
    let b = DmaBuf::new();
    b.write_at(0, &[0xFF; BUF_SIZE]);
    b.zero(9);
    let got = read_all(&b);
    assert!(got[..16].iter().all(|&x| x == 0));
    assert!(got[16..].iter().all(|&x| x == 0xFF));
    b.zero(0);
    assert!(read_all(&b)[16..].iter().all(|&x| x == 0xFF));
    b.zero(BUF_SIZE);
    assert!(read_all(&b).iter().all(|&x| x == 0));
}

#[test]
fn read_into_appends_exactly_len() {
    let b = DmaBuf::new();
    let data = bytes(3, BUF_SIZE);
    b.write_at(0, &data);
    for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 1023, 2047, 2048] {
        let mut s = Sink::with_room(usize::MAX);
        s.data.extend_from_slice(b"prefix");
        assert!(b.read_into(len, &mut s));
        assert_eq!(s.data.len(), 6 + len, "len {len}");
        assert_eq!(&s.data[..6], b"prefix");
        assert_eq!(s.data[6..], data[..len]);
    }
    // A length beyond the buffer is clamped to it.
    let mut s = Sink::with_room(usize::MAX);
    assert!(b.read_into(BUF_SIZE + 100, &mut s));
    assert_eq!(s.data, data);
}

#[test]
fn read_into_reports_a_full_sink() {
    let b = DmaBuf::new();
    b.write_at(0, &bytes(4, 100));
    let mut s = Sink::with_room(99);
    assert!(!b.read_into(100, &mut s));
    assert!(s.data.len() <= 99);
    let mut s = Sink::with_room(100);
    assert!(b.read_into(100, &mut s));
    assert_eq!(s.data, bytes(4, 100));
}

#[test]
fn copy_from_copies_the_first_len_bytes() {
    let src = DmaBuf::new();
    let src_bytes = bytes(10, BUF_SIZE);
    src.write_at(0, &src_bytes);
    for len in [0usize, 1, 7, 8, 9, 100, 2047, 2048] {
        let dst = DmaBuf::new();
        let old = bytes(11, BUF_SIZE);
        dst.write_at(0, &old);
        dst.copy_from(&src, len);
        let got = read_all(&dst);
        assert_eq!(got[..len], src_bytes[..len], "len {len}");
        // Whole words are copied; nothing past the last one is touched.
        let end = len.div_ceil(8) * 8;
        assert_eq!(got[end..], old[end..], "len {len}");
    }
    // Longer than a buffer: clamped.
    let dst = DmaBuf::new();
    dst.copy_from(&src, 10 * BUF_SIZE);
    assert_eq!(read_all(&dst)[..], src_bytes[..]);
}

#[derive(Clone, Debug)]
enum BufOp {
    Write(usize, Vec<u8>),
    Zero(usize),
    Read(usize, usize),
    ReadInto(usize),
}

fn buf_op() -> impl Strategy<Value = BufOp> {
    prop_oneof![
        (0..BUF_SIZE, proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(off, d)| BufOp::Write(off.min(BUF_SIZE - d.len()), d)),
        (0..BUF_SIZE, proptest::collection::vec(any::<u8>(), 0..=1))
            .prop_map(|(off, d)| BufOp::Write(off.min(BUF_SIZE - d.len()), d)),
        (0..=BUF_SIZE).prop_map(BufOp::Zero),
        (0..BUF_SIZE, 0usize..80).prop_map(|(off, len)| BufOp::Read(off.min(BUF_SIZE - len), len)),
        (0..=BUF_SIZE).prop_map(BufOp::ReadInto),
    ]
}

proptest! {
    /// A DmaBuf behaves like a plain byte array under writes, zeroing and
    /// reads at arbitrary offsets and lengths.
    #[test]
    fn dmabuf_matches_byte_array(ops in proptest::collection::vec(buf_op(), 0..60)) {
        let b = DmaBuf::new();
        let mut model = [0u8; BUF_SIZE];
        for op in ops {
            match op {
                BufOp::Write(off, d) => {
                    b.write_at(off, &d);
                    model[off..off + d.len()].copy_from_slice(&d);
                }
                BufOp::Zero(len) => {
                    b.zero(len);
                    let end = (len.div_ceil(8) * 8).min(BUF_SIZE);
                    model[..end].fill(0);
                }
                BufOp::Read(off, len) => {
                    let mut out = vec![0x5Au8; len];
                    b.read_at(off, &mut out);
                    prop_assert_eq!(&out[..], &model[off..off + len]);
                }
                BufOp::ReadInto(len) => {
                    let mut s = Sink::with_room(usize::MAX);
                    prop_assert!(b.read_into(len, &mut s));
                    prop_assert_eq!(&s.data[..], &model[..len]);
                }
            }
        }
        prop_assert_eq!(&read_all(&b)[..], &model[..]);
    }
}

// ---------------------------------------------------------------------------
// Chunking
// ---------------------------------------------------------------------------

#[test]
fn descs_for_and_chunk_len() {
    assert_eq!(descs_for(0), 1);
    assert_eq!(descs_for(1), 1);
    assert_eq!(descs_for(BUF_SIZE - 1), 1);
    assert_eq!(descs_for(BUF_SIZE), 1);
    assert_eq!(descs_for(BUF_SIZE + 1), 2);
    assert_eq!(descs_for(2 * BUF_SIZE), 2);
    assert_eq!(descs_for(FrameHeader::MAX_FRAME), 33);
    assert_eq!(FrameHeader::MAX_FRAME, 65543);
    assert_eq!(chunk_len(0, 0), 0);
    assert_eq!(chunk_len(1, 0), 1);
    assert_eq!(chunk_len(BUF_SIZE, 0), BUF_SIZE);
    assert_eq!(chunk_len(BUF_SIZE, 1), 0);
    assert_eq!(chunk_len(BUF_SIZE + 1, 0), BUF_SIZE);
    assert_eq!(chunk_len(BUF_SIZE + 1, 1), 1);
    assert_eq!(chunk_len(65543, 32), 65543 - 32 * BUF_SIZE);
    assert_eq!(chunk_len(65543, 33), 0);
    for len in 0..3 * BUF_SIZE + 3 {
        let n = descs_for(len) as usize;
        let total: usize = (0..n).map(|k| chunk_len(len, k)).sum();
        assert_eq!(total, len);
        // Every chunk but the last is full; the last is non-empty unless
        // the frame is.
        assert!((0..n - 1).all(|k| chunk_len(len, k) == BUF_SIZE));
        assert_eq!(chunk_len(len, n - 1) == 0, len == 0);
    }
}

/// Writes every chunk of `src` into fresh, dirtied buffers and concatenates
/// what each chunk wrote.
fn reassemble(src: &impl FrameSource) -> Vec<u8> {
    let mut out = Vec::new();
    for k in 0..descs_for(src.len()) as usize {
        let b = DmaBuf::new();
        b.write_at(0, &[0xA5; BUF_SIZE]);
        let n = src.write_chunk(k, &b);
        assert_eq!(n, chunk_len(src.len(), k));
        let all = read_all(&b);
        // Nothing written past the chunk.
        assert!(all[n..].iter().all(|&x| x == 0xA5), "chunk {k} wrote past {n}");
        out.extend_from_slice(&all[..n]);
    }
    out
}

#[test]
fn header_and_payload_chunks_around_buffer_boundaries() {
    for total in [0usize, 1, 8, 9, 2047, 2048, 2049, 4095, 4096, 4097, 65543] {
        for hlen in [0usize, 1, 8, 2047, 2048, 2049] {
            if hlen > total {
                continue;
            }
            let header = bytes(1 + total as u64, hlen);
            let payload = bytes(2 + hlen as u64, total - hlen);
            let src = HeaderAndPayload { header: &header, payload: &payload };
            assert_eq!(src.len(), total);
            let want = [&header[..], &payload[..]].concat();
            assert_eq!(reassemble(&src), want, "total {total} header {hlen}");
        }
    }
}

proptest! {
    /// Any header/payload split reassembles to header ++ payload.
    #[test]
    fn header_and_payload_reassemble(hlen in 0usize..5000, plen in 0usize..7000, seed in any::<u64>()) {
        let header = bytes(seed, hlen);
        let payload = bytes(!seed, plen);
        let got = reassemble(&HeaderAndPayload { header: &header, payload: &payload });
        prop_assert_eq!(got, [&header[..], &payload[..]].concat());
    }
}

// ---------------------------------------------------------------------------
// FrameHeader (uapi)
// ---------------------------------------------------------------------------

#[test]
fn frame_header_encodes_little_endian_and_round_trips() {
    let h = FrameHeader { dst_port: 0x1234, src_port: 0xABCD, len: 0x0001_0203 };
    let b = h.encode();
    assert_eq!(b, [0x34, 0x12, 0xCD, 0xAB, 0x03, 0x02, 0x01, 0x00]);
    let h = FrameHeader { dst_port: 7, src_port: 0, len: 100 };
    assert_eq!(FrameHeader::parse(&h.encode(), 108), Some(h));
    // Trailing bytes after the header are fine (the payload).
    let f = frame(5, 300);
    let h = FrameHeader::parse(&f, f.len()).unwrap();
    assert_eq!((h.dst_port, h.src_port, h.len), (6, 5, 300));
}

#[test]
fn frame_header_parse_rejects_bad_frames() {
    let ok = FrameHeader { dst_port: 1, src_port: 2, len: 0 };
    assert_eq!(FrameHeader::parse(&ok.encode(), 8), Some(ok));
    // Short buffer or short frame.
    for n in 0..8 {
        assert_eq!(FrameHeader::parse(&ok.encode()[..n], 8), None);
        assert_eq!(FrameHeader::parse(&ok.encode(), n), None);
    }
    // Length field disagrees with the frame.
    assert_eq!(FrameHeader::parse(&ok.encode(), 9), None);
    let h = FrameHeader { len: 10, ..ok };
    assert_eq!(FrameHeader::parse(&h.encode(), 17), None);
    assert_eq!(FrameHeader::parse(&h.encode(), 19), None);
    assert_eq!(FrameHeader::parse(&h.encode(), 18), Some(h));
    // Destination port 0.
    let h = FrameHeader { dst_port: 0, ..ok };
    assert_eq!(FrameHeader::parse(&h.encode(), 8), None);
    // Largest datagram accepted, one more refused even when consistent.
    let h = FrameHeader { len: MAX_DATAGRAM as u32, ..ok };
    assert_eq!(FrameHeader::parse(&h.encode(), FrameHeader::MAX_FRAME), Some(h));
    let h = FrameHeader { len: MAX_DATAGRAM as u32 + 1, ..ok };
    assert_eq!(FrameHeader::parse(&h.encode(), FrameHeader::MAX_FRAME + 1), None);
    let h = FrameHeader { len: u32::MAX, ..ok };
    assert_eq!(FrameHeader::parse(&h.encode(), u32::MAX as usize + 8), None);
}

proptest! {
    #[test]
    fn frame_header_round_trip(dst in 1u16.., src in any::<u16>(), len in 0u32..=MAX_DATAGRAM as u32) {
        let h = FrameHeader { dst_port: dst, src_port: src, len };
        prop_assert_eq!(FrameHeader::parse(&h.encode(), len as usize + 8), Some(h));
    }

    /// parse accepts exactly the frames whose header is consistent.
    #[test]
    fn frame_header_parse_accepts_exactly_valid(b in proptest::array::uniform8(any::<u8>()), frame_len in 0usize..70_000) {
        let got = FrameHeader::parse(&b, frame_len);
        let dst = u16::from_le_bytes([b[0], b[1]]);
        let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let valid = frame_len >= 8 && dst != 0 && len == frame_len - 8 && len <= MAX_DATAGRAM;
        prop_assert_eq!(got.is_some(), valid);
        if let Some(h) = got {
            prop_assert_eq!(h.encode(), b);
        }
    }
}

// ---------------------------------------------------------------------------
// RxRing
// ---------------------------------------------------------------------------

#[test]
fn rx_new_gives_all_but_one_descriptor_to_hardware() {
    let (d, b) = (rx_descs(64), bufs(64));
    let rx: Rx = RxRing::new(ring(64), &d, &b);
    assert_eq!(rx.ring().size(), 64);
    assert_eq!((rx.head(), rx.tail()), (0, 63));
    assert!(!rx.has_work(0));
    for (i, desc) in d.iter().enumerate() {
        assert_eq!(desc.buf.load(Relaxed), i as u32);
    }
}

#[test]
#[should_panic]
fn rx_new_rejects_mismatched_storage() {
    let (d, b) = (rx_descs(64), bufs(63));
    let _rx: Rx = RxRing::new(ring(64), &d, &b);
}

#[test]
fn rx_receive_fills_descriptors_and_clean_sees_the_frame() {
    let (d, b) = (rx_descs(64), bufs(64));
    let rx: Rx = RxRing::new(ring(64), &d, &b);
    let (h, p) = frame_parts(1, 5000);
    assert_eq!(rx.hw_receive(&HeaderAndPayload { header: &h, payload: &p }, 4242), Ok(3));
    assert_eq!(rx.head(), 3);
    for (i, (len, status)) in [(2048, DESC_DD), (2048, DESC_DD), (5008 - 4096, DESC_DD | DESC_EOP)].into_iter().enumerate()
    {
        assert_eq!(d[i].len.load(Relaxed), len);
        assert_eq!(d[i].status.load(Relaxed), status);
        assert_eq!(d[i].port.load(Relaxed), 4242);
    }
    assert_eq!(d[3].status.load(Relaxed), 0);
    assert!(rx.has_work(0));
    assert!(!rx.has_work(3));

    let mut ntc = 0;
    let mut seen = Vec::new();
    let mut data = Vec::new();
    assert_eq!(
        rx.clean(&mut ntc, 64, |buf, len, eop| {
            seen.push(Seen { len, eop });
            let mut s = Sink::with_room(usize::MAX);
            assert!(buf.read_into(len, &mut s));
            data.extend(s.data);
        }),
        3
    );
    assert_eq!(seen, [Seen { len: 2048, eop: false }, Seen { len: 2048, eop: false }, Seen { len: 912, eop: true }]);
    assert_eq!(data, frame(1, 5000));
    assert_eq!(ntc, 3);
    // Descriptors handed back: status cleared, tail one behind ntc.
    assert!(d[..3].iter().all(|x| x.status.load(Relaxed) == 0));
    assert_eq!(rx.tail(), 2);
    assert!(!rx.has_work(3));
    // Nothing more to clean; the tail does not move.
    assert_eq!(rx.clean(&mut ntc, 64, |_, _, _| panic!("no work")), 0);
    assert_eq!(rx.tail(), 2);
}

#[test]
fn rx_empty_and_one_byte_frames() {
    let (d, b) = (rx_descs(64), bufs(64));
    let rx: Rx = RxRing::new(ring(64), &d, &b);
    assert_eq!(rx.hw_receive(&Raw(&[]), 1), Ok(1));
    assert_eq!(rx.hw_receive(&Raw(&[0x42]), 1), Ok(1));
    let mut ntc = 0;
    let mut seen = Vec::new();
    rx.clean(&mut ntc, 8, |buf, len, eop| {
        let mut s = Sink::with_room(usize::MAX);
        assert!(buf.read_into(len, &mut s));
        seen.push((s.data, eop));
    });
    assert_eq!(seen, [(vec![], true), (vec![0x42], true)]);
}

#[test]
fn rx_clean_delivers_frames_in_order_with_assembler() {
    let (d, b) = (rx_descs(128), bufs(128));
    let rx: Rx = RxRing::new(ring(128), &d, &b);
    let sizes = [0usize, 1, 2039, 2040, 2041, 4088, 4089, 100, FrameHeader::MAX_FRAME - 8, 3];
    let mut want = Vec::new();
    for (seq, &len) in sizes.iter().enumerate() {
        let (h, p) = frame_parts(seq as u64, len);
        let need = rx.hw_receive(&HeaderAndPayload { header: &h, payload: &p }, 9).unwrap();
        assert_eq!(need, descs_for(8 + len));
        want.push(frame(seq as u64, len));
    }
    let mut poller = Poller::default();
    let (n, frames) = poller.poll(&rx, ALL);
    assert_eq!(n, sizes.iter().map(|&l| descs_for(8 + l)).sum::<u32>());
    assert_eq!(frames, want);
    // The allocation hint is the header's length field plus the header.
    assert_eq!(poller.hints, sizes.iter().map(|&l| l + 8).collect::<Vec<_>>());
    assert_eq!(poller.ntc, rx.head());
    assert_eq!(rx.tail(), rx.ring().tail_for(poller.ntc));
}

#[test]
fn rx_budget_splits_frames_and_resumes_mid_frame() {
    let (d, b) = (rx_descs(64), bufs(64));
    let rx: Rx = RxRing::new(ring(64), &d, &b);
    // 5 + 1 + 3 descriptors.
    let lens = [4 * BUF_SIZE + 10 - 8, 20, 2 * BUF_SIZE + 1 - 8];
    for (seq, &len) in lens.iter().enumerate() {
        let (h, p) = frame_parts(seq as u64, len);
        rx.hw_receive(&HeaderAndPayload { header: &h, payload: &p }, 1).unwrap();
    }
    assert_eq!(rx.head(), 9);
    let mut poller = Poller::default();
    let mut got = Vec::new();
    let mut trace = Vec::new();
    for budget in [2, 2, 0, 1, 1, 2, 5] {
        let before = poller.ntc;
        let (n, frames) = poller.poll(&rx, budget);
        trace.push((n, frames.len()));
        assert_eq!(poller.ntc, rx.ring().add(before, n));
        // Each clean that did work hands its descriptors back at once.
        assert_eq!(rx.tail(), rx.ring().tail_for(poller.ntc));
        got.extend(frames);
    }
    assert_eq!(trace, [(2, 0), (2, 0), (0, 0), (1, 1), (1, 1), (2, 0), (1, 1)]);
    assert_eq!(got, [frame(0, lens[0]), frame(1, lens[1]), frame(2, lens[2])]);
    assert!(!rx.has_work(poller.ntc));
}

#[test]
fn rx_full_ring_misses_and_writes_nothing() {
    let (d, b) = (rx_descs(64), bufs(64));
    let rx: Rx = RxRing::new(ring(64), &d, &b);
    for seq in 0..63 {
        assert_eq!(rx.hw_receive(&HeaderAndPayload { header: &frame_parts(seq, 0).0, payload: &[] }, 1), Ok(1));
    }
    assert_eq!(rx.head(), 63);
    let snapshot = |d: &[RxDesc]| d.iter().map(|x| (x.len.load(Relaxed), x.status.load(Relaxed))).collect::<Vec<_>>();
    let before = snapshot(&d);
    let buf63 = read_all(&b[63]);
    let f = frame(100, 10);
    assert_eq!(rx.hw_receive(&Raw(&f), 1), Err(RxMissed));
    assert_eq!(snapshot(&d), before);
    assert_eq!(read_all(&b[63]), buf63);
    assert_eq!((rx.head(), rx.tail()), (63, 63));

    // Free two descriptors: a three-descriptor frame is still missed whole,
    // a two-descriptor one fits.
    let mut poller = Poller::default();
    assert_eq!(poller.poll(&rx, 2).0, 2);
    assert_eq!(rx.tail(), 1);
    let big = frame(101, 2 * BUF_SIZE);
    let before = snapshot(&d);
    assert_eq!(rx.hw_receive(&Raw(&big), 1), Err(RxMissed));
    assert_eq!(snapshot(&d), before);
    assert_eq!(rx.head(), 63);
    let two = frame(102, BUF_SIZE);
    assert_eq!(rx.hw_receive(&Raw(&two), 1), Ok(2));
    assert_eq!(rx.head(), 1);
    assert_eq!(rx.hw_receive(&Raw(&[]), 1), Err(RxMissed));
    // The driver now sees the 61 remaining small frames, then the wrapped one.
    let (n, frames) = poller.poll(&rx, 1000);
    assert_eq!(n, 63);
    assert_eq!(frames.len(), 62);
    assert_eq!(frames[..61], (2..63).map(|s| frame(s, 0)).collect::<Vec<_>>()[..]);
    assert_eq!(frames[61], two);
}

#[test]
fn rx_frame_larger_than_ring_is_always_missed() {
    let (d, b) = (rx_descs(64), bufs(64));
    let rx: Rx = RxRing::new(ring(64), &d, &b);
    let huge = vec![1u8; 63 * BUF_SIZE + 1];
    assert_eq!(rx.hw_receive(&Raw(&huge), 1), Err(RxMissed));
    let exact = vec![2u8; 63 * BUF_SIZE];
    assert_eq!(rx.hw_receive(&Raw(&exact), 1), Ok(63));
    let mut s = Sink::with_room(usize::MAX);
    let mut ntc = 0;
    assert_eq!(rx.clean(&mut ntc, 100, |buf, len, _| assert!(buf.read_into(len, &mut s))), 63);
    assert_eq!(s.data, exact);
}

#[test]
fn rx_descriptors_are_reused_around_the_ring_many_times() {
    let (d, b) = (rx_descs(64), bufs(64));
    let rx: Rx = RxRing::new(ring(64), &d, &b);
    let mut poller = Poller::default();
    let mut seq = 0u64;
    let mut next_expected = 0u64;
    let mut missed = 0;
    for round in 0..400u64 {
        // Fill until the ring refuses.
        loop {
            let len = (bytes(seq, 1)[0] as usize * 37) % 6000;
            let (h, p) = frame_parts(seq, len);
            match rx.hw_receive(&HeaderAndPayload { header: &h, payload: &p }, 1) {
                Ok(_) => seq += 1,
                Err(RxMissed) => {
                    missed += 1;
                    break;
                }
            }
        }
        // Drain a varying amount.
        let budget = [1, 7, 64, 3, 1000][round as usize % 5];
        let (_, frames) = poller.poll(&rx, budget);
        for f in frames {
            let len = f.len() - 8;
            assert_eq!(f, frame(next_expected, len));
            next_expected += 1;
        }
        assert_eq!(rx.tail(), rx.ring().tail_for(poller.ntc));
    }
    let (_, frames) = poller.poll(&rx, ALL);
    next_expected += frames.len() as u64;
    assert_eq!(next_expected, seq);
    assert!(seq > 1000, "only {seq} frames went round");
    assert_eq!(missed, 400);
    assert_eq!(poller.dropped, 0);
    assert_eq!(poller.ntc, rx.head());
}

#[test]
fn assembler_drops_a_frame_whose_allocation_fails_and_recovers() {
    let (d, b) = (rx_descs(64), bufs(64));
    let rx: Rx = RxRing::new(ring(64), &d, &b);
    let lens = [3000usize, 10, 5000, 7];
    for (seq, &len) in lens.iter().enumerate() {
        rx.hw_receive(&Raw(&frame(seq as u64, len)), 1).unwrap();
    }
    let mut poller = Poller { fail_alloc_after: Some(1), ..Poller::default() };
    // First frame allocated; second fails; then allocation works again.
    let (_, f1) = poller.poll(&rx, 3);
    assert_eq!(f1, [frame(0, 3000)]);
    assert_eq!(poller.dropped, 1);
    poller.fail_alloc_after = None;
    let (_, f2) = poller.poll(&rx, 100);
    assert_eq!(f2, [frame(2, 5000), frame(3, 7)]);
    assert_eq!(poller.dropped, 1);
}

#[test]
fn assembler_drops_a_frame_that_overflows_its_sink() {
    let b0 = DmaBuf::new();
    let b1 = DmaBuf::new();
    let f = frame(1, 3000);
    b0.write_at(0, &f[..BUF_SIZE]);
    b1.write_at(0, &f[BUF_SIZE..]);
    let mut asm = FrameAssembler::<Sink>::default();
    // The sink is sized from the hint, but one byte short.
    let mut hint_seen = 0;
    let r = asm.push(&b0, BUF_SIZE, false, |hint| {
        hint_seen = hint;
        Some(Sink::with_room(hint - 1))
    });
    assert!(matches!(r, Assembled::More));
    assert_eq!(hint_seen, 3008);
    let r = asm.push(&b1, f.len() - BUF_SIZE, true, |_| panic!("not a first descriptor"));
    assert!(matches!(r, Assembled::Dropped));
    // The next frame starts cleanly.
    let g = frame(2, 4);
    b0.write_at(0, &g);
    match asm.push(&b0, g.len(), true, |hint| Some(Sink::with_room(hint))) {
        Assembled::Frame(s) => assert_eq!(s.data, g),
        _ => panic!("expected a frame"),
    }
    // A frame that overflows on its first descriptor: dropped at its EOP,
    // not before, and later descriptors ask for no allocation.
    b1.write_at(0, &f[BUF_SIZE..]);
    assert!(matches!(asm.push(&b0, BUF_SIZE, false, |_| Some(Sink::with_room(5))), Assembled::More));
    assert!(matches!(asm.push(&b1, 10, false, |_| panic!("mid-frame alloc")), Assembled::More));
    assert!(matches!(asm.push(&b1, 10, true, |_| panic!("mid-frame alloc")), Assembled::Dropped));
}

// ---------------------------------------------------------------------------
// TxRing
// ---------------------------------------------------------------------------

/// The hardware's transmit step, as the engine does it: the frame at the TX
/// head goes to the RX ring (or is missed there), then is completed.
fn hw_transmit(tx: &Tx, rx: &Rx, port: u16) -> Option<(TxFrame, Result<u32, RxMissed>)> {
    match tx.hw_peek() {
        HwTx::Idle => None,
        HwTx::Frame(f) => {
            let r = rx.hw_receive(&tx.frame_source(&f), port);
            tx.hw_complete(&f);
            Some((f, r))
        }
    }
}

fn xmit_frame(tx: &Tx, p: &mut TxProducer, seq: u64, payload_len: usize, launch_ns: u64) -> Result<u32, TxBusy> {
    let (h, pl) = frame_parts(seq, payload_len);
    tx.xmit(p, &HeaderAndPayload { header: &h, payload: &pl }, launch_ns)
}

#[test]
fn tx_new_is_empty() {
    let (d, b) = (tx_descs(64), bufs(64));
    let tx: Tx = TxRing::new(ring(64), &d, &b);
    let p = TxProducer::default();
    assert_eq!((tx.head(), tx.tail()), (0, 0));
    assert_eq!(tx.hw_peek(), HwTx::Idle);
    assert_eq!(tx.unused(&p), 63);
    assert_eq!(tx.ring().size(), 64);
}

#[test]
fn tx_xmit_peek_transmit_complete_clean() {
    let (td, tb) = (tx_descs(64), bufs(64));
    let (rd, rb) = (rx_descs(64), bufs(64));
    let tx: Tx = TxRing::new(ring(64), &td, &tb);
    let rx: Rx = RxRing::new(ring(64), &rd, &rb);
    let mut p = TxProducer::default();
    assert_eq!(xmit_frame(&tx, &mut p, 1, 3000, 111), Ok(2));
    assert_eq!(xmit_frame(&tx, &mut p, 2, 0, 222), Ok(1));
    assert_eq!(xmit_frame(&tx, &mut p, 3, 70, 333), Ok(1));
    assert_eq!(p, TxProducer { next_to_use: 4, next_to_clean: 0 });
    assert_eq!(tx.tail(), 4);
    assert_eq!(tx.unused(&p), 59);
    // Driver-written descriptors: EOP on the last, no DD.
    let st: Vec<u32> = td[..4].iter().map(|d| d.status.load(Relaxed)).collect();
    assert_eq!(st, [0, DESC_EOP, DESC_EOP, DESC_EOP]);

    // Peeking does not consume.
    let f1 = TxFrame { first: 0, ndesc: 2, len: 3008, launch_ns: 111 };
    assert_eq!(tx.hw_peek(), HwTx::Frame(f1));
    assert_eq!(tx.hw_peek(), HwTx::Frame(f1));
    // Nothing completed: nothing to reclaim.
    assert_eq!(tx.clean(&mut p), 0);

    let (f, r) = hw_transmit(&tx, &rx, 80).unwrap();
    assert_eq!((f, r), (f1, Ok(2)));
    assert_eq!(tx.head(), 2);
    assert_eq!(rd[0].port.load(Relaxed), 80);
    assert_eq!(
        tx.hw_peek(),
        HwTx::Frame(TxFrame { first: 2, ndesc: 1, len: 8, launch_ns: 222 })
    );
    // Only the completed frame is reclaimed.
    assert_eq!(tx.clean(&mut p), 2);
    assert_eq!(p.next_to_clean, 2);
    assert_eq!(tx.clean(&mut p), 0);
    assert_eq!(tx.unused(&p), 61);

    let (f, _) = hw_transmit(&tx, &rx, 80).unwrap();
    assert_eq!(f.launch_ns, 222);
    let (f, _) = hw_transmit(&tx, &rx, 80).unwrap();
    assert_eq!(f, TxFrame { first: 3, ndesc: 1, len: 78, launch_ns: 333 });
    assert!(hw_transmit(&tx, &rx, 80).is_none());
    assert_eq!(tx.head(), 4);
    assert_eq!(tx.clean(&mut p), 2);
    assert_eq!(tx.unused(&p), 63);

    let mut poller = Poller::default();
    let (_, frames) = poller.poll(&rx, 100);
    assert_eq!(frames, [frame(1, 3000), frame(2, 0), frame(3, 70)]);
}

#[test]
fn tx_busy_when_the_ring_is_full() {
    let (td, tb) = (tx_descs(64), bufs(64));
    let (rd, rb) = (rx_descs(64), bufs(64));
    let tx: Tx = TxRing::new(ring(64), &td, &tb);
    let rx: Rx = RxRing::new(ring(64), &rd, &rb);
    let mut p = TxProducer::default();
    // 31 two-descriptor frames leave one descriptor.
    for seq in 0..31 {
        assert_eq!(xmit_frame(&tx, &mut p, seq, BUF_SIZE, seq), Ok(2));
    }
    assert_eq!(tx.unused(&p), 1);
    let before = (p, tx.tail(), td.iter().map(|d| d.status.load(Relaxed)).collect::<Vec<_>>());
    assert_eq!(xmit_frame(&tx, &mut p, 99, BUF_SIZE, 0), Err(TxBusy));
    assert_eq!((p, tx.tail(), td.iter().map(|d| d.status.load(Relaxed)).collect::<Vec<_>>()), before);
    assert_eq!(xmit_frame(&tx, &mut p, 31, 5, 0), Ok(1));
    assert_eq!(tx.unused(&p), 0);
    assert_eq!(xmit_frame(&tx, &mut p, 99, 0, 0), Err(TxBusy));
    // The tail stops one short of the driver's next_to_clean.
    assert_eq!(tx.tail(), 63);

    // Transmitting frees nothing until the driver cleans.
    assert_eq!(hw_transmit(&tx, &rx, 1).unwrap().1, Ok(2));
    assert_eq!(xmit_frame(&tx, &mut p, 99, 0, 0), Err(TxBusy));
    assert_eq!(tx.clean(&mut p), 2);
    assert_eq!(tx.unused(&p), 2);
    // A three-descriptor frame is still refused; two fit and wrap.
    assert_eq!(xmit_frame(&tx, &mut p, 99, 2 * BUF_SIZE, 0), Err(TxBusy));
    assert_eq!(xmit_frame(&tx, &mut p, 32, BUF_SIZE, 0), Ok(2));
    assert_eq!(p.next_to_use, 1);
    assert_eq!(tx.tail(), 1);
}

#[test]
fn tx_to_rx_loopback_round_trips_every_size() {
    let (td, tb) = (tx_descs(64), bufs(64));
    let (rd, rb) = (rx_descs(64), bufs(64));
    let tx: Tx = TxRing::new(ring(64), &td, &tb);
    let rx: Rx = RxRing::new(ring(64), &rd, &rb);
    let mut p = TxProducer::default();
    let mut poller = Poller::default();
    let sizes = [0usize, 1, 2039, 2040, 2041, 4088, 4089, MAX_DATAGRAM, 17, MAX_DATAGRAM - 1];
    for round in 0..5u64 {
        for (i, &len) in sizes.iter().enumerate() {
            let seq = round * 100 + i as u64;
            assert_eq!(xmit_frame(&tx, &mut p, seq, len, seq * 7), Ok(descs_for(len + 8)));
            let (f, r) = hw_transmit(&tx, &rx, 3).unwrap();
            assert_eq!(f.launch_ns, seq * 7);
            assert_eq!(f.len, len + 8);
            assert_eq!(r, Ok(f.ndesc));
            assert_eq!(tx.clean(&mut p), f.ndesc);
            let (_, frames) = poller.poll(&rx, ALL);
            assert_eq!(frames, [frame(seq, len)]);
        }
    }
}

// ---------------------------------------------------------------------------
// Model-based property test of TX -> wire -> RX
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    /// The driver sends a frame with this payload length.
    Xmit(usize),
    /// The hardware transmits the frame at the TX head into the RX ring.
    HwTransmit,
    /// The driver's RX poll with this budget.
    RxClean(u32),
    /// The driver reclaims transmitted TX descriptors.
    TxClean,
}

fn payload_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 0usize..100,
        4 => 0usize..3 * BUF_SIZE,
        1 => BUF_SIZE - 10..BUF_SIZE + 2,
        1 => 20 * BUF_SIZE..=MAX_DATAGRAM,
    ]
}

fn model_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => payload_len().prop_map(Op::Xmit),
        4 => Just(Op::HwTransmit),
        3 => prop_oneof![1u32..4, 1u32..80, Just(0u32)].prop_map(Op::RxClean),
        2 => Just(Op::TxClean),
    ]
}

/// A frame in the TX ring, as the model tracks it.
#[derive(Clone, Debug)]
struct TxM {
    seq: u64,
    payload: usize,
    ndesc: u32,
    sent: bool,
}

/// Everything the model knows about both rings.
struct Model {
    size: u32,
    /// Frames in the TX ring not yet reclaimed, oldest first.
    tx: VecDeque<TxM>,
    /// Descriptors ever put on / sent from / reclaimed from the TX ring.
    tx_put: u64,
    tx_sent: u64,
    /// Frames in the RX ring not completely cleaned: (seq, payload, ndesc).
    rx: VecDeque<(u64, usize, u32)>,
    /// Descriptors ever written to / cleaned from the RX ring.
    rx_written: u64,
    rx_cleaned: u64,
    /// Descriptors of the oldest RX frame already cleaned.
    rx_partial: u32,
    arrived: Vec<u64>,
    missed: Vec<u64>,
    xmitted: Vec<u64>,
    next_seq: u64,
}

impl Model {
    fn tx_used(&self) -> u32 {
        self.tx.iter().map(|f| f.ndesc).sum()
    }

    fn rx_filled(&self) -> u32 {
        (self.rx_written - self.rx_cleaned) as u32
    }
}

fn check_indices(m: &Model, tx: &Tx, rx: &Rx, p: &TxProducer, poller: &Poller) -> Result<(), TestCaseError> {
    let size = m.size as u64;
    let r = tx.ring();
    let tx_reclaimed = m.tx_put - m.tx_used() as u64;
    prop_assert_eq!(p.next_to_use as u64, m.tx_put % size);
    prop_assert_eq!(tx.tail(), p.next_to_use);
    prop_assert_eq!(tx.head() as u64, m.tx_sent % size);
    prop_assert_eq!(p.next_to_clean as u64, tx_reclaimed % size);
    prop_assert_eq!(tx.unused(p), m.size - 1 - m.tx_used());
    // The hardware's TX head lies within the driver's in-use span.
    prop_assert!(r.distance(p.next_to_clean, tx.head()) <= r.distance(p.next_to_clean, p.next_to_use));
    prop_assert_eq!(rx.head() as u64, m.rx_written % size);
    prop_assert_eq!(poller.ntc as u64, m.rx_cleaned % size);
    prop_assert_eq!(rx.tail(), r.tail_for(poller.ntc));
    prop_assert_eq!(rx.has_work(poller.ntc), m.rx_filled() > 0);
    prop_assert!(m.rx_filled() < m.size);
    Ok(())
}

fn run_model(size: u32, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let (td, tb) = (tx_descs(size), bufs(size));
    let (rd, rb) = (rx_descs(size), bufs(size));
    let tx: Tx = TxRing::new(ring(size), &td, &tb);
    let rx: Rx = RxRing::new(ring(size), &rd, &rb);
    let mut p = TxProducer::default();
    let mut poller = Poller::default();
    let mut m = Model {
        size,
        tx: VecDeque::new(),
        tx_put: 0,
        tx_sent: 0,
        rx: VecDeque::new(),
        rx_written: 0,
        rx_cleaned: 0,
        rx_partial: 0,
        arrived: Vec::new(),
        missed: Vec::new(),
        xmitted: Vec::new(),
        next_seq: 0,
    };

    fn hw_transmit_step(m: &mut Model, tx: &Tx, rx: &Rx) -> Result<(), TestCaseError> {
        let expect = m.tx.iter().position(|f| !f.sent);
        let got = hw_transmit(tx, rx, 7);
        match (expect, got) {
            (None, None) => {}
            (Some(i), Some((f, r))) => {
                let fm = m.tx[i].clone();
                prop_assert_eq!(f.first as u64, m.tx_sent % m.size as u64);
                prop_assert_eq!(f.ndesc, fm.ndesc);
                prop_assert_eq!(f.len, fm.payload + 8);
                prop_assert_eq!(f.launch_ns, fm.seq * 1000 + 1);
                m.tx[i].sent = true;
                m.tx_sent += fm.ndesc as u64;
                if fm.ndesc <= m.size - 1 - m.rx_filled() {
                    prop_assert_eq!(r, Ok(fm.ndesc));
                    m.rx.push_back((fm.seq, fm.payload, fm.ndesc));
                    m.rx_written += fm.ndesc as u64;
                } else {
                    prop_assert_eq!(r, Err(RxMissed));
                    m.missed.push(fm.seq);
                }
            }
            (e, g) => prop_assert!(false, "hardware expected {:?}, found {:?}", e, g),
        }
        Ok(())
    }

    fn rx_clean_step(m: &mut Model, poller: &mut Poller, rx: &Rx, budget: u32) -> Result<(), TestCaseError> {
        let (n, frames) = poller.poll(rx, budget);
        prop_assert_eq!(n, budget.min(m.rx_filled()));
        m.rx_cleaned += n as u64;
        let mut left = n;
        let mut want = Vec::new();
        while left > 0 {
            let (seq, payload, ndesc) = *m.rx.front().unwrap();
            let take = left.min(ndesc - m.rx_partial);
            m.rx_partial += take;
            left -= take;
            if m.rx_partial == ndesc {
                m.rx.pop_front();
                m.rx_partial = 0;
                want.push((seq, payload));
            }
        }
        prop_assert_eq!(frames.len(), want.len());
        for (f, (seq, payload)) in frames.into_iter().zip(want) {
            prop_assert!(f == frame(seq, payload), "frame {} corrupted", seq);
            m.arrived.push(seq);
        }
        Ok(())
    }

    for op in ops {
        match op {
            Op::Xmit(len) => {
                let seq = m.next_seq;
                m.next_seq += 1;
                let need = descs_for(len + 8);
                let r = xmit_frame(&tx, &mut p, seq, len, seq * 1000 + 1);
                if need <= m.size - 1 - m.tx_used() {
                    prop_assert_eq!(r, Ok(need));
                    m.tx.push_back(TxM { seq, payload: len, ndesc: need, sent: false });
                    m.tx_put += need as u64;
                    m.xmitted.push(seq);
                } else {
                    prop_assert_eq!(r, Err(TxBusy));
                }
            }
            Op::HwTransmit => hw_transmit_step(&mut m, &tx, &rx)?,
            Op::RxClean(budget) => rx_clean_step(&mut m, &mut poller, &rx, budget)?,
            Op::TxClean => {
                let n = tx.clean(&mut p);
                let mut want = 0;
                while m.tx.front().is_some_and(|f| f.sent) {
                    want += m.tx.pop_front().unwrap().ndesc;
                }
                prop_assert_eq!(n, want);
            }
        }
        check_indices(&m, &tx, &rx, &p, &poller)?;
    }

    // Drain: the hardware sends everything, the driver cleans everything.
    while m.tx.iter().any(|f| !f.sent) {
        hw_transmit_step(&mut m, &tx, &rx)?;
        rx_clean_step(&mut m, &mut poller, &rx, 5)?;
        check_indices(&m, &tx, &rx, &p, &poller)?;
    }
    prop_assert_eq!(tx.hw_peek(), HwTx::Idle);
    rx_clean_step(&mut m, &mut poller, &rx, ALL)?;
    tx.clean(&mut p);
    m.tx.clear();
    check_indices(&m, &tx, &rx, &p, &poller)?;
    prop_assert_eq!(tx.unused(&p), size - 1);
    prop_assert!(!rx.has_work(poller.ntc));

    // Every frame sent arrived intact in order or was missed, exactly once.
    prop_assert_eq!(poller.dropped, 0);
    prop_assert!(m.arrived.windows(2).all(|w| w[0] < w[1]));
    let mut all: Vec<u64> = m.arrived.iter().chain(m.missed.iter()).copied().collect();
    all.sort_unstable();
    prop_assert_eq!(all, m.xmitted);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Random interleavings of driver xmit, hardware transmit into RX, RX
    /// polls with random budgets and TX cleans match a queue model.
    #[test]
    fn tx_rx_match_model(big in any::<bool>(), ops in proptest::collection::vec(model_op(), 0..250)) {
        run_model(if big { 128 } else { 64 }, ops)?;
    }
}

// ---------------------------------------------------------------------------
// Stress: real threads
// ---------------------------------------------------------------------------

/// Payload length of frame `seq` in the stress tests: up to ~10 KB, with
/// the buffer boundaries well represented.
fn stress_len(seq: u64) -> usize {
    let r = bytes(seq ^ 0xF00D, 2);
    let x = u16::from_le_bytes([r[0], r[1]]) as usize;
    match x % 4 {
        0 => x % 64,
        1 => BUF_SIZE * (1 + x % 4) - 8 + (x / 4) % 3 - 1,
        _ => x % 10_000,
    }
}

/// Shared by the threads of a stress test: a failing thread stops the
/// others instead of leaving them spinning, and a lost wake-up or a ring
/// that stops moving fails after a deadline instead of hanging.
struct Ctl {
    stop: AtomicBool,
    start: Instant,
}

impl Ctl {
    fn new() -> Self {
        Self { stop: AtomicBool::new(false), start: Instant::now() }
    }

    /// Marks the test failed if the current thread panics.
    fn guard(&self) -> Guard<'_> {
        Guard(&self.stop)
    }

    /// Waits a little for the other side.
    fn spin(&self) {
        if self.stop.load(Ordering::Relaxed) {
            panic!("another thread failed");
        }
        assert!(self.start.elapsed() < Duration::from_secs(60), "no progress: stuck");
        thread::yield_now();
    }
}

struct Guard<'a>(&'a AtomicBool);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// Checks a received frame against the one with the expected number.
fn check_frame(f: &[u8], seq: u64) {
    let len = stress_len(seq);
    assert_eq!(f.len(), len + 8, "frame {seq}: length");
    assert!(f == frame(seq, len), "frame {seq}: corrupted");
}

#[test]
fn stress_rx_hardware_thread_vs_driver_poll() {
    const N: u64 = 3000;
    let (d, b) = (rx_descs(64), bufs(64));
    let rx: Rx = RxRing::new(ring(64), &d, &b);
    let misses = AtomicU64::new(0);
    let ctl = Ctl::new();
    thread::scope(|s| {
        s.spawn(|| {
            let _g = ctl.guard();
            for seq in 0..N {
                let (h, p) = frame_parts(seq, stress_len(seq));
                let src = HeaderAndPayload { header: &h, payload: &p };
                while rx.hw_receive(&src, 1) == Err(RxMissed) {
                    misses.fetch_add(1, Ordering::Relaxed);
                    ctl.spin();
                }
            }
        });
        s.spawn(|| {
            let _g = ctl.guard();
            let mut poller = Poller::default();
            let mut next = 0u64;
            let mut polls = 0u64;
            while next < N {
                polls += 1;
                let budget = 1 + (polls % 5) as u32;
                let (n, frames) = poller.poll(&rx, budget);
                for f in frames {
                    check_frame(&f, next);
                    next += 1;
                }
                if n == 0 {
                    ctl.spin();
                }
            }
            assert_eq!(poller.dropped, 0);
            assert_eq!(poller.ntc, rx.head());
            assert!(!rx.has_work(poller.ntc));
        });
    });
}

#[test]
fn stress_tx_to_rx_with_driver_and_hardware_threads() {
    const N: u64 = 3000;
    let (td, tb) = (tx_descs(64), bufs(64));
    let (rd, rb) = (rx_descs(128), bufs(128));
    let tx: Tx = TxRing::new(ring(64), &td, &tb);
    let rx: Rx = RxRing::new(ring(128), &rd, &rb);
    let done = AtomicBool::new(false);
    let ctl = Ctl::new();
    thread::scope(|s| {
        // Driver, send side (holds the "TX lock": the producer indices).
        s.spawn(|| {
            let _g = ctl.guard();
            let mut p = TxProducer::default();
            for seq in 0..N {
                loop {
                    match xmit_frame(&tx, &mut p, seq, stress_len(seq), seq) {
                        Ok(_) => break,
                        Err(TxBusy) => {
                            if tx.clean(&mut p) == 0 {
                                ctl.spin();
                            }
                        }
                    }
                }
                if seq % 8 == 0 {
                    tx.clean(&mut p);
                }
            }
            while p.next_to_clean != p.next_to_use {
                if tx.clean(&mut p) == 0 {
                    ctl.spin();
                }
            }
            assert_eq!(tx.unused(&p), 63);
        });
        // Hardware: TX head to the RX ring, waiting for RX room.
        s.spawn(|| {
            let _g = ctl.guard();
            let mut sent = 0u64;
            while sent < N {
                match tx.hw_peek() {
                    HwTx::Idle => ctl.spin(),
                    HwTx::Frame(f) => {
                        assert_eq!(f.launch_ns, sent);
                        assert_eq!(f.len, stress_len(sent) + 8);
                        while rx.hw_receive(&tx.frame_source(&f), 1) == Err(RxMissed) {
                            ctl.spin();
                        }
                        tx.hw_complete(&f);
                        sent += 1;
                    }
                }
            }
            assert_eq!(tx.hw_peek(), HwTx::Idle);
            done.store(true, Ordering::Release);
        });
        // Driver, receive side: the NAPI poll.
        s.spawn(|| {
            let _g = ctl.guard();
            let mut poller = Poller::default();
            let mut next = 0u64;
            let mut polls = 0u64;
            while next < N {
                polls += 1;
                let (n, frames) = poller.poll(&rx, 1 + (polls % 7) as u32);
                for f in frames {
                    check_frame(&f, next);
                    next += 1;
                }
                if n == 0 {
                    ctl.spin();
                }
            }
            assert_eq!(poller.dropped, 0);
        });
    });
    assert!(done.load(Ordering::Acquire));
}

#[test]
fn stress_rx_misses_are_whole_frames() {
    // The hardware drops on a full ring, as the real one does: the driver
    // must see an in-order subsequence, every frame intact, and
    // received + missed == sent.
    const N: u64 = 4000;
    let (d, b) = (rx_descs(64), bufs(64));
    let rx: Rx = RxRing::new(ring(64), &d, &b);
    let hw_done = AtomicBool::new(false);
    let ctl = Ctl::new();
    let mut missed = 0u64;
    let mut received = 0u64;
    thread::scope(|s| {
        let hw = s.spawn(|| {
            let _g = ctl.guard();
            let mut missed = 0u64;
            for seq in 0..N {
                let (h, p) = frame_parts(seq, stress_len(seq));
                if rx.hw_receive(&HeaderAndPayload { header: &h, payload: &p }, 1) == Err(RxMissed) {
                    missed += 1;
                }
                if seq % 16 == 0 {
                    thread::yield_now();
                }
            }
            hw_done.store(true, Ordering::Release);
            missed
        });
        let driver = s.spawn(|| {
            let _g = ctl.guard();
            let mut poller = Poller::default();
            let mut last: Option<u64> = None;
            let mut received = 0u64;
            let mut polls = 0u64;
            loop {
                let finished = hw_done.load(Ordering::Acquire);
                polls += 1;
                let (n, frames) = poller.poll(&rx, 1 + (polls % 4) as u32);
                for f in frames {
                    // N < 65536: the source port is the sequence number.
                    let seq = u16::from_le_bytes([f[2], f[3]]) as u64;
                    check_frame(&f, seq);
                    assert!(last.is_none_or(|l| seq > l));
                    last = Some(seq);
                    received += 1;
                }
                if n == 0 {
                    if finished {
                        break;
                    }
                    ctl.spin();
                }
            }
            assert_eq!(poller.dropped, 0);
            received
        });
        missed = hw.join().unwrap();
        received = driver.join().unwrap();
    });
    assert_eq!(received + missed, N);
    assert!(received > 0);
}
