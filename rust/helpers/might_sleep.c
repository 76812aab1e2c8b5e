// SPDX-License-Identifier: GPL-2.0
/*
 * might_sleep() for Rust (kernel::task::might_sleep), reporting the Rust
 * caller's file and line, which a #[track_caller] function passes, as
 * upstream's __might_sleep_precision() (6.13) takes them; the macro would
 * report this file. 6.12's __might_sleep() prints a C string and a Rust
 * location's file name is not NUL-terminated, so the name is copied into
 * one first (its tail if it is long: the last path components are the
 * informative part), only when the check is built in.
 */

#include <linux/kernel.h>
#include <linux/string.h>

void rust_helper_might_sleep_at(const char *file, int len, int line)
{
#ifdef CONFIG_DEBUG_ATOMIC_SLEEP
	char name[96];

	if (len < 0)
		len = 0;
	if (len > (int)sizeof(name) - 1) {
		file += len - ((int)sizeof(name) - 1);
		len = sizeof(name) - 1;
	}
	memcpy(name, file, len);
	name[len] = '\0';
	__might_sleep(name, line);
#endif
	might_resched();
}
