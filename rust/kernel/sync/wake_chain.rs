// SPDX-License-Identifier: GPL-2.0

//! A guard against wake-ups that come back to where they started.
//!
//! A multiplexer wakes its own pollers from inside the wake function of a
//! file it watches: nested epoll instances wake each other that way
//! (`ep_poll_safewake`). Two of them watching each other, directly or
//! through instances that cannot see into one another (an epoll instance
//! in a mini-epoll instance in that epoll instance), would make a wake-up
//! go round for ever, taking the same queue's lock again: a hard lockup.
//! Old kernels guarded epoll with `ep_call_nested`; this is the same idea:
//! a per-CPU record of the instances a wake-up is passing through, which
//! refuses to enter one twice, or more than a few deep (the stack).
//!
//! C header: [`include/linux/wait.h`](srctree/include/linux/wait.h)

use crate::bindings;

/// The current CPU's wake-up is passing through the instance this was
/// entered with; dropping it leaves.
///
/// Interrupts stay off on this CPU while it lives (through the same nesting
/// count as [`SpinLockIrq`](crate::sync::SpinLockIrq)), so the record cannot
/// be interleaved with another context's or carried to another CPU.
///
/// # Invariants
///
/// This value holds one entry of the current CPU's wake chain and one
/// count of the interrupt-disable nesting.
pub struct WakeChain {
    _not_send: core::marker::PhantomData<*mut ()>,
}

impl WakeChain {
    /// Enters instance `id` (any value unique to it, such as its address)
    /// on this CPU's chain, unless it is on it already (the wake-up went
    /// round) or the chain is `max_depth` long (at most 8): then `None`,
    /// and the caller should not pass the wake-up on.
    pub fn enter(id: usize, max_depth: u32) -> Option<Self> {
        // SAFETY: Disables interrupts (counted) and records `id` on this
        // CPU's chain if it fits; on refusal, undoes both.
        let ok = unsafe { bindings::wake_chain_enter(id as _, max_depth) };
        // Not `then_some`: its argument is built (and, on refusal, dropped,
        // running `exit`) whatever `ok` says.
        if ok {
            // INVARIANT: We hold one entry and one count.
            Some(Self { _not_send: core::marker::PhantomData })
        } else {
            None
        }
    }
}

impl Drop for WakeChain {
    fn drop(&mut self) {
        // SAFETY: We hold an entry and a count on this CPU (type invariant;
        // interrupts are off, so the task has not moved).
        unsafe { bindings::wake_chain_exit() };
    }
}
