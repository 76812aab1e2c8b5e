// SPDX-License-Identifier: GPL-2.0
/* Inline functions of <linux/poll.h> that Rust calls (kernel::sync::poll). */

#include <linux/poll.h>

void rust_helper_poll_wait(struct file *filp, wait_queue_head_t *wait_address,
			   poll_table *p)
{
	poll_wait(filp, wait_address, p);
}

__poll_t rust_helper_poll_requested_events(const poll_table *p)
{
	return poll_requested_events(p);
}
