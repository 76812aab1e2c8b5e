//! Linux native AIO from userspace: the kernel's ABI (C header:
//! include/uapi/linux/aio_abi.h, `struct iocb`, `struct io_event`, the
//! `IOCB_CMD_*` opcodes) and its system calls (`io_setup`, `io_submit`,
//! `io_getevents`, `io_cancel`, `io_destroy`; glibc wraps none of them).
//!
//! simnic's `read_iter` keeps an `IOCB_CMD_PREAD` on an empty endpoint and
//! completes it from the receive path (Documentation/models/aio.rst). The
//! in-guest tests, the benchmark's AIO receiver and `sample-aio` all speak
//! this ABI; it is defined once, here. As with [`Endpoint`](crate::Endpoint),
//! each function is one system call and its error the raw `errno` in an
//! [`io::Error`]: no retrying (`EINTR` is the caller's to handle).

use std::io;
use std::os::fd::RawFd;

/// `aio_context_t`: the handle `io_setup` returns (the address of the
/// context's ring in the process).
pub type AioContextId = libc::c_ulong;

/// `IOCB_CMD_PREAD`: read `aio_nbytes` bytes into `aio_buf`.
pub const IOCB_CMD_PREAD: u16 = 0;
/// `IOCB_CMD_POLL`: wait for the poll events in `aio_buf`; completes with
/// the `revents` as `res`.
pub const IOCB_CMD_POLL: u16 = 5;
/// `IOCB_CMD_PREADV`: read into the `aio_nbytes` iovecs at `aio_buf`.
pub const IOCB_CMD_PREADV: u16 = 7;

/// `struct iocb`: one request given to [`io_submit`].
///
/// 64 bytes. `aio_key` and `aio_rw_flags` share one 64-bit word whose
/// halves the header's `PADDED()` orders by endianness; the two `cfg`
/// variants below mirror it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Iocb {
    /// Copied into the completion's [`IoEvent::data`].
    pub aio_data: u64,
    /// The kernel's: left 0 by the caller.
    #[cfg(target_endian = "little")]
    pub aio_key: u32,
    /// `RWF_*` flags (include/uapi/linux/fs.h), as `preadv2` takes them.
    pub aio_rw_flags: i32,
    /// The kernel's: left 0 by the caller.
    #[cfg(target_endian = "big")]
    pub aio_key: u32,
    /// The operation: `IOCB_CMD_*`.
    pub aio_lio_opcode: u16,
    /// I/O priority (with `IOCB_FLAG_IOPRIO`).
    pub aio_reqprio: i16,
    /// The file descriptor.
    pub aio_fildes: u32,
    /// The buffer's address (`IOCB_CMD_PREADV`: the iovec array's; `POLL`:
    /// the events).
    pub aio_buf: u64,
    /// The buffer's length (`IOCB_CMD_PREADV`: the number of iovecs).
    pub aio_nbytes: u64,
    /// The file offset (ignored by a stream such as `/dev/simnic`).
    pub aio_offset: i64,
    /// Must be 0.
    pub aio_reserved2: u64,
    /// `IOCB_FLAG_*`.
    pub aio_flags: u32,
    /// The eventfd to signal (with `IOCB_FLAG_RESFD`).
    pub aio_resfd: u32,
}

impl Iocb {
    /// `IOCB_CMD_PREAD` of `len` bytes into `buf` on `fd`, tagged `data`.
    /// Building it touches nothing; [`io_submit`] says how long `buf` must
    /// stay valid.
    pub fn pread(fd: RawFd, buf: *mut u8, len: usize, data: u64) -> Self {
        Self {
            aio_data: data,
            aio_lio_opcode: IOCB_CMD_PREAD,
            aio_fildes: fd as u32,
            aio_buf: buf as u64,
            aio_nbytes: len as u64,
            ..Self::default()
        }
    }

    /// `IOCB_CMD_PREADV` over `iov`, tagged `data`. The kernel copies the
    /// iovec array during [`io_submit`], so `iov` must outlive that call
    /// (and no longer); the buffers it points to, the request.
    pub fn preadv(fd: RawFd, iov: &[libc::iovec], data: u64) -> Self {
        Self {
            aio_data: data,
            aio_lio_opcode: IOCB_CMD_PREADV,
            aio_fildes: fd as u32,
            aio_buf: iov.as_ptr() as u64,
            aio_nbytes: iov.len() as u64,
            ..Self::default()
        }
    }

    /// `IOCB_CMD_POLL` for the poll `events` on `fd`, tagged `data`.
    pub fn poll(fd: RawFd, events: i16, data: u64) -> Self {
        Self {
            aio_data: data,
            aio_lio_opcode: IOCB_CMD_POLL,
            aio_fildes: fd as u32,
            aio_buf: events as u16 as u64,
            ..Self::default()
        }
    }
}

/// `struct io_event`: one completion, as [`io_getevents`] returns it.
/// 32 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoEvent {
    /// The request's [`Iocb::aio_data`].
    pub data: u64,
    /// The address of the request's iocb in the submitting process.
    pub obj: u64,
    /// The result: bytes read, poll `revents`, or a negative errno.
    pub res: i64,
    /// A secondary result (0 for simnic's requests).
    pub res2: i64,
}

/// A system call's return value, or the errno it failed with.
fn check(ret: libc::c_long) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// `io_setup(2)`: a new AIO context with room for `nr_events` completions
/// in flight; `io_destroy` it when done.
pub fn io_setup(nr_events: u32) -> io::Result<AioContextId> {
    let mut ctx: AioContextId = 0;
    // SAFETY: `ctx` is a valid out-pointer, zero as io_setup requires.
    check(unsafe { libc::syscall(libc::SYS_io_setup, nr_events, &mut ctx) })?;
    Ok(ctx)
}

/// `io_submit(2)` of the requests `iocbs` points to: how many the kernel
/// took (from the first; the errno only when it took none).
///
/// # Safety
/// Every pointer must point to a valid [`Iocb`] for the call. Until a
/// request's completion has been reaped, or `io_destroy` has returned,
/// the memory it names (the buffer of a read; for `IOCB_CMD_PREADV` the
/// buffers of its iovecs) must stay valid for the kernel to write, and
/// nothing else may rely on its contents: the kernel writes it at any
/// moment. An iocb whose request may still be cancelled with
/// [`io_cancel`] must stay at its address (the kernel finds the request by
/// it).
pub unsafe fn io_submit(ctx: AioContextId, iocbs: &mut [*mut Iocb]) -> io::Result<usize> {
    // SAFETY: `iocbs` holds `iocbs.len()` pointers; the caller vouches for
    // what they point to.
    check(unsafe {
        libc::syscall(
            libc::SYS_io_submit,
            ctx,
            iocbs.len() as libc::c_long,
            iocbs.as_mut_ptr(),
        )
    })
}

/// `io_getevents(2)`: waits until at least `min_nr` completions are there
/// (or `timeout` passed; `None` waits for ever) and takes up to
/// `events.len()` of them into `events`; returns how many.
pub fn io_getevents(
    ctx: AioContextId,
    min_nr: usize,
    events: &mut [IoEvent],
    timeout: Option<&libc::timespec>,
) -> io::Result<usize> {
    let timeout = timeout.map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: the kernel writes at most `events.len()` events into
    // `events`, and reads `timeout` when it is not null (a live timespec).
    check(unsafe {
        libc::syscall(
            libc::SYS_io_getevents,
            ctx,
            min_nr as libc::c_long,
            events.len() as libc::c_long,
            events.as_mut_ptr(),
            timeout,
        )
    })
}

/// `io_cancel(2)` of the request submitted from the iocb at `iocb`.
/// Since Linux 4.19 it never succeeds: `EINPROGRESS` says cancellation is
/// under way and the completion comes through the ring, `EINVAL` that no
/// such request is pending, `EAGAIN` that it was not cancelled.
///
/// Only the address is the kernel's key (and the iocb's `aio_key` is read
/// through it, with `EFAULT` if unmapped): `iocb` may be a request being
/// submitted on another thread, which is why it is a pointer.
// Nothing of this process dereferences `iocb`: the kernel copies from it
// with a checked user copy, so any value is memory-safe (the lint cannot
// see that through the system call).
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn io_cancel(ctx: AioContextId, iocb: *const Iocb) -> io::Result<()> {
    let mut result = IoEvent::default();
    // SAFETY: the kernel reads `iocb` with a checked user copy (a bad
    // address is EFAULT, not ours to prevent) and may write one event into
    // `result`, a valid out-pointer.
    check(unsafe { libc::syscall(libc::SYS_io_cancel, ctx, iocb, &mut result) }).map(drop)
}

/// `io_destroy(2)`: cancels every request still in flight on `ctx`, waits
/// for them, and frees the context.
pub fn io_destroy(ctx: AioContextId) -> io::Result<()> {
    // SAFETY: takes no pointer; an id that is no context of this process
    // is EINVAL.
    check(unsafe { libc::syscall(libc::SYS_io_destroy, ctx) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// The offsets and sizes of include/uapi/linux/aio_abi.h on a 64-bit
    /// little-endian kernel (x86_64, the guest's): a field out of place
    /// would make the kernel read another field's bytes.
    #[test]
    fn iocb_and_io_event_match_the_kernel_abi() {
        assert_eq!(size_of::<Iocb>(), 64);
        assert_eq!(offset_of!(Iocb, aio_data), 0);
        #[cfg(target_endian = "little")]
        {
            assert_eq!(offset_of!(Iocb, aio_key), 8);
            assert_eq!(offset_of!(Iocb, aio_rw_flags), 12);
        }
        assert_eq!(offset_of!(Iocb, aio_lio_opcode), 16);
        assert_eq!(offset_of!(Iocb, aio_reqprio), 18);
        assert_eq!(offset_of!(Iocb, aio_fildes), 20);
        assert_eq!(offset_of!(Iocb, aio_buf), 24);
        assert_eq!(offset_of!(Iocb, aio_nbytes), 32);
        assert_eq!(offset_of!(Iocb, aio_offset), 40);
        assert_eq!(offset_of!(Iocb, aio_reserved2), 48);
        assert_eq!(offset_of!(Iocb, aio_flags), 56);
        assert_eq!(offset_of!(Iocb, aio_resfd), 60);

        assert_eq!(size_of::<IoEvent>(), 32);
        assert_eq!(offset_of!(IoEvent, data), 0);
        assert_eq!(offset_of!(IoEvent, obj), 8);
        assert_eq!(offset_of!(IoEvent, res), 16);
        assert_eq!(offset_of!(IoEvent, res2), 24);
    }

    /// The builders set what their opcode needs and leave the rest 0.
    #[test]
    fn builders_fill_the_request() {
        let mut buf = [0u8; 16];
        let r = Iocb::pread(5, buf.as_mut_ptr(), buf.len(), 9);
        assert_eq!(
            r,
            Iocb {
                aio_data: 9,
                aio_lio_opcode: IOCB_CMD_PREAD,
                aio_fildes: 5,
                aio_buf: buf.as_mut_ptr() as u64,
                aio_nbytes: 16,
                ..Iocb::default()
            }
        );
        let iov = [libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: 16,
        }; 3];
        let v = Iocb::preadv(6, &iov, 10);
        assert_eq!(
            (
                v.aio_lio_opcode,
                v.aio_fildes,
                v.aio_buf,
                v.aio_nbytes,
                v.aio_data
            ),
            (IOCB_CMD_PREADV, 6, iov.as_ptr() as u64, 3, 10)
        );
        // POLLIN | POLLRDHUP: the events as an unsigned 16-bit value.
        let p = Iocb::poll(7, libc::POLLIN | libc::POLLRDHUP, 11);
        assert_eq!(
            (
                p.aio_lio_opcode,
                p.aio_fildes,
                p.aio_buf,
                p.aio_nbytes,
                p.aio_data
            ),
            (IOCB_CMD_POLL, 7, 0x2001, 0, 11)
        );
    }

    /// The calls' error path: an id that is no context is `EINVAL` (the
    /// host kernel answers; nothing of simnic is needed).
    #[test]
    fn calls_on_no_context_are_einval() {
        if io_destroy(0).unwrap_err().raw_os_error() == Some(libc::ENOSYS) {
            eprintln!("no AIO system calls on this host: skipped");
            return;
        }
        let mut ev = [IoEvent::default(); 1];
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let e = io_getevents(0, 0, &mut ev, Some(&zero)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
        assert_eq!(
            io_destroy(0).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
    }

    /// A whole round on the host: a context, a read of a pipe submitted and
    /// completed, the event carrying the tag, the byte count and the iocb's
    /// address. A pipe has no `FMODE_NOWAIT`: AIO runs its read inside
    /// io_submit, which would block on an empty pipe, so the data is
    /// written first.
    #[test]
    fn pread_on_a_pipe_completes() {
        let Ok(ctx) = io_setup(4) else {
            // A host with AIO disabled (`fs.aio-max-nr` 0, a seccomp filter):
            // nothing to test here; the guest suite runs it for real.
            eprintln!("io_setup refused on this host: skipped");
            return;
        };
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: writes 3 bytes from a live buffer to our pipe.
        assert_eq!(unsafe { libc::write(fds[1], b"aio".as_ptr().cast(), 3) }, 3);
        let mut buf = [0u8; 8];
        let mut cb = Iocb::pread(fds[0], buf.as_mut_ptr(), buf.len(), 0x5a);
        // SAFETY: `cb` and `buf` live until the event is reaped below (or
        // io_destroy has waited for the request).
        let n = unsafe { io_submit(ctx, &mut [&mut cb as *mut Iocb]) }.unwrap();
        assert_eq!(n, 1);
        let mut ev = [IoEvent::default(); 2];
        let five = libc::timespec {
            tv_sec: 5,
            tv_nsec: 0,
        };
        let got = io_getevents(ctx, 1, &mut ev, Some(&five)).unwrap();
        io_destroy(ctx).unwrap();
        assert_eq!(got, 1);
        assert_eq!((ev[0].data, ev[0].res), (0x5a, 3));
        assert_eq!(ev[0].obj, &cb as *const Iocb as u64);
        assert_eq!(&buf[..3], b"aio");
        // SAFETY: our descriptors, closed once.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
