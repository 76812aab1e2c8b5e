// SPDX-License-Identifier: GPL-2.0

//! Trace events (ftrace, `events/<system>/` in tracefs).
//!
//! 6.12 has no Rust tracepoint support (upstream's `declare_trace!` came in
//! v6.13, with events a module defines in a C header of its own). Until
//! then, a module's events are defined in the kernel image, in a header and
//! a C file of the layer, and fired through safe functions here that take
//! plain values only: an event cannot be handed a pointer it would
//! dereference, so firing one is always sound.
//!
//! C header: [`include/linux/tracepoint.h`](srctree/include/linux/tracepoint.h)

pub mod simnic;
