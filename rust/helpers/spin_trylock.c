// SPDX-License-Identifier: GPL-2.0
/* spin_trylock() for kernel::sync::lock::try_lock (upstream has it from v6.13). */

#include <linux/spinlock.h>

int rust_helper_spin_trylock(spinlock_t *lock)
{
	return spin_trylock(lock);
}
