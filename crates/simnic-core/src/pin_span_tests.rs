//! Tests of `rust/kernel/iov/pin_span.rs`, the page arithmetic of the
//! kernel-crate layer's `ExtractedPages::extract`: a model of its pinning
//! loop (over iovecs of any shape, empty elements included) checks that
//! capping `max_pages` at `pages_bound` never changes what is pinned, that
//! the bound is never below what the loop needs and is reached by the worst
//! placement, that the runs fit the capacity `extract` gives them, and
//! that for the largest iterator the VFS builds the bound is small.

use crate::pin_span::{pages_bound, piece};
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

/// What the loop of `extract` pins: pages, bytes, runs.
#[derive(Debug, PartialEq, Eq)]
struct Pinned {
    pages: usize,
    bytes: usize,
    runs: usize,
}

/// The loop of `ExtractedPages::extract` over `iov` (user address, length
/// per element), with gup pinning everything asked: the current piece is
/// what is left of the current element, capped at the bytes still wanted;
/// an empty one is stepped over (as `iov_iter_advance(iter, 0)` does); a
/// piece is pinned with `piece()` and the iterator advanced by its bytes.
fn model(iov: &[(usize, usize)], max_bytes: usize, max_pages: usize, page: usize) -> Pinned {
    let total: usize = iov.iter().map(|&(_, l)| l).sum();
    let want = total.min(max_bytes);
    let mut p = Pinned {
        pages: 0,
        bytes: 0,
        runs: 0,
    };
    let (mut idx, mut done_in) = (0, 0);
    while p.bytes < want && p.pages < max_pages {
        let (addr, len) = iov[idx];
        let seg = (len - done_in).min(want - p.bytes);
        if seg == 0 {
            idx += 1;
            done_in = 0;
            continue;
        }
        let offset = (addr + done_in) % page;
        let room = max_pages - p.pages;
        let (npages, n) = piece(offset, seg, room, page);
        // What the SAFETY comments and invariants of `extract` rely on.
        assert!(
            npages >= 1 && npages <= room,
            "npages {npages}, room {room}"
        );
        assert!(n >= 1 && n <= seg, "n {n}, seg {seg}");
        assert!(offset + n <= npages * page, "run past its pages");
        assert!(
            n == seg || npages == room,
            "a piece cut short with room left"
        );
        p.pages += npages;
        p.bytes += n;
        p.runs += 1;
        done_in += n;
        if done_in == len {
            idx += 1;
            done_in = 0;
        }
    }
    p
}

/// `extract`'s cap: `max_pages` limited to the bound.
fn clamped(iov: &[(usize, usize)], max_bytes: usize, max_pages: usize, page: usize) -> usize {
    let want = iov.iter().map(|&(_, l)| l).sum::<usize>().min(max_bytes);
    max_pages.min(pages_bound(want, iov.len(), page))
}

fn iovecs() -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
    // Small page sizes make page boundaries common at small lengths.
    // Empty elements are common, anywhere in the array.
    let len = prop_oneof![Just(0usize), 1usize..10, 1usize..300];
    (
        prop::sample::select(vec![1usize, 2, 8, 64, 4096]),
        prop::collection::vec((0usize..1 << 20, len), 1..24),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The bound is never below what the loop needs, and capping
    /// `max_pages` at it pins exactly the same pages, bytes and runs as
    /// without the cap, whatever the caller's `max_pages`.
    #[test]
    fn cap_changes_nothing((page, iov) in iovecs(), max_bytes in 0usize..8000, max_pages in 1usize..400) {
        let unbounded = model(&iov, max_bytes, usize::MAX, page);
        let want = iov.iter().map(|&(_, l)| l).sum::<usize>().min(max_bytes);
        prop_assert_eq!(unbounded.bytes, want);
        prop_assert!(unbounded.pages <= pages_bound(want, iov.len(), page),
            "{} pages needed, bound {}", unbounded.pages, pages_bound(want, iov.len(), page));
        for mp in [max_pages, usize::MAX] {
            let cap = clamped(&iov, max_bytes, mp, page);
            let before = model(&iov, max_bytes, mp, page);
            if cap == 0 {
                // Nothing to pin: the loop does not run either way.
                prop_assert_eq!(want, 0);
                prop_assert_eq!(&before, &Pinned { pages: 0, bytes: 0, runs: 0 });
            } else {
                prop_assert_eq!(&model(&iov, max_bytes, cap, page), &before);
            }
            // The capacities `extract` gives `pages` and `runs`.
            prop_assert!(before.pages <= cap);
            prop_assert!(before.runs <= cap.min(iov.len()));
        }
    }

    /// `piece` on its own: the pages span the piece from its offset, capped
    /// at the room, and the bytes are what those pages hold.
    #[test]
    fn piece_spans_its_pages(page in prop::sample::select(vec![1usize, 8, 4096]), off in 0usize..4096,
                             seg in 1usize..100_000, room in 1usize..64) {
        let offset = off % page;
        let (npages, n) = piece(offset, seg, room, page);
        let need = (offset + seg).div_ceil(page);
        prop_assert_eq!(npages, need.min(room));
        prop_assert_eq!(n, seg.min(npages * page - offset));
    }
}

/// The worst placement reaches the bound: pieces of 2 bytes, each across a
/// page boundary, take 2 pages each; a page-sized piece at offset 1 takes
/// 2; the same from offset 0 takes 1 (the bound is for any placement).
#[test]
fn bound_is_reached() {
    const P: usize = 4096;
    for k in [1usize, 2, 17, 1024] {
        let iov: Vec<(usize, usize)> = (0..k).map(|i| (i * 8 * P + P - 1, 2)).collect();
        let need = model(&iov, usize::MAX, usize::MAX, P);
        assert_eq!(need.pages, 2 * k);
        assert_eq!(pages_bound(2 * k, k, P), 2 * k);
    }
    assert_eq!(model(&[(P + 1, P)], usize::MAX, usize::MAX, P).pages, 2);
    assert_eq!(pages_bound(P, 1, P), 2);
    assert_eq!(model(&[(P, P)], usize::MAX, usize::MAX, P).pages, 1);
    // simnic's biggest AIO read: 65535 bytes from anywhere, one piece.
    assert_eq!(pages_bound(65535, 1, P), 17);
    assert_eq!(pages_bound(0, 5, P), 0);
    // No bound at all rather than a wrapped, small one.
    assert_eq!(pages_bound(usize::MAX, 2, P), usize::MAX);
    assert_eq!(pages_bound(usize::MAX - 1, 1, 1), usize::MAX - 1);
}

/// For the largest iterator a read can have (`MAX_RW_COUNT` bytes in
/// `UIO_MAXIOV` elements), the bound is 526,334 pages: about 4 MiB of page
/// pointers (and at most 1024 runs), far under `kvmalloc`'s `INT_MAX`
/// limit, where an uncapped `max_pages` of `1 << 28` asked for 6 GiB of
/// runs (a `WARN_ON_ONCE` in `kvmalloc`). One piece's page count fits a
/// `c_int`.
#[test]
fn bound_of_the_largest_read() {
    const P: usize = 4096;
    const MAX_RW_COUNT: usize = i32::MAX as usize & !(P - 1);
    const UIO_MAXIOV: usize = 1024;
    let b = pages_bound(MAX_RW_COUNT, UIO_MAXIOV, P);
    assert_eq!(b, 526_334);
    assert!(b * 8 < 5 << 20, "pages: {} bytes", b * 8);
    let (npages, n) = piece(P - 1, MAX_RW_COUNT, usize::MAX, P);
    assert_eq!((npages, n), (MAX_RW_COUNT / P + 1, MAX_RW_COUNT));
    assert!(i32::try_from(npages).is_ok());
}
