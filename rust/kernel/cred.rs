// SPDX-License-Identifier: GPL-2.0

//! Credentials: `struct cred` (`include/linux/cred.h`).
//!
//! C header: [`include/linux/cred.h`](srctree/include/linux/cred.h)

use crate::{bindings, types::Opaque};

/// A user id as the kernel keeps it: `kuid_t`.
#[derive(Clone, Copy)]
pub struct Kuid(bindings::kuid_t);

impl PartialEq for Kuid {
    fn eq(&self, other: &Self) -> bool {
        self.0.val == other.0.val
    }
}

impl Eq for Kuid {}

impl core::fmt::Debug for Kuid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Kuid({})", self.0.val)
    }
}

impl Kuid {
    /// `from_kuid(&init_user_ns, kuid)`: the uid as the initial user namespace
    /// sees it (what the guest's tools print).
    pub fn into_uid_in_init_ns(self) -> u32 {
        // SAFETY: Pure function of its argument (and the static `init_user_ns`).
        unsafe { bindings::from_kuid_init_ns(self.0) }
    }

    /// Whether this is the root user of the initial namespace.
    pub fn is_root(self) -> bool {
        self.0.val == 0
    }
}

/// A set of credentials: `struct cred`.
///
/// # Invariants
///
/// A `&Credential` points to a `struct cred` with a non-zero reference count
/// for the reference's lifetime. Credentials are immutable once published.
#[repr(transparent)]
pub struct Credential(Opaque<bindings::cred>);

// SAFETY: `struct cred` is immutable after it is published and refcounted
// atomically, so it may be shared and sent across threads.
unsafe impl Sync for Credential {}
// SAFETY: As above.
unsafe impl Send for Credential {}

impl Credential {
    /// Borrows a `struct cred`.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid and its refcount held for `'a`.
    pub unsafe fn from_ptr<'a>(ptr: *const bindings::cred) -> &'a Credential {
        // SAFETY: `repr(transparent)`; validity is the caller's promise.
        unsafe { &*ptr.cast() }
    }

    /// The effective user id.
    pub fn euid(&self) -> Kuid {
        // SAFETY: Valid (type invariant); `euid` never changes after publish.
        Kuid(unsafe { (*self.0.get()).euid })
    }
}
