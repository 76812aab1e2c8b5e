//! Tests of `rust/simnic/sock/rx_ring_index.rs`, the index state machine of
//! the mmap receive ring, and of the ring's layout in the uapi
//! (`RxRingReq::layout`): examples of each rule, a property test of any
//! sequence of deliveries and of honest or hostile consumer indices against
//! an independent model, and a threaded run where a consumer and a
//! scribbler race with the producer through shared atomics, as the process
//! and the datapath do through the mapped pages.

use crate::sock::rx_ring_index::{Refused, RingIndex};
use crate::uapi::{
    RxRingDesc, RxRingReq, RX_RING_MAX_BYTES, RX_RING_MAX_SLOTS, RX_RING_MAX_SLOT_SIZE,
    RX_RING_MIN_SLOT_SIZE, RX_RING_PAGE_SIZE,
};
use proptest::prelude::*;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::vec::Vec;

fn ring(slots: u32) -> RingIndex {
    RingIndex::new(slots).expect("power of two")
}

#[test]
fn new_accepts_powers_of_two() {
    for s in [1, 2, 4, 64, 1 << 15, 1 << 31] {
        assert_eq!(ring(s).slots(), s);
    }
    for s in [0, 3, 6, 100, u32::MAX] {
        assert!(RingIndex::new(s).is_none(), "{s} slots accepted");
    }
}

#[test]
fn fills_in_order_then_full_then_returned_slots_reused() {
    let mut r = ring(4);
    for i in 0..4 {
        assert_eq!(r.claim(0), Ok(i));
        assert_eq!(r.publish(), Some(i + 1));
    }
    // The consumer is still at 0: four slots unconsumed.
    assert_eq!(r.claim(0), Err(Refused::Full));
    assert_eq!(
        r.publish(),
        None,
        "publishing without a claim would overwrite slot 0"
    );
    assert_eq!(r.producer(), 4);
    // Two returned: two more fit, in slots 0 and 1.
    assert_eq!(r.claim(2), Ok(0));
    assert_eq!(r.publish(), Some(5));
    assert_eq!(r.claim(2), Ok(1));
    assert_eq!(r.publish(), Some(6));
    assert_eq!(r.claim(2), Err(Refused::Full));
    assert_eq!(r.consumer(), 2);
    assert_eq!(r.observe(6), Ok(0));
}

#[test]
fn bad_indices_refused_and_forgotten_when_valid_again() {
    let mut r = ring(8);
    for _ in 0..5 {
        r.claim(0).unwrap();
        r.publish().unwrap();
    }
    r.observe(3).unwrap();
    // Beyond the producer, backwards, garbage.
    for bad in [
        6,
        100,
        2,
        0,
        u32::MAX,
        0xdead_beef,
        3u32.wrapping_sub(1 << 31),
    ] {
        assert_eq!(r.claim(bad), Err(Refused::BadIndex), "consumer {bad}");
        assert!(r.is_bad());
        assert_eq!(
            (r.producer(), r.consumer()),
            (5, 3),
            "a bad index changed the state"
        );
    }
    assert_eq!(r.observe(4), Ok(1));
    assert!(!r.is_bad());
    // The producer itself and the last valid one are valid.
    assert_eq!(r.observe(4), Ok(1));
    assert_eq!(r.observe(5), Ok(0));
}

#[test]
fn indices_wrap_at_2_32() {
    let start = u32::MAX - 2;
    let mut r = RingIndex::new_at(4, start).unwrap();
    let mut slots = Vec::new();
    for _ in 0..4 {
        slots.push(r.claim(start).unwrap());
        r.publish().unwrap();
    }
    assert_eq!(slots, [1, 2, 3, 0], "slot = index mod 4 across the wrap");
    assert_eq!(r.producer(), 1);
    assert_eq!(r.claim(start), Err(Refused::Full));
    // Consumer across the wrap too.
    assert_eq!(r.observe(0), Ok(1));
    assert_eq!(r.claim(0), Ok(1));
    // Before the start (not after 0 in ring order) is backwards: bad.
    assert_eq!(r.observe(start), Err(Refused::BadIndex));
}

#[test]
fn one_slot_ring() {
    let mut r = ring(1);
    assert_eq!(r.claim(0), Ok(0));
    assert_eq!(r.publish(), Some(1));
    assert_eq!(r.claim(0), Err(Refused::Full));
    assert_eq!(r.claim(1), Ok(0));
    assert_eq!(r.claim(2), Err(Refused::BadIndex));
}

#[test]
fn layout_of_the_uapi() {
    let l = RxRingReq::layout(8, 2048).unwrap();
    let page = RX_RING_PAGE_SIZE as u64;
    assert_eq!(
        (l.desc_off as u64, l.data_off as u64, l.map_len),
        (page, 2 * page, 2 * page + 4 * page)
    );
    assert_eq!(l.desc_at(9), l.desc_off as usize + RxRingDesc::SIZE);
    assert_eq!(l.data_at(7), l.data_off as usize + 7 * 2048);
    assert_eq!(l.data_at(8), l.data_off as usize);
    // Small slots still take whole pages per part.
    let l = RxRingReq::layout(1, 64).unwrap();
    assert_eq!(l.map_len, 3 * page);
    // Bad geometry.
    for (slots, size) in [
        (0, 2048),
        (3, 2048),
        (RX_RING_MAX_SLOTS * 2, 64),
        (8, 0),
        (8, 100),
        (8, RX_RING_MIN_SLOT_SIZE / 2),
        (8, RX_RING_MAX_SLOT_SIZE * 2),
        (u32::MAX, u32::MAX),
        (1 << 31, 1 << 31),
        // Each within bounds, too big together.
        (RX_RING_MAX_SLOTS, RX_RING_MAX_SLOT_SIZE),
    ] {
        assert_eq!(
            RxRingReq::layout(slots, size),
            None,
            "{slots} x {size} accepted"
        );
    }
    // The largest accepted mapping is within the bound.
    let l = RxRingReq::layout(128, RX_RING_MAX_SLOT_SIZE).unwrap();
    assert!(l.map_len <= RX_RING_MAX_BYTES);
    assert!(RxRingReq::layout(256, RX_RING_MAX_SLOT_SIZE).is_none());
}

proptest! {
    #[test]
    fn layout_parts_are_page_aligned_and_disjoint(sb in 0u32..16, zb in 6u32..17) {
        let (slots, size) = (1u32 << sb, 1u32 << zb);
        if let Some(l) = RxRingReq::layout(slots, size) {
            let page = RX_RING_PAGE_SIZE as u64;
            prop_assert_eq!(l.desc_off as u64 % page, 0);
            prop_assert_eq!(l.data_off as u64 % page, 0);
            prop_assert_eq!(l.map_len % page, 0);
            prop_assert!(u64::from(l.desc_off) >= 192, "header overlaps the descriptors");
            prop_assert!(l.desc_at(slots - 1) + RxRingDesc::SIZE <= l.data_off as usize);
            prop_assert!(l.data_at(slots - 1) as u64 + u64::from(size) <= l.map_len);
            prop_assert!(l.map_len <= RX_RING_MAX_BYTES);
        } else {
            prop_assert!(u64::from(slots) * u64::from(size) > RX_RING_MAX_BYTES / 2 || slots > RX_RING_MAX_SLOTS);
        }
    }
}

/// What the process does to the consumer index in shared memory.
#[derive(Clone, Debug)]
enum Op {
    /// A datagram arrives.
    Deliver,
    /// The process handles up to `n` slots and writes its true consumer.
    Consume(u32),
    /// The process writes `v` (anything) as the consumer.
    Scribble(u32),
    /// The process writes `producer + d` or `true consumer - d`.
    Near { ahead: bool, d: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Deliver),
        2 => (0u32..6).prop_map(Op::Consume),
        1 => any::<u32>().prop_map(Op::Scribble),
        1 => (any::<bool>(), 1u32..4).prop_map(|(ahead, d)| Op::Near { ahead, d }),
    ]
}

proptest! {
    /// Whatever the process writes, the kernel side (1) hands out a slot
    /// only when, by the last consumer index it found valid, that slot
    /// holds nothing unconsumed; (2) refuses exactly the indices outside
    /// "from the last valid one to the producer", which the model computes
    /// by listing them; (3) reports full exactly when that many slots are
    /// unconsumed; (4) never moves its consumer backwards or past the
    /// producer.
    #[test]
    fn kernel_side_matches_model_whatever_the_process_writes(
        slots_log in 0u32..5,
        start in prop_oneof![Just(0u32), Just(u32::MAX - 3), any::<u32>()],
        ops in proptest::collection::vec(op(), 0..200),
    ) {
        let slots = 1u32 << slots_log;
        let mut r = RingIndex::new_at(slots, start).unwrap();
        // Model, in unbounded u64 counts from `start`.
        let (mut prod, mut believed, mut truly) = (0u64, 0u64, 0u64);
        let mut shown = start; // what shared memory holds
        let mut unconsumed: VecDeque<(u64, u32)> = VecDeque::new(); // (seq, slot)
        let at = |n: u64| start.wrapping_add(n as u32);
        for o in ops {
            match o {
                Op::Deliver => {
                    let valid: Vec<u64> = (believed..=prod).filter(|&n| at(n) == shown).collect();
                    let got = r.claim(shown);
                    match valid.first() {
                        None => prop_assert_eq!(got, Err(Refused::BadIndex)),
                        Some(&n) => {
                            believed = n;
                            if prod - believed == u64::from(slots) {
                                prop_assert_eq!(got, Err(Refused::Full));
                            } else {
                                let slot = got.unwrap();
                                prop_assert_eq!(slot, at(prod) & (slots - 1));
                                // (1): no frame the kernel believes unconsumed sits there.
                                for &(seq, s) in &unconsumed {
                                    prop_assert!(seq < believed || s != slot,
                                        "slot {} of unconsumed #{} reused", s, seq);
                                }
                                prop_assert_eq!(r.publish(), Some(at(prod + 1)));
                                unconsumed.push_back((prod, slot));
                                prod += 1;
                            }
                        }
                    }
                    prop_assert_eq!(r.producer(), at(prod));
                    prop_assert_eq!(r.consumer(), at(believed));
                }
                Op::Consume(n) => {
                    let n = u64::from(n).min(prod - truly);
                    truly += n;
                    // The process moves on from what the kernel believed if
                    // that was more (it lied before and lost those frames).
                    truly = truly.max(believed);
                    while unconsumed.front().is_some_and(|&(s, _)| s < truly) {
                        unconsumed.pop_front();
                    }
                    shown = at(truly);
                }
                Op::Scribble(v) => shown = v,
                Op::Near { ahead, d } => {
                    shown = if ahead { at(prod).wrapping_add(d) } else { at(truly).wrapping_sub(d) }
                }
            }
            // (4)
            prop_assert!(believed <= prod && prod - believed <= u64::from(slots));
        }
    }
}

/// The datapath and the process through shared atomics, on real threads:
/// a producer with the kernel's `RingIndex` writing slots and a release
/// store of the producer; a consumer reading with acquire, checking every
/// slot holds the next sequence number, writing its consumer with release;
/// and a scribbler writing invalid consumer values (behind the last valid
/// one) into the same word now and then. Every delivered datagram must
/// reach the consumer, in order, and the producer must neither overwrite an
/// unconsumed slot nor stop for good.
#[test]
fn threads_producer_consumer_scribbler() {
    const SLOTS: u32 = 8;
    const TOTAL: u64 = 200_000;
    struct Shared {
        prod: AtomicU32,
        cons: AtomicU32,
        slot_seq: Vec<AtomicU64>,
        done: AtomicBool,
    }
    let sh = Arc::new(Shared {
        prod: AtomicU32::new(0),
        cons: AtomicU32::new(0),
        slot_seq: (0..SLOTS).map(|_| AtomicU64::new(u64::MAX)).collect(),
        done: AtomicBool::new(false),
    });

    let consumer = {
        let sh = sh.clone();
        std::thread::spawn(move || {
            let mut next: u32 = 0;
            let mut seen = 0u64;
            while seen < TOTAL {
                let prod = sh.prod.load(Ordering::Acquire);
                while next != prod {
                    let seq = sh.slot_seq[(next & (SLOTS - 1)) as usize].load(Ordering::Relaxed);
                    assert_eq!(
                        seq, seen,
                        "slot {next}: expected datagram {seen}, found {seq}"
                    );
                    seen += 1;
                    next = next.wrapping_add(1);
                }
                sh.cons.store(next, Ordering::Release);
                std::hint::spin_loop();
            }
            sh.done.store(true, Ordering::Release);
        })
    };
    let scribbler = {
        let sh = sh.clone();
        std::thread::spawn(move || {
            while !sh.done.load(Ordering::Acquire) {
                // Far behind anything valid: always refused.
                let c = sh.cons.load(Ordering::Relaxed);
                sh.cons.store(c.wrapping_sub(1 << 20), Ordering::Relaxed);
                for _ in 0..200 {
                    std::hint::spin_loop();
                }
            }
        })
    };

    let mut r = RingIndex::new(SLOTS).unwrap();
    let (mut delivered, mut full, mut bad) = (0u64, 0u64, 0u64);
    while delivered < TOTAL {
        match r.claim(sh.cons.load(Ordering::Acquire)) {
            Ok(slot) => {
                sh.slot_seq[slot as usize].store(delivered, Ordering::Relaxed);
                let p = r.publish().unwrap();
                sh.prod.store(p, Ordering::Release);
                delivered += 1;
            }
            Err(Refused::Full) => full += 1,
            Err(Refused::BadIndex) => bad += 1,
        }
        std::hint::spin_loop();
    }
    consumer
        .join()
        .expect("consumer saw datagrams out of order or overwritten");
    scribbler.join().unwrap();
    assert!(
        full + bad > 0,
        "the producer never had to wait: the test exercised nothing"
    );
}
