//! Tests of `rust/simnic/hw/ring.rs`: the accepted sizes, wrapping index
//! arithmetic, and the e1000 one-descriptor gap, by example and against a
//! plain-integer model.

use crate::hw::ring::{Ring, RING_SIZE_MAX, RING_SIZE_MIN};
use proptest::prelude::*;

fn ring(size: u32) -> Ring {
    Ring::new(size).expect("valid ring size")
}

#[test]
fn new_accepts_exactly_powers_of_two_in_range() {
    let accepted: std::vec::Vec<u32> = (0..=2 * RING_SIZE_MAX + 1).filter(|&s| Ring::new(s).is_some()).collect();
    assert_eq!(accepted, [64, 128, 256, 512, 1024, 2048, 4096]);
    for s in accepted {
        assert_eq!(ring(s).size(), s);
    }
    for s in [0, 1, 2, 32, 63, 65, 96, 4095, 4097, 8192, 1 << 31, u32::MAX] {
        assert_eq!(Ring::new(s), None, "size {s}");
    }
    assert_eq!((RING_SIZE_MIN, RING_SIZE_MAX), (64, 4096));
}

#[test]
fn next_add_distance_wrap() {
    let r = ring(64);
    assert_eq!(r.next(0), 1);
    assert_eq!(r.next(62), 63);
    assert_eq!(r.next(63), 0);
    assert_eq!(r.add(60, 4), 0);
    assert_eq!(r.add(60, 5), 1);
    assert_eq!(r.add(5, 64), 5);
    assert_eq!(r.add(5, 0), 5);
    assert_eq!(r.add(63, 63), 62);
    // Adding u32::MAX is subtracting one, without overflow.
    assert_eq!(r.add(0, u32::MAX), 63);
    assert_eq!(r.add(10, u32::MAX), 9);
    assert_eq!(r.distance(0, 0), 0);
    assert_eq!(r.distance(3, 10), 7);
    assert_eq!(r.distance(10, 3), 57);
    assert_eq!(r.distance(63, 0), 1);
    assert_eq!(r.distance(0, 63), 63);
}

#[test]
fn unused_matches_e1000_desc_unused() {
    // e1000_desc_unused(): ((ntc > ntu) ? 0 : count) + ntc - ntu - 1.
    let r = ring(64);
    // Empty: everything but the gap.
    assert_eq!(r.unused(0, 0), 63);
    assert_eq!(r.unused(17, 17), 63);
    // Full: the producer is one behind the consumer.
    assert_eq!(r.unused(0, 63), 0);
    assert_eq!(r.unused(17, 16), 0);
    assert_eq!(r.unused(10, 15), 58);
    assert_eq!(r.unused(15, 10), 4);
    assert_eq!(r.unused(63, 0), 62);
}

#[test]
fn tail_for_keeps_the_gap() {
    let r = ring(128);
    assert_eq!(r.tail_for(0), 127);
    assert_eq!(r.tail_for(1), 0);
    assert_eq!(r.tail_for(127), 126);
    for ntc in 0..128 {
        let tail = r.tail_for(ntc);
        // The hardware may fill from next_to_clean up to the tail: all but one.
        assert_eq!(r.distance(ntc, tail), 127);
        assert_eq!(r.next(tail), ntc);
    }
}

fn e1000_desc_unused(count: u32, ntc: u32, ntu: u32) -> u32 {
    (if ntc > ntu { 0 } else { count }) + ntc - ntu - 1
}

fn any_ring() -> impl Strategy<Value = Ring> {
    (6u32..=12).prop_map(|shift| ring(1 << shift))
}

proptest! {
    /// The index arithmetic equals plain modular arithmetic on wide integers.
    #[test]
    fn arithmetic_matches_modular_model(r in any_ring(), a in any::<u32>(), b in any::<u32>(), n in any::<u32>()) {
        let size = r.size() as u64;
        let (i, j) = (a % r.size(), b % r.size());
        prop_assert_eq!(r.next(i) as u64, (i as u64 + 1) % size);
        prop_assert_eq!(r.add(i, n) as u64, (i as u64 + n as u64) % size);
        prop_assert_eq!(r.distance(i, j) as u64, (j as u64 + size - i as u64) % size);
        // add and distance are inverse.
        prop_assert_eq!(r.add(i, r.distance(i, j)), j);
        prop_assert_eq!(r.distance(i, r.add(i, n)) as u64, n as u64 % size);
        prop_assert_eq!(r.unused(i, j), e1000_desc_unused(r.size(), i, j));
        prop_assert!(r.unused(i, j) < r.size());
        // Free plus used is always size - 1.
        prop_assert_eq!(r.unused(i, j) + r.distance(i, j), r.size() - 1);
        let tail = r.tail_for(i);
        prop_assert!(tail < r.size());
        prop_assert_eq!(r.distance(i, tail), r.size() - 1);
        prop_assert_eq!(r.unused(i, tail), 0);
    }

    /// A producer filling only what `unused` allows and a consumer taking
    /// only what `distance` shows never overrun each other.
    #[test]
    fn producer_consumer_walk(r in any_ring(), steps in proptest::collection::vec((any::<bool>(), 0u32..200), 0..200)) {
        let (mut ntc, mut ntu) = (0u32, 0u32);
        let (mut produced, mut consumed) = (0u64, 0u64);
        for (produce, n) in steps {
            if produce {
                let n = n.min(r.unused(ntc, ntu));
                ntu = r.add(ntu, n);
                produced += n as u64;
            } else {
                let n = n.min(r.distance(ntc, ntu));
                ntc = r.add(ntc, n);
                consumed += n as u64;
            }
            prop_assert!(produced - consumed < r.size() as u64);
            prop_assert_eq!(r.distance(ntc, ntu) as u64, produced - consumed);
            prop_assert_eq!(ntu as u64, produced % r.size() as u64);
            prop_assert_eq!(ntc as u64, consumed % r.size() as u64);
        }
    }
}
