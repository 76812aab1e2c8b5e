// SPDX-License-Identifier: GPL-2.0
/* Inline functions behind kernel::miscdevice and kernel::fs::File. */

#include <linux/compat.h>
#include <linux/dcache.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/io_uring.h>
#include <linux/net.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <net/sock.h>

bool rust_helper_in_compat_syscall(void)
{
	return in_compat_syscall();
}

/*
 * fget() looks the descriptor up in current->files without a check: in
 * interrupt context that is the interrupted task's table, and a task's
 * last fput at exit runs ->release after exit_files() cleared it. Only a
 * task with a descriptor table has descriptors to name.
 */
struct file *rust_helper_fget_checked(unsigned int fd)
{
	if (!in_task() || !current->files)
		return NULL;
	return fget(fd);
}

/*
 * Whether @file is an epoll instance. is_file_epoll() compares with
 * eventpoll_fops, which fs/eventpoll.c keeps to itself; an epoll file is
 * the anonymous-inode file anon_inode_getfile() names "[eventpoll]".
 */
bool rust_helper_file_is_epoll(struct file *file)
{
	return file->f_op && file->f_op->poll &&
	       !strcmp((const char *)file->f_path.dentry->d_name.name, "[eventpoll]");
}

/* Whether @file can hold references to other files: an io_uring (registered
 * files) or an AF_UNIX socket (descriptors in flight). */
bool rust_helper_file_holds_files(struct file *file)
{
	struct socket *sock;

	if (io_is_uring_fops(file))
		return true;
	sock = sock_from_file(file);
	return sock && sock->sk && sock->sk->sk_family == AF_UNIX;
}
