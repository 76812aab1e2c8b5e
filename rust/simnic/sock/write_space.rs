// SPDX-License-Identifier: GPL-2.0

//! `sk_write_space`: how a writer learns that the TX ring has room again.
//!
//! A socket whose send found no room sets `SOCKWQ_ASYNC_NOSPACE`; when the
//! device's TX completions free memory, `sock_def_write_space()` wakes the
//! socket's wait queue with `EPOLLOUT` and, if `NOSPACE` was set, signals
//! its fasync list with `POLL_OUT`. Here the room is the NIC's TX ring,
//! shared by every endpoint, so an endpoint that found it too full (a send
//! got `ENOBUFS`, or `->poll` could not report `EPOLLOUT`) joins the NIC's
//! list of waiters (`Endpoint::wait_for_tx_room`), and TX reclaim calls
//! `write_space` on those only, once the ring has room for a datagram of
//! the largest size: an idle endpoint's pollers are never woken by other
//! endpoints' traffic, however many there are.

use crate::sock::endpoint::Endpoint;
use crate::driver::nic::NicCore;
use crate::driver::stats::inc;
use kernel::{
    fs::fasync::{POLL_OUT, SIGIO},
    sync::poll::PollMask,
};

/// The events TX room wakes pollers with (`sock_def_write_space`).
pub(crate) const WRITABLE: PollMask = PollMask::from_bits(
    PollMask::OUT.bits() | PollMask::WRNORM.bits() | PollMask::WRBAND.bits(),
);

/// `sock_def_write_space`: wake the pollers and writers waiting for room;
/// `SIGIO` with `POLL_OUT` if a send or poll had found none.
pub(crate) fn sock_def_write_space(ep: &Endpoint) {
    inc(&ep.nic.stats.write_space);
    if ep.wq.has_sleeper() {
        ep.wq.wake_up_interruptible_sync_poll(WRITABLE);
    }
    // `sk_wake_async(sk, SOCK_WAKE_SPACE, POLL_OUT)`: only if NOSPACE was set.
    if ep.test_and_clear_nospace() {
        ep.fasync.kill(SIGIO, POLL_OUT);
    }
}

/// TX reclaim freed descriptors (the poll's TX clean, or a sender's): if a
/// datagram of the largest size now fits, call `write_space` on every
/// endpoint that waited for room, and forget them. The list is taken under
/// its lock and walked outside it.
pub(crate) fn tx_room_available(nic: &NicCore) {
    if !nic.tx_writable() {
        return;
    }
    let mut waiters = {
        let mut list = nic.tx_waiters.lock();
        if list.is_empty() {
            return;
        }
        core::mem::take(&mut *list)
    };
    while let Some(entry) = waiters.pop_front() {
        // Off the list before the call: if the room is gone again by the
        // time the woken poller looks, it can join the list anew.
        let ep = kernel::list::ListArc::into_arc(entry);
        (ep.write_space)(&ep);
    }
}
