/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The record kernel::sync::wait_view copies out of a wait queue for each
 * entry (rust/helpers/wait_view.c fills it under the queue's lock). Included
 * by bindings_helper.h (rust/layer.txt), so Rust sees the same layout.
 */
#ifndef RUST_HELPERS_WAIT_VIEW_H
#define RUST_HELPERS_WAIT_VIEW_H

#include <linux/sched.h>

/* Room for a wake function's name as %ps prints it, module suffix cut. */
#define RUST_WAIT_VIEW_NAME_LEN 64
/* MODULE_NAME_LEN on 64-bit. */
#define RUST_WAIT_VIEW_MODULE_LEN 56

/*
 * Entries counted, at most: the walk holds the lock with interrupts off, so
 * it stops somewhere even on a queue a hostile user made huge; a count of
 * this value means "at least".
 */
#define RUST_WAIT_VIEW_COUNT_MAX 65536

/* What an entry's ->private is, as far as its wake function tells. */
#define RUST_WAIT_VIEW_PRIVATE_NULL 0		/* NULL */
#define RUST_WAIT_VIEW_PRIVATE_TASK 1		/* the waiting task_struct */
#define RUST_WAIT_VIEW_PRIVATE_POLL_WQUEUES 2	/* pollwake: a poll_wqueues */
#define RUST_WAIT_VIEW_PRIVATE_IO_KIOCB 3	/* io_poll_wake: an io_uring request */
#define RUST_WAIT_VIEW_PRIVATE_UNKNOWN 4	/* set, meaning unknown here */

struct rust_wait_view_entry {
	/* The wake function's symbol (%ps) and the module it is in ("" if built in). */
	char func[RUST_WAIT_VIEW_NAME_LEN];
	char module[RUST_WAIT_VIEW_MODULE_LEN];
	/* wq_entry->flags (WQ_FLAG_EXCLUSIVE, WQ_FLAG_WOKEN, ...). */
	unsigned int flags;
	/* RUST_WAIT_VIEW_PRIVATE_*. */
	unsigned int private_kind;
	/* The task the entry belongs to, if any (has_task): pid is the thread's. */
	unsigned int has_task;
	int pid;
	int tgid;
	char comm[TASK_COMM_LEN];
};

#endif
