// SPDX-License-Identifier: GPL-2.0

//! The I/O models with a figure: which sample runs, with which options,
//! and which system call is the wait (phase 1). Adding a model is one
//! entry in [`MODELS`] (its sample must be able to receive exactly one
//! datagram from a forked sender) and an `.. image::` in its
//! Documentation page; `tools/trace/figures` asks `simnic-trace models`.

/// How the receiver waits for its datagram: what starts phase 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// It sleeps in one of these system calls (the one in progress when
    /// the datagram is queued): phase 1 starts at its entry.
    In(&'static [&'static str]),
    /// It retries this system call, which fails with `EAGAIN` until the
    /// datagram is there: phase 1 starts at the first failed call after
    /// the last successful one.
    Retry(&'static str),
    /// It handed the kernel the read in this system call, which returned
    /// at once (`io_submit`, `io_uring_enter`): phase 1 starts at the
    /// entry of the last such call that returned before the datagram was
    /// queued, whatever the process did meanwhile.
    Posted(&'static str),
}

/// Who copies the datagram into the process's memory (phase 2), and in
/// which context: what the figure looks for to end the datagram's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Copy {
    /// The receiver's own system call (`read()` after the wait):
    /// `simnic_recv_copy` in the receiver, inside that call.
    Syscall,
    /// io_uring's task work: `simnic_recv_copy` in the receiver's context,
    /// run inside its `io_uring_enter()` after `io_poll_wake` queued it.
    TaskWork,
    /// The kernel's receive path itself (Linux AIO): `simnic_deliver ...
    /// to an aio read` in softirq, the copy into the pinned pages and the
    /// completion right after it, which wakes the receiver's
    /// `io_getevents()`.
    Softirq,
    /// Nobody at the receiver's request (the mmap ring): `simnic_deliver
    /// ... into the mmap ring` in softirq, after the copy into the slot;
    /// the process reads the slot in place, with no system call.
    Ring,
}

/// One I/O model's figure.
#[derive(Clone, Copy, Debug)]
pub struct Model {
    /// Its name: the figure's file name and `record`'s argument.
    pub name: &'static str,
    /// The figure's title.
    pub title: &'static str,
    /// The sample and its options: exactly one datagram.
    pub command: &'static [&'static str],
    /// What starts phase 1.
    pub wait: Wait,
    /// Who does phase 2.
    pub copy: Copy,
    /// Module parameters to reload simnic.ko with for the recording (""
    /// for the default load, which is restored afterwards).
    pub params: &'static str,
}

/// Every model, in the order of Documentation/models/index.rst.
pub const MODELS: &[Model] = &[
    Model {
        name: "blocking",
        title: "Blocking I/O: read() sleeps until the datagram is queued",
        command: &["sample-blocking", "--count", "1", "--no-poll"],
        wait: Wait::In(&["read"]),
        copy: Copy::Syscall,
        params: "",
    },
    Model {
        name: "nonblocking",
        title: "Nonblocking I/O: read() fails with EAGAIN until the datagram is queued",
        command: &[
            "sample-nonblocking",
            "--count",
            "1",
            "--interval-ms",
            "30",
            "--sleep-us",
            "5000",
        ],
        wait: Wait::Retry("read"),
        copy: Copy::Syscall,
        params: "",
    },
    Model {
        name: "select",
        title: "I/O multiplexing with select(), then read()",
        command: &["sample-select", "--count", "1", "--endpoints", "1"],
        wait: Wait::In(&["select", "pselect6"]),
        copy: Copy::Syscall,
        params: "",
    },
    Model {
        name: "poll",
        title: "I/O multiplexing with poll(), then read()",
        command: &["sample-poll", "--count", "1", "--endpoints", "1"],
        wait: Wait::In(&["poll", "ppoll"]),
        copy: Copy::Syscall,
        params: "",
    },
    Model {
        name: "epoll",
        title: "I/O multiplexing with epoll_wait(), then read()",
        command: &["sample-epoll", "--count", "1", "--burst", "1"],
        wait: Wait::In(&["epoll_wait", "epoll_pwait", "epoll_pwait2"]),
        copy: Copy::Syscall,
        params: "",
    },
    Model {
        name: "sigio",
        title: "Signal-driven I/O: SIGIO, then read()",
        command: &[
            "sample-sigio",
            "--count",
            "1",
            "--signal",
            "sigio",
            "--wait",
            "handler",
        ],
        wait: Wait::In(&["rt_sigsuspend", "rt_sigtimedwait", "pause"]),
        copy: Copy::Syscall,
        params: "",
    },
    Model {
        name: "mini-poll",
        title: "The module's own poll (SIMNIC_MUX_IOC_POLL), then read()",
        command: &["sample-mini-poll", "--count", "1", "--endpoints", "1"],
        wait: Wait::In(&["ioctl"]),
        copy: Copy::Syscall,
        params: "",
    },
    Model {
        name: "mini-epoll",
        title: "The module's own epoll (SIMNIC_MUX_IOC_WAIT), then read()",
        command: &["sample-mini-epoll", "--count", "1", "--endpoints", "1"],
        wait: Wait::In(&["ioctl"]),
        copy: Copy::Syscall,
        params: "",
    },
    Model {
        name: "aio",
        title: "Asynchronous I/O (Linux AIO): io_submit() returns, the kernel waits and copies",
        command: &["sample-aio", "--count", "1", "--depth", "1"],
        wait: Wait::Posted("io_submit"),
        copy: Copy::Softirq,
        params: "",
    },
    Model {
        name: "io_uring",
        title: "io_uring: a parked read, completed by task work in io_uring_enter()",
        command: &["sample-io-uring", "--count", "1", "--depth", "1"],
        wait: Wait::Posted("io_uring_enter"),
        copy: Copy::TaskWork,
        params: "",
    },
    Model {
        name: "mmap",
        title: "The mmap ring: poll() waits, the kernel fills the slot, no read()",
        command: &["sample-mmap", "--count", "1", "--no-trace"],
        wait: Wait::In(&["poll", "ppoll"]),
        copy: Copy::Ring,
        params: "",
    },
    Model {
        name: "hw-thread",
        title: "Blocking I/O with the thread hardware model (hw_inline=0): simnic-hw does the DMA",
        command: &["sample-blocking", "--count", "1", "--no-poll"],
        wait: Wait::In(&["read"]),
        copy: Copy::Syscall,
        params: "hw_inline=0",
    },
];

/// The model called `name`.
pub fn find(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.name == name)
}
