// SPDX-License-Identifier: GPL-2.0
/* Wait queue helpers for kernel::sync::wait. */

#include <linux/percpu.h>
#include <linux/poll.h>
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
 * Every wake-up of kernel::sync::wait goes through rust_wake_up_common(), so
 * that it can say how many entries it woke: the kernel's __wake_up() returns
 * only the exclusive ones, and __wake_up_sync_key() nothing.
 *
 * It is __wake_up_common() of kernel/sched/wait.c (6.12) with a counter: the
 * same walk from the head, under the same lock, calling each entry's
 * function with the same arguments, stopping on a negative return or once
 * @nr_exclusive exclusive entries said they woke (0: never). An entry counts
 * as woken when its function returns non-zero: autoremove_wake_function and
 * default_wake_function when try_to_wake_up() woke the task, pollwake when
 * the key matched and the poller was woken, the layer's own when
 * WakeCallback::wake says so. ep_poll_callback returns 1 for every
 * non-exclusive item, even one its key or EPOLLONESHOT filtered out (6.12,
 * the tail of fs/eventpoll.c's ep_poll_callback), and so does mini-epoll's:
 * for those, "woken" means "called".
 * The _safe walk and reading ->flags before the call are what the original
 * does too: the function may unlink its entry (autoremove), after which the
 * entry may be gone.
 *
 * Sync wake-ups pass WF_SYNC, which kernel/sched/sched.h keeps to itself:
 * rust_wake_flags_sync() learns it once from the kernel's own
 * __wake_up_sync_key(), run on a queue of our own with one entry that
 * records what it is passed.
 */
static int rust_wake_flags_sync_value = -1;

static int rust_wake_record_flags(struct wait_queue_entry *wq_entry, unsigned int mode,
				  int wake_flags, void *key)
{
	*(int *)wq_entry->private = wake_flags;
	return 0;
}

static int rust_wake_flags_sync(void)
{
	int v = READ_ONCE(rust_wake_flags_sync_value);

	if (v < 0) {
		struct wait_queue_head probe_head;
		struct wait_queue_entry probe;
		int seen = 0;

		init_waitqueue_head(&probe_head);
		init_waitqueue_func_entry(&probe, rust_wake_record_flags);
		probe.private = &seen;
		add_wait_queue(&probe_head, &probe);
		__wake_up_sync_key(&probe_head, TASK_NORMAL, NULL);
		remove_wait_queue(&probe_head, &probe);
		v = seen;
		WRITE_ONCE(rust_wake_flags_sync_value, v);
	}
	return v;
}

static unsigned int rust_wake_up_common(struct wait_queue_head *wq_head, unsigned int mode,
					int nr_exclusive, int wake_flags, void *key)
{
	struct wait_queue_entry *curr, *next;
	unsigned int woken = 0;

	lockdep_assert_held(&wq_head->lock);
	list_for_each_entry_safe(curr, next, &wq_head->head, entry) {
		unsigned int flags = curr->flags;
		int ret = curr->func(curr, mode, wake_flags, key);

		if (ret < 0)
			break;
		if (ret)
			woken++;
		if (ret && (flags & WQ_FLAG_EXCLUSIVE) && !--nr_exclusive)
			break;
	}
	return woken;
}

/*
 * __wake_up() (@sync false) or __wake_up_sync_key() (@sync true, one
 * exclusive entry), counted: returns the number of entries woken.
 */
unsigned int rust_helper_wake_up_counted(struct wait_queue_head *wq_head, unsigned int mode,
					 int nr_exclusive, bool sync, void *key)
{
	int wake_flags = sync ? rust_wake_flags_sync() : 0;
	unsigned long flags;
	unsigned int woken;

	spin_lock_irqsave(&wq_head->lock, flags);
	woken = rust_wake_up_common(wq_head, mode, sync ? 1 : nr_exclusive, wake_flags, key);
	spin_unlock_irqrestore(&wq_head->lock, flags);
	return woken;
}

/*
 * A keyed wake-up of a queue whose lock may be held already by an outer
 * wake-up of the same lock class (nested epoll-like instances), as
 * ep_poll_safewake() does: the subclass tells lockdep the nesting depth.
 * wake_up_locked_poll(), counted. Returns the number of entries woken.
 */
unsigned int rust_helper_wake_up_poll_nested(struct wait_queue_head *wq_head, __poll_t key,
					     unsigned int subclass, unsigned int *nests)
{
	unsigned long flags;
	unsigned int woken;

	spin_lock_irqsave_nested(&wq_head->lock, flags,
				 min_t(unsigned int, subclass, MAX_LOCKDEP_SUBCLASSES - 1));
	/* Under the lock, as ep_poll_safewake sets ep->nests. */
	WRITE_ONCE(*nests, subclass + 1);
	woken = rust_wake_up_common(wq_head, TASK_NORMAL, 1, 0, poll_to_key(key));
	WRITE_ONCE(*nests, 0);
	spin_unlock_irqrestore(&wq_head->lock, flags);
	return woken;
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
