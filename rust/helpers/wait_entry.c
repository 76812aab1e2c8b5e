// SPDX-License-Identifier: GPL-2.0
/* Inline functions behind kernel::sync::wait_entry and kernel::fs::File. */

#include <linux/fs.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/rcupdate.h>
#include <linux/wait.h>

void rust_helper_init_waitqueue_func_entry(struct wait_queue_entry *wq_entry,
					   wait_queue_func_t func)
{
	init_waitqueue_func_entry(wq_entry, func);
}

void rust_helper_list_del_init_careful(struct list_head *entry)
{
	list_del_init_careful(entry);
}

void rust_helper_rcu_read_lock(void)
{
	rcu_read_lock();
}

void rust_helper_rcu_read_unlock(void)
{
	rcu_read_unlock();
}

struct file *rust_helper_get_file(struct file *f)
{
	return get_file(f);
}

__poll_t rust_helper_vfs_poll(struct file *file, struct poll_table_struct *pt)
{
	return vfs_poll(file, pt);
}

void rust_helper_set_current_state_interruptible(void)
{
	set_current_state(TASK_INTERRUPTIBLE);
}

void rust_helper_set_current_state_running(void)
{
	__set_current_state(TASK_RUNNING);
}

/*
 * A reference on the module whose text holds @addr, or NULL for built-in
 * code (the kernel crate's own). The code at @addr is running or about to be
 * called by our caller, so the module is live; __module_get is enough.
 */
struct module *rust_helper_module_get_by_text(unsigned long addr)
{
	struct module *mod;

	preempt_disable();
	mod = __module_text_address(addr);
	if (mod)
		__module_get(mod);
	preempt_enable();
	return mod;
}
