//! The uapi as a C header, generated from [`crate::uapi`].
//!
//! C programs (the 32-bit compat test, `tests/compat/`) need the ioctl
//! numbers and argument structs too. Rather than a second, hand-written copy
//! that could drift from `rust/simnic/uapi.rs`, the header is printed from
//! the Rust constants and from each struct's `LAYOUT` (field names, types
//! and the offsets rustc gave them), and it asserts every size, alignment
//! and offset with `_Static_assert`: a C compiler that lays a struct out
//! differently (the i386 ABI aligns `uint64_t` members to 4, for one) stops
//! the build instead of producing a program that passes garbage.
//!
//! `simnic-uapi-header` prints it; `tools/build-guest` runs that.

use crate::uapi::*;
use std::fmt::Write;

/// Name and value of each constant, spelled once (the value is the Rust
/// constant's, so only the list can be incomplete, which a test checks).
macro_rules! consts {
    ($($c:ident),* $(,)?) => { [$((stringify!($c), $c as u64)),*] };
}

/// Name, layout, size and alignment of each ioctl argument struct.
macro_rules! structs {
    ($($s:ident),* $(,)?) => {
        [$((stringify!($s), &$s::LAYOUT[..], size_of::<$s>(), align_of::<$s>())),*]
    };
}

pub(crate) type Layout = &'static [(&'static str, &'static str, usize)];

/// The C name of a uapi struct: `SendTo` -> `simnic_send_to`.
pub(crate) fn c_struct_name(rust: &str) -> String {
    let mut out = String::from("simnic");
    for ch in rust.chars() {
        if ch.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// The C type of a uapi field type. u64 fields are 8-aligned on every ABI,
/// as the kernel's `__aligned_u64`, so the C struct is the Rust one on i386.
fn c_type(rust: &str) -> &'static str {
    match rust {
        "u8" => "uint8_t",
        "u16" => "uint16_t",
        "u32" => "uint32_t",
        "u64" => "simnic_u64",
        "i32" => "int32_t",
        other => panic!("uapi field type {other} has no C spelling here; add one"),
    }
}

/// The C name of a constant: uapi names without the `SIMNIC_` prefix
/// (`SHUT_RD`, `FIONREAD`) get it, so they cannot clash with libc's.
pub(crate) fn c_const_name(rust: &str) -> String {
    if rust.starts_with("SIMNIC_") {
        rust.to_string()
    } else {
        format!("SIMNIC_{rust}")
    }
}

/// Every ioctl request of the uapi, by name.
pub(crate) fn ioctl_consts() -> [(&'static str, u64); 25] {
    consts![
        SIMNIC_IOC_BIND,
        SIMNIC_IOC_CONNECT,
        SIMNIC_IOC_GET_PORT,
        SIMNIC_IOC_SENDTO,
        SIMNIC_IOC_RECVFROM,
        SIMNIC_IOC_SET_RCVBUF,
        SIMNIC_IOC_EP_STATS,
        SIMNIC_IOC_NIC_STATS,
        SIMNIC_IOC_RING_STATE,
        SIMNIC_IOC_GEN_START,
        SIMNIC_IOC_GEN_STOP,
        SIMNIC_IOC_SET_TX_DELAY,
        SIMNIC_IOC_RESET_STATS,
        SIMNIC_IOC_SHUTDOWN,
        SIMNIC_IOC_SET_LOOPBACK,
        SIMNIC_IOC_GET_LIMITS,
        SIMNIC_IOC_SET_LIMITS,
        SIMNIC_IOC_RX_RING_SETUP,
        SIMNIC_IOC_RX_RING_STATS,
        SIMNIC_MUX_IOC_POLL,
        SIMNIC_MUX_IOC_CTL,
        SIMNIC_MUX_IOC_WAIT,
        SIMNIC_MUX_IOC_INFO,
        SIMNIC_MUX_IOC_SET_LIMITS,
        FIONREAD,
    ]
}

/// Every other constant of the uapi (values, flags, limits), by name.
pub(crate) fn value_consts() -> [(&'static str, u64); 38] {
    consts![
        SIMNIC_IOC_MAGIC,
        MAX_DATAGRAM,
        EPHEMERAL_PORT_FIRST,
        RCVBUF_DEFAULT,
        RCVBUF_MIN,
        RCVBUF_MAX,
        RX_QUEUE_SLOTS,
        AIO_READS_MAX,
        GEN_FLOWS,
        SIMNIC_MSG_TRUNC,
        SIMNIC_MSG_NOSIGNAL,
        SIMNIC_RECV_DONTWAIT,
        SIMNIC_SHUT_RD_BIT,
        SIMNIC_SHUT_WR_BIT,
        SHUT_RD,
        SHUT_WR,
        SHUT_RDWR,
        RMEM_MAX_DEFAULT,
        RX_MEM_MAX_DEFAULT,
        TX_DELAY_MAX_NS,
        MINI_POLL_MAX_FDS,
        MINI_EPOLL_CTL_ADD,
        MINI_EPOLL_CTL_DEL,
        MINI_EPOLL_CTL_MOD,
        MINI_EPOLL_MAX_EVENTS,
        MINI_EPOLL_MAX_ITEMS,
        MINI_EPOLL_MAX_USER_WATCHES_DEFAULT,
        MINI_EPOLL_MAX_NESTS,
        RX_RING_PAGE_SIZE,
        RX_RING_MIN_SLOTS,
        RX_RING_MAX_SLOTS,
        RX_RING_MIN_SLOT_SIZE,
        RX_RING_MAX_SLOT_SIZE,
        RX_RING_MAX_BYTES,
        RX_RING_OFF_PRODUCER,
        RX_RING_OFF_CONSUMER,
        RX_RING_OFF_STATUS,
        RX_RING_STATUS_BAD_INDEX,
    ]
}

/// Every ioctl argument struct: Rust name, layout, size, alignment.
pub(crate) fn uapi_structs() -> [(&'static str, Layout, usize, usize); 17] {
    structs![
        SendTo,
        RecvFrom,
        GenFlow,
        NicStats,
        EpStats,
        RingState,
        Limits,
        MiniPollFd,
        MiniPoll,
        MiniEpollCtl,
        MiniEpollEvent,
        MiniEpollWait,
        MiniEpollInfo,
        MiniEpollLimits,
        RxRingReq,
        RxRingDesc,
        RxRingStats
    ]
}

/// The whole header text.
pub fn c_header() -> String {
    let ioctls = ioctl_consts();
    let values = value_consts();
    let structs = uapi_structs();

    let mut h = String::new();
    // `write!` to a String cannot fail; the results are ignored below.
    let _ = writeln!(
        h,
        "/* SPDX-License-Identifier: GPL-2.0 */\n\
         /*\n \
         * simnic_uapi.h: the user-space ABI of /dev/simnic for C programs.\n \
         * Generated by simnic-uapi-header from rust/simnic/uapi.rs (where each\n \
         * item is documented); do not edit. The _Static_asserts hold the C\n \
         * layout to the Rust one on whatever ABI includes this (x86_64, i386).\n \
         */\n\
         #ifndef SIMNIC_UAPI_H\n\
         #define SIMNIC_UAPI_H\n\n\
         #include <stddef.h>\n\
         #include <stdint.h>\n\n\
         /* 8-aligned like the kernel's __aligned_u64: i386 aligns uint64_t to 4. */\n\
         typedef uint64_t simnic_u64 __attribute__((aligned(8)));\n"
    );
    let _ = writeln!(h, "/* ioctl requests */");
    for (name, v) in ioctls {
        let _ = writeln!(h, "#define {} 0x{v:08x}u", c_const_name(name));
    }
    let _ = writeln!(h, "\n/* values and flags */");
    for (name, v) in values {
        let suffix = if v > u64::from(u32::MAX) { "ull" } else { "u" };
        let _ = writeln!(h, "#define {} {v}{suffix}", c_const_name(name));
    }
    for (rust, layout, size, align) in structs {
        let c = c_struct_name(rust);
        let _ = writeln!(h, "\n/* {rust} */\nstruct {c} {{");
        for (field, ty, _) in layout {
            let _ = writeln!(h, "\t{} {field};", c_type(ty));
        }
        let _ = writeln!(h, "}};");
        let _ = writeln!(h, "_Static_assert(sizeof(struct {c}) == {size}, \"size of {c}\");");
        let _ = writeln!(h, "_Static_assert(_Alignof(struct {c}) == {align}, \"alignment of {c}\");");
        for (field, _, offset) in layout {
            let _ = writeln!(
                h,
                "_Static_assert(offsetof(struct {c}, {field}) == {offset}, \"offset of {c}.{field}\");"
            );
        }
    }
    let _ = writeln!(h, "\n#endif /* SIMNIC_UAPI_H */");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// A fresh scratch directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("simnic-c-header-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Compiles a file including `header` with gcc for `abi` (`-m64` or
    /// `-m32`); Ok or the compiler's messages.
    fn gcc_check(dir: &Path, header: &str, abi: &str) -> Result<(), String> {
        std::fs::write(dir.join("simnic_uapi.h"), header).unwrap();
        std::fs::write(dir.join("t.c"), "#include \"simnic_uapi.h\"\nint main(void) { return 0; }\n").unwrap();
        let out = Command::new("gcc")
            .args([abi, "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I"])
            .arg(dir)
            .arg(dir.join("t.c"))
            .output()
            .expect("running gcc (tools/setup installs it)");
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    #[test]
    fn header_compiles_for_x86_64_and_i386() {
        let dir = scratch("abis");
        let h = c_header();
        for abi in ["-m64", "-m32"] {
            if let Err(e) = gcc_check(&dir, &h, abi) {
                panic!("gcc {abi} rejects the header (for -m32, tools/setup installs gcc-multilib):\n{e}");
            }
        }
    }

    #[test]
    fn a_wrong_offset_stops_the_build() {
        // The asserts must be live: change one offset (RecvFrom.flags is at
        // 12) and both ABIs have to refuse the header.
        let dir = scratch("wrong");
        let good = "offsetof(struct simnic_recv_from, flags) == 12,";
        let h = c_header();
        assert!(h.contains(good), "header lacks {good}:\n{h}");
        let bad = h.replace(good, "offsetof(struct simnic_recv_from, flags) == 16,");
        for abi in ["-m64", "-m32"] {
            let e = gcc_check(&dir, &bad, abi).expect_err("a wrong offset compiled");
            assert!(e.contains("offset of simnic_recv_from.flags"), "{abi}: {e}");
        }
    }

    #[test]
    fn every_ioctl_and_struct_of_the_uapi_is_in_the_header() {
        // The lists above are the one hand-kept part: scan uapi.rs so that
        // a new ioctl or struct cannot be forgotten.
        let src = include_str!("../../../rust/simnic/uapi.rs");
        let h = c_header();
        let mut seen = (0, 0);
        for line in src.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["pub", "const", name, ..] if name.starts_with("SIMNIC_IOC_") || name.starts_with("SIMNIC_MUX_IOC_") => {
                    let name = name.trim_end_matches(':');
                    assert!(h.contains(&format!("#define {name} ")), "{name} missing");
                    seen.0 += 1;
                }
                // `$name` is the macro's own pattern; FrameHeader is the wire
                // format, no ioctl argument.
                ["pub", "struct", name, ..] if !name.starts_with('$') && *name != "FrameHeader" => {
                    let c = c_struct_name(name);
                    assert!(h.contains(&format!("struct {c} {{")), "struct {name} missing");
                    seen.1 += 1;
                }
                _ => {}
            }
        }
        // MAGIC + 19 + 5 requests; 17 structs (the scan itself must have worked).
        assert_eq!(seen, (25, 17));
        assert!(h.contains(&format!("#define SIMNIC_FIONREAD 0x{FIONREAD:08x}u")));
    }

    #[test]
    fn known_lines() {
        let h = c_header();
        for want in [
            "#define SIMNIC_IOC_SENDTO 0x4018e504u",
            "#define SIMNIC_SHUT_WR 1u",
            "#define SIMNIC_TX_DELAY_MAX_NS 1000000000u",
            "struct simnic_send_to {\n\tsimnic_u64 buf;\n\tuint32_t len;\n\tuint32_t port;\n\tuint32_t flags;\n\tuint32_t reserved;\n};",
            "_Static_assert(offsetof(struct simnic_limits, rx_mem) == 8, \"offset of simnic_limits.rx_mem\");",
        ] {
            assert!(h.contains(want), "header lacks {want:?}:\n{h}");
        }
    }
}
