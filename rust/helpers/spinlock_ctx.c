// SPDX-License-Identifier: GPL-2.0
/* Spinlock variants for kernel::sync::lock::spinlock_ctx. */

#include <linux/irqflags.h>
#include <linux/percpu.h>
#include <linux/spinlock.h>

void rust_helper_spin_lock_bh(spinlock_t *lock)
{
	spin_lock_bh(lock);
}

void rust_helper_spin_unlock_bh(spinlock_t *lock)
{
	spin_unlock_bh(lock);
}

/*
 * Nesting count of local_interrupt_disable() on each CPU, and the interrupt
 * state the outermost call saved. Only touched with interrupts off, so no
 * other context on the CPU can interleave.
 */
static DEFINE_PER_CPU(unsigned int, rust_irq_disable_count);
static DEFINE_PER_CPU(unsigned long, rust_irq_saved_flags);

void rust_helper_local_interrupt_disable(void)
{
	unsigned long flags;

	local_irq_save(flags);
	if (__this_cpu_inc_return(rust_irq_disable_count) == 1)
		__this_cpu_write(rust_irq_saved_flags, flags);
}

void rust_helper_local_interrupt_enable(void)
{
	unsigned long flags;

	if (WARN_ON_ONCE(!__this_cpu_read(rust_irq_disable_count)))
		return;
	/* Read before the count drops: nothing may overwrite it after. */
	flags = __this_cpu_read(rust_irq_saved_flags);
	if (__this_cpu_dec_return(rust_irq_disable_count) == 0)
		local_irq_restore(flags);
}

bool rust_helper_irqs_disabled(void)
{
	return irqs_disabled();
}
