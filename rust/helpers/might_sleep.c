// SPDX-License-Identifier: GPL-2.0
/* might_sleep() is a macro: for kernel::iov's unpin, which may sleep. */

#include <linux/kernel.h>

void rust_helper_might_sleep(void)
{
	might_sleep();
}
