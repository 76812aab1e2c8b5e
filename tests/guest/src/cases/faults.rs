//! Bad user pointers: EFAULT, and the queue as if the call never happened;
//! bad ioctl requests.

use std::os::fd::{AsRawFd, RawFd};

use simnic::uapi;

use crate::net::*;
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

/// ioctl(fd, request, arg) with a raw argument.
fn raw_ioctl(fd: RawFd, request: u32, arg: usize) -> SysResult {
    // SAFETY: the kernel validates `arg`; userspace never touches it.
    let r = unsafe { libc::ioctl(fd, request as _, arg) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as usize)
    }
}

/// SIMNIC_IOC_RECVFROM into `buf_addr`, the argument struct being valid.
fn recvfrom_to_addr(fd: RawFd, buf_addr: usize, len: u32) -> SysResult {
    let mut arg = uapi::RecvFrom {
        buf: buf_addr as u64,
        buf_len: len,
        flags: uapi::SIMNIC_RECV_DONTWAIT,
        dgram_len: 0,
        src_port: 0,
    };
    raw_ioctl(fd, uapi::SIMNIC_IOC_RECVFROM, &mut arg as *mut _ as usize)
}

/// A read (or RECVFROM) into a bad buffer fails with EFAULT and does not
/// lose the datagram: it stays at the head of the queue for the next good
/// read, and is not counted as truncated. So does a RECVFROM whose
/// argument struct itself is unreadable.
pub fn efault_read_preserves_datagram() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let mut sent = 0;
    for (i, (name, addr)) in bad_buffers(64, true)?.into_iter().enumerate() {
        let (first, second) = (format!("precious datagram {i}"), format!("second {i}"));
        send(fd, first.as_bytes(), "write the first datagram")?;
        send(fd, second.as_bytes(), "write the second datagram")?;
        sent += 2;
        wait_queued(&ep, 2, "the two datagrams")?;
        expect_errno(
            read_to_addr(fd, addr, 64),
            libc::EFAULT,
            &format!("read into {name}"),
        )?;
        expect_errno(
            recvfrom_to_addr(fd, addr, 64),
            libc::EFAULT,
            &format!("RECVFROM into {name}"),
        )?;
        // A read-only argument can be read: the driver then receives into
        // the buffer it names and only its answer faults (as recvmsg's
        // does), which is not this test's case.
        if !name.contains("read-only") {
            expect_errno(
                raw_ioctl(fd, uapi::SIMNIC_IOC_RECVFROM, addr),
                libc::EFAULT,
                &format!("RECVFROM with its argument at {name}"),
            )?;
        }
        expect_ep(
            &ep_stats(&ep)?,
            &[("queued", 2)],
            &format!("after the reads into {name}"),
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
        settle(&ep)?;
        expect_errno(
            read(fd, &mut [0u8; 64]),
            libc::EAGAIN,
            "read after both datagrams",
        )?;
    }
    expect_ep(
        &ep_stats(&ep)?,
        &[
            ("rx_packets", sent),
            ("rx_truncated", 0),
            ("rx_drops", 0),
            ("queued_bytes", 0),
        ],
        "after all the faulting reads",
    )
}

/// A write (or SENDTO) from a bad buffer fails with EFAULT and sends
/// nothing, not even the part of a half-valid buffer that could be copied;
/// so does a SENDTO whose argument struct is unreadable.
pub fn efault_write_queues_nothing() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let port = port_of(&ep)?;
    settle(&ep)?;
    let n0 = nic_stats(&ep)?;
    for (name, addr) in bad_buffers(64, false)? {
        expect_errno(
            write_from_addr(fd, addr, 64),
            libc::EFAULT,
            &format!("write from {name}"),
        )?;
        let arg = uapi::SendTo {
            buf: addr as u64,
            len: 64,
            port,
            flags: 0,
            reserved: 0,
        };
        expect_errno(
            raw_ioctl(fd, uapi::SIMNIC_IOC_SENDTO, &arg as *const _ as usize),
            libc::EFAULT,
            &format!("SENDTO from {name}"),
        )?;
        expect_errno(
            raw_ioctl(fd, uapi::SIMNIC_IOC_SENDTO, addr),
            libc::EFAULT,
            &format!("SENDTO with its argument at {name}"),
        )?;
        settle(&ep)?;
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
    expect_nic(
        &nic_delta(&n0, &nic_stats(&ep)?),
        &[("tx_packets", 0), ("rx_packets", 0), ("tx_busy", 0)],
        "after the faulting sends",
    )?;
    send(fd, b"good", "write from a good buffer")?;
    expect_datagram(fd, b"good", "the good datagram")?;
    settle(&ep)?;
    expect_errno(
        read(fd, &mut [0u8; 64]),
        libc::EAGAIN,
        "read after the good datagram",
    )?;
    expect_ep(
        &ep_stats(&ep)?,
        &[("tx_packets", 1), ("tx_bytes", 4)],
        "at the end",
    )
}

/// Every ioctl that takes an argument fails with EFAULT when it points
/// nowhere, and changes nothing; unknown requests fail with ENOTTY.
pub fn ioctl_efault_enotty() -> TestResult {
    let ep = open_dev_nonblocking()?;
    let fd = ep.as_raw_fd();
    let port = port_of(&ep)?;
    let requests = [
        ("BIND", uapi::SIMNIC_IOC_BIND),
        ("CONNECT", uapi::SIMNIC_IOC_CONNECT),
        ("GET_PORT", uapi::SIMNIC_IOC_GET_PORT),
        ("SENDTO", uapi::SIMNIC_IOC_SENDTO),
        ("RECVFROM", uapi::SIMNIC_IOC_RECVFROM),
        ("SET_RCVBUF", uapi::SIMNIC_IOC_SET_RCVBUF),
        ("EP_STATS", uapi::SIMNIC_IOC_EP_STATS),
        ("NIC_STATS", uapi::SIMNIC_IOC_NIC_STATS),
        ("RING_STATE", uapi::SIMNIC_IOC_RING_STATE),
        ("GEN_START", uapi::SIMNIC_IOC_GEN_START),
        ("GEN_STOP", uapi::SIMNIC_IOC_GEN_STOP),
        ("SET_TX_DELAY", uapi::SIMNIC_IOC_SET_TX_DELAY),
        ("FIONREAD", uapi::FIONREAD),
    ];
    for (name, addr) in [("address 0x1", 1usize), ("a kernel address", KERNEL_ADDR)] {
        for (req, nr) in requests {
            expect_errno(
                raw_ioctl(fd, nr, addr),
                libc::EFAULT,
                &format!("{req} with {name}"),
            )?;
        }
    }
    let unknown = [
        ("request 99 of simnic's magic", uapi::ioc(0, 99, 0)),
        ("EP_STATS with the wrong size", uapi::ioc(2, 7, 8)),
        ("TCGETS", libc::TCGETS as u32),
    ];
    for (name, nr) in unknown {
        let mut scratch = [0u8; 256];
        expect_errno(
            raw_ioctl(fd, nr, scratch.as_mut_ptr() as usize),
            libc::ENOTTY,
            &format!("ioctl {name} ({nr:#x})"),
        )?;
    }
    settle(&ep)?;
    ensure!(
        port_of(&ep)? == port,
        "the faulting ioctls changed the endpoint's port"
    );
    expect_ep(
        &ep_stats(&ep)?,
        &[
            ("rcvbuf", simnic::RCVBUF_DEFAULT.into()),
            ("queued", 0),
            ("tx_packets", 0),
        ],
        "after the faulting ioctls",
    )?;
    let s = ring_state(&ep)?;
    ensure!(
        s.tx_delay_ns == 0,
        "a faulting SET_TX_DELAY changed the delay to {} ns",
        s.tx_delay_ns
    );
    Ok(())
}
