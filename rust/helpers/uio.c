// SPDX-License-Identifier: GPL-2.0
/* Inline functions of <linux/uio.h> that Rust calls (kernel::iov). */

#include <linux/uio.h>

size_t rust_helper_iov_iter_count(const struct iov_iter *i)
{
	return iov_iter_count(i);
}

bool rust_helper_iov_iter_extract_will_pin(const struct iov_iter *iter)
{
	return iov_iter_extract_will_pin(iter);
}
