// SPDX-License-Identifier: GPL-2.0
/* Inline functions behind kernel::time::hrtimer, kernel::irq_work and
 * kernel::kthread. */

#include <linux/hrtimer.h>
#include <linux/irq_work.h>
#include <linux/sched.h>

u64 rust_helper_hrtimer_forward_now(struct hrtimer *timer, ktime_t interval)
{
	return hrtimer_forward_now(timer, interval);
}

void rust_helper_init_irq_work(struct irq_work *work,
			       void (*func)(struct irq_work *))
{
	init_irq_work(work, func);
}

/* A real function for the cond_resched() macro (kernel::kthread). */
void rust_helper_cond_resched(void)
{
	cond_resched();
}
