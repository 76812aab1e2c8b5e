// SPDX-License-Identifier: GPL-2.0
/* RLIMIT_MEMLOCK accounting for kernel::mm::locked_vm: the current user
 * (get_current_user() is a macro), the limit (rlimit() is inline) and the
 * user's locked_vm counter (present whenever CONFIG_NET is). */

#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/cred.h>

struct user_struct *rust_helper_get_current_user(void)
{
	return get_current_user();
}

unsigned long rust_helper_rlimit(unsigned int limit)
{
	return rlimit(limit);
}

long rust_helper_user_locked_vm_read(struct user_struct *user)
{
	return atomic_long_read(&user->locked_vm);
}

bool rust_helper_user_locked_vm_try_cmpxchg(struct user_struct *user, long *old, long new)
{
	return atomic_long_try_cmpxchg(&user->locked_vm, old, new);
}

void rust_helper_user_locked_vm_sub(struct user_struct *user, long pages)
{
	atomic_long_sub(pages, &user->locked_vm);
}
