// SPDX-License-Identifier: GPL-2.0
/* Credential helpers for kernel::cred. */

#include <linux/cred.h>
#include <linux/uidgid.h>
#include <linux/user_namespace.h>

/*
 * from_kuid() is a real function with CONFIG_USER_NS and an inline without;
 * this wrapper gives Rust one symbol for both.
 */
uid_t rust_helper_from_kuid_init_ns(kuid_t kuid)
{
	return from_kuid(&init_user_ns, kuid);
}
