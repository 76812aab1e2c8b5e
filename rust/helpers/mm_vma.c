// SPDX-License-Identifier: GPL-2.0
/* vm_area_struct accessors for kernel::mm::virt (fields behind unions). */

#include <linux/mm.h>

unsigned long rust_helper_vma_flags(const struct vm_area_struct *vma)
{
	return vma->vm_flags;
}
