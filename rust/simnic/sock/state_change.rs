// SPDX-License-Identifier: GPL-2.0

//! `sk_state_change`: what `shutdown()` calls so that nobody keeps waiting
//! for what can no longer happen.
//!
//! `inet_shutdown()` sets `sk_shutdown` and calls `sk_state_change`, whose
//! default, `sock_def_wakeup()`, wakes everyone on the socket's wait queue,
//! exclusive waiters too, with no key: blocked readers return 0 (end of
//! file) and pollers re-poll, finding `EPOLLRDHUP`/`EPOLLHUP`.

use crate::sock::endpoint::Endpoint;

/// `sock_def_wakeup`.
pub(crate) fn sock_def_wakeup(ep: &Endpoint) {
    if ep.wq.has_sleeper() {
        ep.wq.wake_up_interruptible_all();
    }
}
