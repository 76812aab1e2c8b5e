// SPDX-License-Identifier: GPL-2.0
/* Wait queue helpers for kernel::sync::wait. */

#include <linux/percpu.h>
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
				     unsigned int subclass, unsigned int *nests)
{
	unsigned long flags;

	spin_lock_irqsave_nested(&wq_head->lock, flags,
				 min_t(unsigned int, subclass, MAX_LOCKDEP_SUBCLASSES - 1));
	/* Under the lock, as ep_poll_safewake sets ep->nests. */
	WRITE_ONCE(*nests, subclass + 1);
	wake_up_locked_poll(wq_head, key);
	WRITE_ONCE(*nests, 0);
	spin_unlock_irqrestore(&wq_head->lock, flags);
}

/*
 * kernel::sync::wake_chain: the instances a wake-up is passing through on
 * this CPU. Interrupts are off while an entry is held (through the counted
 * local_interrupt_disable of spinlock_ctx.c), so no other context on the
 * CPU can interleave.
 */
#define RUST_WAKE_CHAIN_MAX 8
struct rust_wake_chain {
	unsigned int depth;
	unsigned long ids[RUST_WAKE_CHAIN_MAX];
};
static DEFINE_PER_CPU(struct rust_wake_chain, rust_wake_chain);

void rust_helper_local_interrupt_disable(void);
void rust_helper_local_interrupt_enable(void);

bool rust_helper_wake_chain_enter(unsigned long id, unsigned int max)
{
	struct rust_wake_chain *c;
	unsigned int i;

	rust_helper_local_interrupt_disable();
	c = this_cpu_ptr(&rust_wake_chain);
	if (c->depth >= min_t(unsigned int, max, RUST_WAKE_CHAIN_MAX))
		goto refuse;
	for (i = 0; i < c->depth; i++)
		if (c->ids[i] == id)
			goto refuse;
	c->ids[c->depth++] = id;
	return true;
refuse:
	rust_helper_local_interrupt_enable();
	return false;
}

void rust_helper_wake_chain_exit(void)
{
	struct rust_wake_chain *c = this_cpu_ptr(&rust_wake_chain);

	if (!WARN_ON_ONCE(!c->depth))
		c->depth--;
	rust_helper_local_interrupt_enable();
}
