// SPDX-License-Identifier: GPL-2.0

//! Error codes that 6.12's [`kernel::error::code`] does not declare yet.
//!
//! Later kernels add these to `code` itself; then this file goes away and
//! users switch their `use` line. Lives as a child of `kernel::error` so it can
//! use the private `Error::try_from_errno` in a `const`, like `code` does.
//!
//! C header: [`include/uapi/asm-generic/errno.h`](srctree/include/uapi/asm-generic/errno.h)

macro_rules! declare_err_ext {
    ($err:tt, $doc:expr) => {
        #[doc = $doc]
        pub const $err: super::Error =
            match super::Error::try_from_errno(-(crate::bindings::$err as i32)) {
                Some(err) => err,
                None => panic!("invalid errno in `declare_err_ext!`"),
            };
    };
}

declare_err_ext!(EMSGSIZE, "Message too long.");
declare_err_ext!(ENOBUFS, "No buffer space available.");
declare_err_ext!(EADDRINUSE, "Address already in use.");
declare_err_ext!(EOPNOTSUPP, "Operation not supported on transport endpoint.");
declare_err_ext!(ECANCELED, "Operation canceled.");
declare_err_ext!(ENOTCONN, "Transport endpoint is not connected.");
declare_err_ext!(EDESTADDRREQ, "Destination address required.");
declare_err_ext!(ECONNREFUSED, "Connection refused.");
declare_err_ext!(ELOOP, "Too many symbolic links encountered (a loop of epoll instances).");
