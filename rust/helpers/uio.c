// SPDX-License-Identifier: GPL-2.0
/* Inline functions of <linux/uio.h> (and memcpy_to_page() of <linux/highmem.h>)
 * that Rust calls (kernel::iov). */

#include <linux/highmem.h>
#include <linux/uio.h>

size_t rust_helper_iov_iter_count(const struct iov_iter *i)
{
	return iov_iter_count(i);
}

bool rust_helper_iov_iter_extract_will_pin(const struct iov_iter *iter)
{
	return iov_iter_extract_will_pin(iter);
}

bool rust_helper_user_backed_iter(const struct iov_iter *i)
{
	return user_backed_iter(i);
}

/*
 * The next contiguous piece of a user-backed iterator (ITER_UBUF or
 * ITER_IOVEC): its user address, and in *len its length, capped at what is
 * left. Not iter_iov_len(): for ITER_UBUF that subtracts iov_offset from a
 * count that iov_iter_advance() already reduced.
 */
void __user *rust_helper_iov_iter_user_seg(const struct iov_iter *i, size_t *len)
{
	if (iter_is_ubuf(i)) {
		*len = i->count;
		return i->ubuf + i->iov_offset;
	}
	*len = min(iter_iov_len(i), i->count);
	return iter_iov_addr(i);
}

void rust_helper_memcpy_to_page(struct page *page, size_t offset, const char *from, size_t len)
{
	memcpy_to_page(page, offset, from, len);
}

/*
 * The pieces left in a user-backed iterator: 1 for ITER_UBUF, the iovec
 * elements from the current one on (empty ones included) for ITER_IOVEC.
 */
size_t rust_helper_iov_iter_user_nr_segs(const struct iov_iter *i)
{
	return iter_is_ubuf(i) ? 1 : i->nr_segs;
}
