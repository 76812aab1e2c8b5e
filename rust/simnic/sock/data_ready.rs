// SPDX-License-Identifier: GPL-2.0

//! `sk_data_ready`: what the receive path calls after queueing a datagram on
//! an endpoint.
//!
//! Each endpoint has a `data_ready` field, as each `struct sock` has
//! `sk->sk_data_ready`; the NAPI poll calls it after queueing. The default,
//! [`sock_def_readable`], mirrors `sock_def_readable()` in
//! `net/core/sock.c`: if anyone sleeps on the endpoint's wait queue, wake it
//! with the poll key `EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND` and
//! the sync hint; then signal the fasync list (`sk_wake_async(..., POLL_IN)`). The wake-up
//! runs each waiter's callback: `autoremove_wake_function` for a blocked
//! reader (exclusive: one is woken), `pollwake` for select and poll,
//! `ep_poll_callback` for epoll, `aio_poll_wake` and `io_poll_wake` for AIO
//! and io_uring polls.

use crate::sock::endpoint::Endpoint;
use crate::driver::stats::inc;
use kernel::{
    fs::fasync::{POLL_IN, SIGIO},
    sync::poll::PollMask,
    trace::simnic as trace,
};

/// The signature of a `data_ready` callback.
pub(crate) type DataReadyFn = fn(&Endpoint);

/// The events a readable endpoint wakes pollers with: `sock_def_readable`'s
/// key, `EPOLLPRI` included (select's exception set matches it, and re-polls
/// to find none).
pub(crate) const READABLE: PollMask = PollMask::from_bits(
    PollMask::IN.bits() | PollMask::PRI.bits() | PollMask::RDNORM.bits() | PollMask::RDBAND.bits(),
);

/// `sock_def_readable`: wake one reader and the pollers waiting for input,
/// and send `SIGIO` (`POLL_IN`) to the owners of files with `O_ASYNC`.
pub(crate) fn sock_def_readable(ep: &Endpoint) {
    // `skwq_has_sleeper()`: the barrier pairs with the waiter's
    // `prepare_to_wait`, so either it sees our datagram or we see it.
    let sleepers = ep.wq.has_sleeper();
    trace::data_ready(ep.port(), sleepers);
    if sleepers {
        inc(&ep.stats.wakeups);
        inc(&ep.nic.stats.wakeups);
        let woken = ep.wq.wake_up_interruptible_sync_poll(READABLE);
        trace::wake(ep.port(), woken);
    }
    // `sk_wake_async(sk, SOCK_WAKE_WAITD, POLL_IN)`.
    ep.fasync.kill(SIGIO, POLL_IN);
}
