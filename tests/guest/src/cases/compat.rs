//! Ioctls from a 32-bit process. `/bin/simnic-compat32` (tests/compat, C,
//! `gcc -m32 -static`) runs as an i386 program under the kernel's IA32
//! emulation, where every ioctl goes through the file's `compat_ioctl`
//! (`compat_sys_ioctl` gives `ENOTTY` without one); it prints one TAP-like
//! line per check. This test makes sure the program really is 32-bit, runs
//! it, and requires each of its checks to pass.

use std::io::Read;
use std::process::Command;

use simnic::Endpoint;

use crate::net::*;
use crate::sys::*;

const PROGRAM: &str = "/bin/simnic-compat32";

/// Every check simnic-compat32 makes: each must print `ok - NAME`, so a
/// program that skipped some, or printed nothing, cannot pass.
const CHECKS: &[&str] = &[
    "open",
    "get_port",
    "nic_stats_snapshot",
    "bind",
    "connect_write",
    "sendto",
    "fionread",
    "ep_stats",
    "recvfrom",
    "recvfrom_truncated",
    "nic_stats",
    "ring_state",
    "set_rcvbuf",
    "get_limits",
    "enotty",
    "efault",
    "shutdown",
];

/// Frames the program sends (connected write, SENDTO of 1500, of 100 and
/// of 1 byte); the NIC counters, read from this 64-bit side, must show them.
const FRAMES_SENT: u64 = 4;

/// Checks the ELF header of `path`: an i386 executable (ELFCLASS32,
/// EM_386), so that the run below exercises the compat path and not the
/// native one.
fn expect_i386_elf(path: &str) -> TestResult {
    let mut head = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|e| format!("{path}: {e}"))?;
    ensure!(
        &head[..4] == b"\x7fELF",
        "{path}: not an ELF file (starts {:02x?})",
        &head[..4]
    );
    ensure!(
        head[libc::EI_CLASS] == libc::ELFCLASS32,
        "{path}: ELF class {} (want {} = ELFCLASS32): not a 32-bit program",
        head[libc::EI_CLASS],
        libc::ELFCLASS32
    );
    let machine = u16::from_le_bytes([head[18], head[19]]);
    ensure!(
        machine == libc::EM_386,
        "{path}: e_machine {machine} (want {} = EM_386)",
        libc::EM_386
    );
    Ok(())
}

pub fn compat_ioctl_32bit() -> TestResult {
    expect_i386_elf(PROGRAM)?;
    let ep: Endpoint = open_dev()?;
    let before = nic_stats(&ep)?;

    let out = Command::new(PROGRAM)
        .output()
        .map_err(|e| format!("running {PROGRAM}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let failures: Vec<&str> = text.lines().filter(|l| l.starts_with("not ok")).collect();
    ensure!(
        out.status.success() && failures.is_empty(),
        "{PROGRAM} {}: {}; output: {}",
        out.status,
        failures.join("; "),
        text.trim_end().replace('\n', " | ")
    );
    for name in CHECKS {
        let want = format!("ok - {name}");
        ensure!(
            text.lines().any(|l| l == want),
            "{PROGRAM} printed no {want:?}; output: {}",
            text.trim_end().replace('\n', " | ")
        );
    }

    // The 32-bit program's traffic, seen from a 64-bit caller.
    let d = nic_delta(&before, &nic_stats(&ep)?);
    ensure!(
        d.tx_packets >= FRAMES_SENT && d.rx_packets >= FRAMES_SENT,
        "NIC counters moved by {} (want tx_packets and rx_packets >= {FRAMES_SENT})",
        nic_summary(&d)
    );
    Ok(())
}
