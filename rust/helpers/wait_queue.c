// SPDX-License-Identifier: GPL-2.0
/* Wait queue helpers for kernel::sync::wait. */

#include <linux/spinlock.h>
#include <linux/wait.h>

bool rust_helper_wq_has_sleeper(struct wait_queue_head *wq_head)
{
	return wq_has_sleeper(wq_head);
}

/*
 * Called before a queue head's memory is freed (kernel::sync::wait's drop).
 * The emptiness test takes the queue's lock, so a remove_wait_queue() that
 * raced with us has also released that lock (which lives in the memory about
 * to be freed) by the time we see the queue empty.
 *
 * The layer's invariants make a non-empty queue here impossible (see
 * Documentation/kernel-crate-layer.rst, "Why poll_wait is safe here"); if it
 * happens anyway, say so loudly and detach what can be detached: epoll, aio
 * and io_uring poll entries handle POLLFREE. Nothing more can be done in a
 * context that may be atomic (no synchronize_rcu()).
 */
void rust_helper_wait_queue_head_release(struct wait_queue_head *wq_head)
{
	unsigned long flags;
	bool active;

	spin_lock_irqsave(&wq_head->lock, flags);
	active = !list_empty(&wq_head->head);
	spin_unlock_irqrestore(&wq_head->lock, flags);
	if (WARN_ONCE(active, "rust: wait queue %px freed with entries on it\n", wq_head))
		__wake_up_pollfree(wq_head);
}

/*
 * A keyed wake-up of a queue whose lock may be held already by an outer
 * wake-up of the same lock class (nested epoll-like instances), as
 * ep_poll_safewake() does: the subclass tells lockdep the nesting depth.
 */
void rust_helper_wake_up_poll_nested(struct wait_queue_head *wq_head, __poll_t key,
				     unsigned int subclass)
{
	unsigned long flags;

	spin_lock_irqsave_nested(&wq_head->lock, flags,
				 min_t(unsigned int, subclass, MAX_LOCKDEP_SUBCLASSES - 1));
	wake_up_locked_poll(wq_head, key);
	spin_unlock_irqrestore(&wq_head->lock, flags);
}
