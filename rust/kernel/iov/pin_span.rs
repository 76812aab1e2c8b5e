// SPDX-License-Identifier: GPL-2.0

//! The page arithmetic of `ExtractedPages::extract` (`extract.rs`): how
//! many pages one piece of an iterator takes to pin, and how many the first
//! bytes of an iterator can take at most, which bounds what `extract`
//! allocates.
//!
//! Plain `core` arithmetic with the page size as a parameter, so that the
//! host crate `crates/simnic-core` includes this very file (by path) and
//! property-tests it against a model of the pinning loop.

/// One piece to pin: `seg` bytes from `offset` bytes into a page
/// (`offset < page_size`), with room for at most `room` more pages
/// (`room >= 1`). Returns the pages to pin, `ceil((offset + seg) /
/// page_size)` capped at `room`, and the bytes of the piece those pages
/// cover (all `seg` unless the cap cut it).
pub(crate) fn piece(offset: usize, seg: usize, room: usize, page_size: usize) -> (usize, usize) {
    let npages = (offset + seg).div_ceil(page_size).min(room);
    (npages, seg.min((npages * page_size).saturating_sub(offset)))
}

/// The most pages that pinning the first `want` bytes of an iterator of
/// `nr_segs` pieces (iovec elements, empty ones included) can take,
/// wherever in their pages the pieces start.
///
/// A piece of `s >= 1` bytes from offset `o <= page_size - 1` spans
/// `ceil((o + s) / page_size) <= floor((s + 2 * page_size - 2) /
/// page_size)` pages, equal when `o = page_size - 1`; summed over the
/// non-empty pieces (at most `min(nr_segs, want)` of them, their lengths
/// adding up to at most `want`), the floors add up to no more than the
/// floor of the sum. So this is exact for the worst placement: `k` pieces
/// of 2 bytes, each across a page boundary, take `2k` pages. `usize::MAX`
/// (no bound) if the sum does not fit.
pub(crate) fn pages_bound(want: usize, nr_segs: usize, page_size: usize) -> usize {
    let pieces = nr_segs.min(want);
    match pieces
        .checked_mul(2 * page_size - 2)
        .and_then(|x| x.checked_add(want))
    {
        Some(x) => x / page_size,
        None => usize::MAX,
    }
}
