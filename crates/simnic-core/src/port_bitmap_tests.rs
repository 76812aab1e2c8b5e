//! Tests of `rust/simnic/sock/port_bitmap.rs`: the ephemeral port search against
//! a model (a set of taken ports), including spans that do not end on a
//! word boundary, wrapping, and a full range.

use crate::sock::port_bitmap::PortBitmap;
use proptest::prelude::*;
use std::collections::BTreeSet;

/// The model's answer: the first free port at or after `hint` (an offset
/// from `first`), wrapping once.
fn model_find(taken: &BTreeSet<u16>, first: u16, hint: u32) -> Option<u16> {
    let span = 65536 - first as u32;
    (0..span)
        .map(|k| first + ((hint + k) % span) as u16)
        .find(|p| !taken.contains(p))
}

#[test]
fn hands_out_every_port_once_then_none() {
    let mut b = PortBitmap::new(49152);
    let mut seen = BTreeSet::new();
    for i in 0..16384u32 {
        let p = b.find_free().expect("a free port");
        assert_eq!(p as u32, 49152 + i, "round-robin order");
        assert!(seen.insert(p));
        b.set(p, true);
    }
    assert_eq!(b.find_free(), None);
    b.set(50000, false);
    assert_eq!(b.find_free(), Some(50000));
}

#[test]
fn round_robin_resumes_after_the_last_port() {
    let mut b = PortBitmap::new(65000); // 536 ports: the last word is partial
    let p = b.find_free().unwrap();
    b.set(p, true);
    b.set(p, false);
    // Freed, but the search goes on from after it, as the kernel's hint does.
    assert_eq!(b.find_free(), Some(p + 1));
    // Ports below `first` are not tracked and never handed out.
    b.set(100, true);
    assert!(!b.is_taken(100));
}

#[test]
fn wraps_to_the_start() {
    let mut b = PortBitmap::new(65000);
    for p in 65000..=65535u16 {
        if p != 65001 {
            b.set(p, true);
        }
    }
    assert_eq!(b.find_free(), Some(65001));
    b.set(65001, true);
    b.set(65000, false);
    // The hint is past 65001 now: the search wraps around to 65000.
    assert_eq!(b.find_free(), Some(65000));
}

proptest! {
    /// Random takes and frees, then a search: the bitmap answers what the
    /// model does, from the same hint, and marks nothing by itself.
    #[test]
    fn search_agrees_with_model(
        first in prop_oneof![Just(49152u16), Just(65000u16), Just(65472u16), 49152u16..=65535],
        ops in proptest::collection::vec((any::<u16>(), any::<bool>(), any::<bool>()), 1..300),
    ) {
        let span = 65536 - first as u32;
        let mut b = PortBitmap::new(first);
        let mut taken = BTreeSet::new();
        let mut hint = 0u32;
        for (raw, take, search) in ops {
            let port = first + (raw as u32 % span) as u16;
            b.set(port, take);
            if take { taken.insert(port); } else { taken.remove(&port); }
            prop_assert_eq!(b.is_taken(port), take);
            if search {
                let want = model_find(&taken, first, hint);
                let got = b.find_free();
                prop_assert_eq!(got, want);
                if let Some(p) = got {
                    prop_assert!(!b.is_taken(p));
                    hint = (p - first) as u32 + 1;
                }
            }
        }
    }
}
