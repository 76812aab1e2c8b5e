// SPDX-License-Identifier: GPL-2.0

//! Signals a driver sends to the task calling it.
//!
//! Only what a socket-like device needs: `SIGPIPE` for a write on something
//! shut for writing, as `sk_stream_error()` and `unix_stream_sendmsg()` send
//! it with `send_sig(SIGPIPE, current, 0)`.
//!
//! C header: [`include/linux/sched/signal.h`](srctree/include/linux/sched/signal.h)

use crate::bindings;

/// `send_sig(SIGPIPE, current, 0)`: the calling task gets `SIGPIPE` (which
/// kills it unless it ignores, blocks or handles the signal). Call it from
/// the system call that fails with `EPIPE`.
pub fn send_sigpipe() {
    // SAFETY: `get_current()` is the running task, alive for the call;
    // `send_sig` takes the locks it needs and may be called from process
    // context (the syscall this runs in).
    unsafe { bindings::send_sig(bindings::SIGPIPE as i32, bindings::get_current(), 0) };
}
