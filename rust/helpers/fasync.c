// SPDX-License-Identifier: GPL-2.0
/* Checks for kernel::fs::fasync. */

#include <linux/bug.h>

/* A FasyncQueue dropped with files on it: a bug in the layer (see fasync.rs). */
void rust_helper_fasync_queue_warn_nonempty(void)
{
	WARN_ONCE(1, "rust: fasync queue freed with files on it\n");
}
