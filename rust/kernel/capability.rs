// SPDX-License-Identifier: GPL-2.0

//! Capabilities: `capable()` (`include/linux/capability.h`).
//!
//! A device node that any user may open (mode 0666) must still keep
//! machine-wide settings to privileged users, as the network stack keeps
//! device configuration behind `CAP_NET_ADMIN`.
//!
//! C header: [`include/linux/capability.h`](srctree/include/linux/capability.h)

use crate::bindings;

/// A capability, e.g. [`CAP_NET_ADMIN`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability(i32);

/// `CAP_NET_ADMIN`: network administration.
pub const CAP_NET_ADMIN: Capability = Capability(bindings::CAP_NET_ADMIN as i32);
/// `CAP_IPC_LOCK`: lock memory beyond `RLIMIT_MEMLOCK`.
pub const CAP_IPC_LOCK: Capability = Capability(bindings::CAP_IPC_LOCK as i32);
/// `CAP_SYS_ADMIN`: the catch-all.
pub const CAP_SYS_ADMIN: Capability = Capability(bindings::CAP_SYS_ADMIN as i32);

/// `capable(cap)`: whether the current task has `cap` in the initial user
/// namespace. Like the C function, a successful check marks the task as
/// having used its privilege (`PF_SUPERPRIV`), and LSMs may audit it.
///
/// # Examples
///
/// ```
/// use kernel::capability::{capable, CAP_NET_ADMIN};
///
/// // KUnit runs in a kernel thread, which has every capability.
/// assert!(capable(CAP_NET_ADMIN));
/// ```
pub fn capable(cap: Capability) -> bool {
    // SAFETY: Checks the current task's credentials; any context with a
    // current task (process context) may call it, and `cap` is valid.
    unsafe { bindings::capable(cap.0) }
}
