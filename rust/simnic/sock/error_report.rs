// SPDX-License-Identifier: GPL-2.0

//! `sk_error_report`: how a pending error (`sk_err`) reaches the process.
//!
//! A connected UDP socket whose datagram hits a closed port gets an ICMP
//! port unreachable back; `__udp4_lib_err()` stores `ECONNREFUSED` in
//! `sk_err` and calls `sk_error_report`, whose default,
//! `sock_def_error_report()`, wakes the socket's wait queue with `EPOLLERR`
//! and signals the fasync list with `POLL_ERR`. The next receive returns
//! the error once (`sock_error()` swaps it to 0), and `poll` reports
//! `EPOLLERR` until then. simnic's poll finds the unbound port itself
//! (`napi_poll::port_unreachable`).

use crate::sock::endpoint::Endpoint;
use kernel::{
    fs::fasync::{POLL_ERR, SIGIO},
    sync::poll::PollMask,
};

/// `sock_def_error_report`.
pub(crate) fn sock_def_error_report(ep: &Endpoint) {
    if ep.wq.has_sleeper() {
        ep.wq.wake_up_interruptible_poll(PollMask::ERR);
    }
    // `sk_wake_async(sk, SOCK_WAKE_IO, POLL_ERR)`.
    ep.fasync.kill(SIGIO, POLL_ERR);
}
