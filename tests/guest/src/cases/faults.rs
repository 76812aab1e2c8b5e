//! Bad user pointers: EFAULT, and the queue as if the call never happened.

use std::os::fd::AsRawFd;

use crate::sys::*;

/// An address in the kernel half of x86-64: access_ok() rejects it.
const KERNEL_ADDR: usize = 0xffff_8880_0000_0000;

/// Addresses that must fault for a `len`-byte user copy, with names.
///
/// They live in one three-page mapping, so nothing the test maps later can
/// land on them: page 0 read-write, page 1 unmapped, page 2 read-only. The
/// mapping stays until the test process exits.
fn bad_buffers(len: usize, writable_needed: bool) -> Result<Vec<(String, usize)>, String> {
    let page = page_size();
    let base = map_pages(3, libc::PROT_READ | libc::PROT_WRITE)?;
    unmap(base + page, 1)?;
    protect(base + 2 * page, 1, libc::PROT_READ)?;
    let mut v = vec![
        ("address 0x1".to_string(), 1),
        ("an munmap()ed page".to_string(), base + page),
        (format!("kernel address {KERNEL_ADDR:#x}"), KERNEL_ADDR),
        // Its first 8 bytes are valid: a copy that stops there is short.
        (
            format!("a buffer whose last {} bytes are unmapped", len - 8),
            base + page - 8,
        ),
    ];
    if writable_needed {
        v.push(("a read-only page".to_string(), base + 2 * page));
    }
    Ok(v)
}

/// A read into a bad buffer fails with EFAULT and does not lose the
/// datagram: it stays at the head of the queue for the next good read.
pub fn efault_read_preserves_datagram() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    for (i, (name, addr)) in bad_buffers(64, true)?.into_iter().enumerate() {
        let (first, second) = (format!("precious datagram {i}"), format!("second {i}"));
        send(fd, first.as_bytes(), "write the first datagram")?;
        send(fd, second.as_bytes(), "write the second datagram")?;
        expect_errno(
            read_to_addr(fd, addr, 64),
            libc::EFAULT,
            &format!("read into {name}"),
        )?;
        expect_datagram(
            fd,
            first.as_bytes(),
            &format!("good read after the read into {name}"),
        )?;
        expect_datagram(
            fd,
            second.as_bytes(),
            &format!("second good read after the read into {name}"),
        )?;
        expect_errno(
            read(fd, &mut [0u8; 64]),
            libc::EAGAIN,
            "read after both datagrams",
        )?;
    }
    Ok(())
}

/// A write from a bad buffer fails with EFAULT and queues nothing, not even
/// the part of a half-valid buffer that could be copied.
pub fn efault_write_queues_nothing() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    for (name, addr) in bad_buffers(64, false)? {
        expect_errno(
            write_from_addr(fd, addr, 64),
            libc::EFAULT,
            &format!("write from {name}"),
        )?;
        expect_poll(
            fd,
            libc::POLLOUT | libc::POLLWRNORM,
            &format!("after the write from {name}"),
        )?;
        expect_errno(
            read(fd, &mut [0u8; 128]),
            libc::EAGAIN,
            &format!("O_NONBLOCK read after the write from {name}"),
        )?;
    }
    send(fd, b"good", "write from a good buffer")?;
    expect_datagram(fd, b"good", "the good datagram")?;
    expect_errno(
        read(fd, &mut [0u8; 64]),
        libc::EAGAIN,
        "read after the good datagram",
    )
}
