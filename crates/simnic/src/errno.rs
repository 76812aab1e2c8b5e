//! Symbolic names of errno values, for error messages that say `EADDRINUSE`
//! rather than only "Address already in use": the name is what the
//! documentation and the driver's code use.

use std::ffi::CStr;
use std::io;

/// The symbolic name of `errno` as Linux defines it (`libc::EINVAL` gives
/// `"EINVAL"`), for the errors a program on `/dev/simnic` can meet; `None`
/// for any other value. Aliases get their first name: `EWOULDBLOCK` is
/// `"EAGAIN"`, `ENOTSUP` is `"EOPNOTSUPP"`.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::ENOEXEC => "ENOEXEC",
        libc::EBADF => "EBADF",
        libc::ECHILD => "ECHILD",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EROFS => "EROFS",
        libc::EPIPE => "EPIPE",
        libc::ERANGE => "ERANGE",
        libc::EDEADLK => "EDEADLK",
        libc::ENOSYS => "ENOSYS",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EDESTADDRREQ => "EDESTADDRREQ",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENOTCONN => "ENOTCONN",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::EALREADY => "EALREADY",
        libc::EINPROGRESS => "EINPROGRESS",
        _ => return None,
    };
    Some(name)
}

/// `err` as an error message should show it: for an OS error its name and
/// the C library's text, `"EADDRINUSE (Address already in use)"` (or
/// `"errno 1234 (Unknown error 1234)"` for a value without a name); any
/// other error as it displays itself.
pub fn describe(err: &io::Error) -> String {
    let Some(errno) = err.raw_os_error() else {
        return err.to_string();
    };
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: the buffer and its length are valid; the XSI strerror_r (which
    // libc binds on Linux) always NUL-terminates what it writes.
    let rc = unsafe { libc::strerror_r(errno, buf.as_mut_ptr(), buf.len()) };
    let text = if rc == 0 {
        // SAFETY: NUL-terminated by strerror_r, within `buf`.
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    } else {
        format!("Unknown error {errno}")
    };
    match errno_name(errno) {
        Some(name) => format!("{name} ({text})"),
        None => format!("errno {errno} ({text})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_linux_values() {
        // The numbers from include/uapi/asm-generic/errno{,-base}.h, written
        // out so that a wrong arm cannot hide behind the libc constant.
        for (value, name) in [
            (1, "EPERM"),
            (2, "ENOENT"),
            (4, "EINTR"),
            (11, "EAGAIN"),
            (14, "EFAULT"),
            (22, "EINVAL"),
            (25, "ENOTTY"),
            (29, "ESPIPE"),
            (90, "EMSGSIZE"),
            (98, "EADDRINUSE"),
            (105, "ENOBUFS"),
        ] {
            assert_eq!(errno_name(value), Some(name), "errno {value}");
        }
    }

    #[test]
    fn aliases_get_the_first_name() {
        assert_eq!(errno_name(libc::EWOULDBLOCK), Some("EAGAIN"));
        assert_eq!(errno_name(libc::ENOTSUP), Some("EOPNOTSUPP"));
    }

    #[test]
    fn describe_gives_name_and_text() {
        let e = io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert_eq!(describe(&e), "EADDRINUSE (Address already in use)");
        let e = io::Error::from_raw_os_error(libc::ENOTTY);
        assert_eq!(describe(&e), "ENOTTY (Inappropriate ioctl for device)");
        let e = io::Error::from_raw_os_error(1234);
        assert_eq!(describe(&e), "errno 1234 (Unknown error 1234)");
        let e = io::Error::new(io::ErrorKind::InvalidInput, "bad path");
        assert_eq!(describe(&e), "bad path");
    }

    #[test]
    fn unknown_values_have_no_name() {
        assert_eq!(errno_name(0), None);
        assert_eq!(errno_name(-1), None);
        assert_eq!(errno_name(4096), None);
    }
}
