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
}

/// Every model, in the order of Documentation/models/index.rst.
pub const MODELS: &[Model] = &[
    Model {
        name: "blocking",
        title: "Blocking I/O: read() sleeps until the datagram is queued",
        command: &["sample-blocking", "--count", "1", "--no-poll"],
        wait: Wait::In(&["read"]),
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
    },
    Model {
        name: "select",
        title: "I/O multiplexing with select(), then read()",
        command: &["sample-select", "--count", "1", "--endpoints", "1"],
        wait: Wait::In(&["select", "pselect6"]),
    },
    Model {
        name: "poll",
        title: "I/O multiplexing with poll(), then read()",
        command: &["sample-poll", "--count", "1", "--endpoints", "1"],
        wait: Wait::In(&["poll", "ppoll"]),
    },
    Model {
        name: "epoll",
        title: "I/O multiplexing with epoll_wait(), then read()",
        command: &["sample-epoll", "--count", "1", "--burst", "1"],
        wait: Wait::In(&["epoll_wait", "epoll_pwait", "epoll_pwait2"]),
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
    },
    Model {
        name: "mini-poll",
        title: "The module's own poll (SIMNIC_MUX_IOC_POLL), then read()",
        command: &["sample-mini-poll", "--count", "1", "--endpoints", "1"],
        wait: Wait::In(&["ioctl"]),
    },
    Model {
        name: "mini-epoll",
        title: "The module's own epoll (SIMNIC_MUX_IOC_WAIT), then read()",
        command: &["sample-mini-epoll", "--count", "1", "--endpoints", "1"],
        wait: Wait::In(&["ioctl"]),
    },
];

/// The model called `name`.
pub fn find(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.name == name)
}
