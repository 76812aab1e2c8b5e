// SPDX-License-Identifier: GPL-2.0
/* vm_area_struct accessors for kernel::mm::virt (fields behind unions,
 * inline functions). */

#include <linux/mm.h>

unsigned long rust_helper_vma_flags(const struct vm_area_struct *vma)
{
	return vma->vm_flags;
}

void rust_helper_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_set(vma, flags);
}

void rust_helper_vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_clear(vma, flags);
}
