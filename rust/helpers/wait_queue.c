// SPDX-License-Identifier: GPL-2.0
/* Wait queue helpers for kernel::sync::wait. */

#include <linux/spinlock.h>
#include <linux/wait.h>

bool rust_helper_wq_has_sleeper(struct wait_queue_head *wq_head)
{
	return wq_has_sleeper(wq_head);
}

/*
 * waitqueue_active() read under the queue's lock: used before freeing a queue
 * head, so that a concurrent remove_wait_queue() has also released the lock
 * (which lives in the memory about to be freed) by the time we see it empty.
 */
bool rust_helper_waitqueue_active_locked(struct wait_queue_head *wq_head)
{
	unsigned long flags;
	bool active;

	spin_lock_irqsave(&wq_head->lock, flags);
	active = !list_empty(&wq_head->head);
	spin_unlock_irqrestore(&wq_head->lock, flags);
	return active;
}
