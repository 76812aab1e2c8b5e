//! UDP on 127.0.0.1, the reference the endpoint is compared with: the same
//! signal-driven I/O and the same errors must look the same on both.

use std::net::UdpSocket;

use crate::sys::*;

/// `struct ifreq` with the flags member, as SIOC[GS]IFFLAGS use it.
#[repr(C)]
struct IfreqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Brings the loopback interface up (the guest's /init does not), which
/// also gives it 127.0.0.1.
pub fn loopback_up() -> TestResult {
    let s = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("UDP socket: {e}"))?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&s);
    let mut req = IfreqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..2].copy_from_slice(b"lo");
    // SAFETY: `req` is a live ifreq the call reads and writes.
    if unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req as *mut IfreqFlags) } != 0 {
        return Err(format!("SIOCGIFFLAGS(lo): {}", errname(errno())));
    }
    if req.flags & libc::IFF_UP as libc::c_short == 0 {
        req.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        // SAFETY: as above.
        if unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &mut req as *mut IfreqFlags) } != 0 {
            return Err(format!("SIOCSIFFLAGS(lo up): {}", errname(errno())));
        }
    }
    Ok(())
}

/// A UDP socket bound to 127.0.0.1 on a free port.
pub fn udp_socket() -> Result<UdpSocket, String> {
    loopback_up()?;
    UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("UDP bind 127.0.0.1: {e}"))
}

/// A local UDP port nobody is bound to (bound once, then closed).
pub fn unused_udp_port() -> Result<u16, String> {
    let s = udp_socket()?;
    let port = s
        .local_addr()
        .map_err(|e| format!("getsockname: {e}"))?
        .port();
    drop(s);
    Ok(port)
}
