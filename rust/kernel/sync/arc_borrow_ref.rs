// SPDX-License-Identifier: GPL-2.0

//! `&'a T` from an `ArcBorrow<'a, T>`, for the whole borrow.
//!
//! `Deref` only lends `&T` for as long as the `ArcBorrow` value itself lives;
//! a file operation that must hand out a reference with the borrow's full
//! lifetime (a poll table registration, see `kernel::sync::poll`) needs this
//! conversion. Later upstream kernels have it as `From<ArcBorrow<'a, T>> for
//! &'a T`, which only the defining module may add (coherence rules).

use super::ArcBorrow;

impl<'a, T: ?Sized> ArcBorrow<'a, T> {
    /// The borrowed value, for the borrow's whole lifetime `'a`.
    pub fn into_ref(self) -> &'a T {
        let p: *const T = &*self;
        // SAFETY: `ArcBorrow<'a, T>` guarantees (its invariant) that the `Arc`
        // it borrows, hence `*p`, stays alive for `'a`.
        unsafe { &*p }
    }
}
