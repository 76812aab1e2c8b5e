// SPDX-License-Identifier: GPL-2.0

//! What user space sees (the end of Documentation/nic.rst's walk): the
//! `file_operations` of /dev/simnic and /dev/simnic-epoll, and the ioctls.

#[path = "fops/ioctl.rs"]
pub(crate) mod ioctl;
#[path = "fops/mux.rs"]
pub(crate) mod mux;
#[path = "fops/simnic.rs"]
pub(crate) mod simnic;
