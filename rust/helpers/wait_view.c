// SPDX-License-Identifier: GPL-2.0
/*
 * kernel::sync::wait_view: a bounded copy of a wait queue's entries, taken
 * under the queue's lock, with each wake function's symbol and, where the
 * wake function says whose entry it is, the waiting task.
 *
 * Why reading ->private here is safe (Documentation/kernel-crate-layer.rst,
 * "Reading a wait queue"): we hold wq_head->lock, which every wake-up holds
 * while it calls the wake functions and which every removal takes (or, for
 * autoremove_wake_function and POLLFREE, which the remover already holds).
 * So every entry we reach is still queued, and a wake-up could call its
 * function on it at this very moment. Whatever that function dereferences
 * must therefore be alive now, or the kernel's own wake-up would be a
 * use-after-free. We only follow ->private as far as the wake function itself
 * does:
 *  - default_wake_function, autoremove_wake_function, woken_wake_function
 *    pass ->private to try_to_wake_up(): it is a task_struct;
 *  - pollwake (fs/select.c) reads ->private as a poll_wqueues and wakes its
 *    ->polling_task;
 *  - the layer's own entries (the functions the caller lists) keep ->private
 *    NULL or a task_struct the entry holds a reference on until it has left
 *    the queue (kernel::sync::wait_entry).
 * For any other function ->private is not followed: io_poll_wake's is an
 * io_uring request (a tagged pointer), ep_poll_callback's and
 * aio_poll_wake's are NULL, and an unknown one is reported as unknown.
 *
 * From a task we read pid, tgid and comm, plain fields (comm is copied
 * without task_lock(), which is not irq-safe and must not nest inside the
 * queue's lock; a racing rename may give a mix of the two names, as
 * tracepoints accept).
 */

#include <linux/kallsyms.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/wait.h>
#include "wait_view.h"

/*
 * Static functions of fs/select.c and io_uring/poll.c, found once by name.
 * kallsyms_lookup_name() does not sleep, so any context may do it; two
 * racing lookups store the same values.
 */
static bool rust_wait_view_resolved;
static unsigned long rust_wait_view_pollwake;
static unsigned long rust_wait_view_io_poll_wake;

static void rust_wait_view_resolve(void)
{
	if (smp_load_acquire(&rust_wait_view_resolved))
		return;
	/* 0 if not there (inlined, renamed, or not built): never matches. */
	WRITE_ONCE(rust_wait_view_pollwake, kallsyms_lookup_name("pollwake"));
	WRITE_ONCE(rust_wait_view_io_poll_wake, kallsyms_lookup_name("io_poll_wake"));
	smp_store_release(&rust_wait_view_resolved, true);
}

static bool rust_wait_view_is(wait_queue_func_t func, unsigned long addr)
{
	return addr && (unsigned long)func == addr;
}

static void rust_wait_view_task(struct rust_wait_view_entry *e, struct task_struct *t)
{
	if (!t)
		return;
	e->has_task = 1;
	e->pid = task_pid_nr(t);
	e->tgid = task_tgid_nr(t);
	memcpy(e->comm, t->comm, sizeof(e->comm));
	e->comm[sizeof(e->comm) - 1] = '\0';
}

/* Called with wq_head->lock held, for an entry on that queue. */
static void rust_wait_view_describe(struct wait_queue_entry *curr, struct rust_wait_view_entry *e,
				    const unsigned long *own, unsigned int n_own,
				    unsigned long pollwake, unsigned long io_poll_wake)
{
	wait_queue_func_t func = curr->func;
	void *private = READ_ONCE(curr->private);
	struct module *mod;
	char *cut;
	unsigned int i;
	bool own_func = false;

	memset(e, 0, sizeof(*e));
	/* Owners may flip WQ_FLAG_WOKEN without the lock (wait_woken()). */
	e->flags = READ_ONCE(curr->flags);
	/*
	 * __module_text_address() must run with preemption disabled (or under
	 * module_mutex), and the module it returns, like the module name %ps
	 * looks up, may be used only until preemption is enabled again. The
	 * queue's spin_lock_irqsave disables it on this kernel, but not on
	 * PREEMPT_RT, where spinlock_t sleeps: so disable it here, explicitly,
	 * around everything that looks at the module.
	 */
	preempt_disable();
	snprintf(e->func, sizeof(e->func), "%ps", func);
	/* %ps appends " [module]": the module goes in its own field. */
	cut = strstr(e->func, " [");
	if (cut)
		*cut = '\0';
	mod = __module_text_address((unsigned long)func);
	if (mod)
		strscpy(e->module, mod->name, sizeof(e->module));
	preempt_enable();

	for (i = 0; i < n_own; i++)
		if (own[i] && (unsigned long)func == own[i])
			own_func = true;

	if (func == default_wake_function || func == autoremove_wake_function ||
	    func == woken_wake_function || own_func) {
		e->private_kind = private ? RUST_WAIT_VIEW_PRIVATE_TASK : RUST_WAIT_VIEW_PRIVATE_NULL;
		rust_wait_view_task(e, private);
	} else if (rust_wait_view_is(func, pollwake)) {
		struct poll_wqueues *pwq = private;

		e->private_kind = RUST_WAIT_VIEW_PRIVATE_POLL_WQUEUES;
		rust_wait_view_task(e, pwq ? READ_ONCE(pwq->polling_task) : NULL);
	} else if (rust_wait_view_is(func, io_poll_wake)) {
		e->private_kind = RUST_WAIT_VIEW_PRIVATE_IO_KIOCB;
	} else {
		e->private_kind = private ? RUST_WAIT_VIEW_PRIVATE_UNKNOWN : RUST_WAIT_VIEW_PRIVATE_NULL;
	}
}

/*
 * Copies up to @max entries of @wq_head, in queue order (the order a wake-up
 * visits them), into @out, and returns how many entries the queue has (at
 * most RUST_WAIT_VIEW_COUNT_MAX). @own lists the layer's own wake functions
 * (@n_own of them), whose entries keep a task or NULL in ->private.
 * Any context; the queue's lock is held with interrupts off for the walk.
 */
unsigned int rust_helper_wait_queue_view(struct wait_queue_head *wq_head,
					 struct rust_wait_view_entry *out, unsigned int max,
					 const unsigned long *own, unsigned int n_own)
{
	struct wait_queue_entry *curr;
	unsigned long flags, pollwake, io_poll_wake;
	unsigned int n = 0;

	rust_wait_view_resolve();
	pollwake = READ_ONCE(rust_wait_view_pollwake);
	io_poll_wake = READ_ONCE(rust_wait_view_io_poll_wake);

	spin_lock_irqsave(&wq_head->lock, flags);
	list_for_each_entry(curr, &wq_head->head, entry) {
		if (n < max)
			rust_wait_view_describe(curr, &out[n], own, n_own, pollwake, io_poll_wake);
		if (++n >= RUST_WAIT_VIEW_COUNT_MAX)
			break;
	}
	spin_unlock_irqrestore(&wq_head->lock, flags);
	return n;
}
