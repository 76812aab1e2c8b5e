// SPDX-License-Identifier: GPL-2.0

//! Reading a wait queue: who waits on it, and how each will be woken.
//!
//! [`WaitQueueHead::view_into`] copies a bounded number of the queue's
//! entries into a [`WaitView`] under the queue's lock: for each, the wake
//! function's symbol (`%ps`: `autoremove_wake_function`, `pollwake`,
//! `ep_poll_callback`, `aio_poll_wake`, `io_poll_wake`, a module's own), the
//! `WQ_FLAG_*` flags, what `->private` is, and the waiting task where the
//! wake function says whose entry it is. No pointer is kept: what is shown
//! was true under the lock, and nothing outlives it.
//!
//! Why following `->private` is safe, and only for which wake functions, is
//! in `rust/helpers/wait_view.c` and Documentation/kernel-crate-layer.rst
//! ("Reading a wait queue"). No C or upstream Rust counterpart: the kernel
//! has no such view (debuggers walk the list by hand).
//!
//! C header: [`include/linux/wait.h`](srctree/include/linux/wait.h)

use super::wait::WaitQueueHead;
use super::wait_entry::OwnWakeFn;
use crate::{alloc::flags::GFP_KERNEL, alloc::KVec, bindings, error::Result};
use core::fmt;

/// The most entries one [`WaitView`] holds.
pub const WAIT_VIEW_MAX: usize = 64;

/// How many entries a queue may be counted to have, at most
/// ([`WaitView::count_is_lower_bound`]).
pub const WAIT_VIEW_COUNT_MAX: u32 = bindings::RUST_WAIT_VIEW_COUNT_MAX;

/// A copy of up to `max` entries of a wait queue, made by
/// [`WaitQueueHead::view_into`]; reusable, so that viewing many queues
/// allocates once.
///
/// # Examples
///
/// A queue nobody waits on: the view is empty, and a wake-up is counted
/// but wakes nothing.
///
/// ```
/// use kernel::prelude::*;
/// use kernel::sync::{poll::PollMask, wait::new_wait_queue_head, wait_view::WaitView};
///
/// let wq = KBox::pin_init(new_wait_queue_head!("doctest"), GFP_KERNEL)?;
/// let mut view = WaitView::new(4)?;
/// wq.view_into(&mut view, &[]);
/// assert_eq!((view.count(), view.truncated(), view.entries().count()), (0, false, 0));
/// assert_eq!(wq.wake_up_interruptible_sync_poll(PollMask::IN), 0);
/// assert_eq!(wq.wake_up_all(), 0);
/// let c = wq.counters();
/// assert_eq!((c.wakeups, c.woken, c.spurious), (2, 0, 0));
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `entries.len()` is the capacity asked for (at most [`WAIT_VIEW_MAX`]);
/// the first `min(count, entries.len())` were filled by the C helper under
/// the queue's lock (the rest are zeroed).
pub struct WaitView {
    entries: KVec<bindings::rust_wait_view_entry>,
    count: u32,
}

impl WaitView {
    /// A view with room for `max` entries (at most [`WAIT_VIEW_MAX`]).
    /// Allocates (`GFP_KERNEL`): make it before taking any spinlock.
    pub fn new(max: usize) -> Result<Self> {
        let max = max.min(WAIT_VIEW_MAX);
        let mut entries = KVec::with_capacity(max, GFP_KERNEL)?;
        for _ in 0..max {
            // SAFETY: The record holds integers and byte arrays only, for
            // which all-zeroes is a valid value.
            let zero: bindings::rust_wait_view_entry = unsafe { core::mem::zeroed() };
            // Within the capacity just reserved: cannot fail.
            entries.push(zero, GFP_KERNEL)?;
        }
        Ok(Self { entries, count: 0 })
    }

    /// How many entries the queue had (at most [`WAIT_VIEW_COUNT_MAX`]).
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The queue had more entries than the view holds.
    pub fn truncated(&self) -> bool {
        self.count as usize > self.entries.len()
    }

    /// The count stopped at [`WAIT_VIEW_COUNT_MAX`]: there may be more.
    pub fn count_is_lower_bound(&self) -> bool {
        self.count >= WAIT_VIEW_COUNT_MAX
    }

    /// The entries copied, in queue order (the order a wake-up visits them).
    pub fn entries(&self) -> impl Iterator<Item = WaitEntryInfo<'_>> {
        let n = (self.count as usize).min(self.entries.len());
        self.entries[..n].iter().map(WaitEntryInfo)
    }
}

impl WaitQueueHead {
    /// Copies the queue's entries into `view` (as many as it holds; counts
    /// the rest). `own` lists the wake functions of this module's
    /// [`WaitEntry`](super::wait_entry::WaitEntry) types, whose waiting task
    /// can then be shown too. Any context: it takes the queue's lock with
    /// interrupts off, for a walk of at most [`WAIT_VIEW_COUNT_MAX`]
    /// entries.
    pub fn view_into(&self, view: &mut WaitView, own: &[OwnWakeFn]) {
        // SAFETY: `self.as_raw()` is an initialised queue head (type
        // invariant of `WaitQueueHead`). `view.entries` has `len()` valid
        // records, of which the helper writes at most that many. `own` is
        // `len()` `OwnWakeFn`s, each a `repr(transparent)` `usize`, i.e. an
        // `unsigned long` on the kernel's targets, read during the call only.
        // Each is the wake function of a `WaitEntry` type, whose entries keep
        // NULL or a referenced task in `->private` (`OwnWakeFn`'s
        // invariant), which is what the helper assumes of them.
        view.count = unsafe {
            bindings::wait_queue_view(
                self.as_raw(),
                view.entries.as_mut_ptr(),
                view.entries.len() as u32,
                own.as_ptr().cast(),
                own.len() as u32,
            )
        };
    }
}

/// What an entry's `->private` is, as its wake function says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitPrivate {
    /// NULL: the entry is found through `container_of` (`ep_poll_callback`,
    /// `aio_poll_wake`, a layer entry without a task).
    Null,
    /// The waiting task (`default_wake_function`,
    /// `autoremove_wake_function`, `woken_wake_function`, a layer entry
    /// made for a task).
    Task,
    /// `pollwake`'s `struct poll_wqueues`, whose `polling_task` waits.
    PollWqueues,
    /// `io_poll_wake`'s io_uring request (`struct io_kiocb`).
    IoKiocb,
    /// Set, but this wake function is not one the view knows.
    Unknown,
}

impl WaitPrivate {
    /// A short name: `-` for NULL, else the C type.
    pub fn name(self) -> &'static str {
        match self {
            Self::Null => "-",
            Self::Task => "task_struct",
            Self::PollWqueues => "poll_wqueues",
            Self::IoKiocb => "io_kiocb",
            Self::Unknown => "?",
        }
    }
}

/// One entry of a [`WaitView`].
pub struct WaitEntryInfo<'a>(&'a bindings::rust_wait_view_entry);

impl<'a> WaitEntryInfo<'a> {
    /// The wake function's symbol, as `%ps` prints it, without the module.
    pub fn func(&self) -> Text<'a> {
        Text::of(&self.0.func)
    }

    /// The module the wake function is in, `None` if it is built in.
    pub fn module(&self) -> Option<Text<'a>> {
        let m = Text::of(&self.0.module);
        (!m.0.is_empty()).then_some(m)
    }

    /// `WQ_FLAG_*`.
    pub fn flags(&self) -> u32 {
        self.0.flags
    }

    /// The flags by name (`excl`, `woken`, ...).
    pub fn flags_text(&self) -> FlagsText {
        FlagsText(self.0.flags)
    }

    /// `WQ_FLAG_EXCLUSIVE`: a wake-up stops after waking this one.
    pub fn exclusive(&self) -> bool {
        self.0.flags & bindings::WQ_FLAG_EXCLUSIVE != 0
    }

    /// What `->private` is.
    pub fn private(&self) -> WaitPrivate {
        match self.0.private_kind {
            bindings::RUST_WAIT_VIEW_PRIVATE_NULL => WaitPrivate::Null,
            bindings::RUST_WAIT_VIEW_PRIVATE_TASK => WaitPrivate::Task,
            bindings::RUST_WAIT_VIEW_PRIVATE_POLL_WQUEUES => WaitPrivate::PollWqueues,
            bindings::RUST_WAIT_VIEW_PRIVATE_IO_KIOCB => WaitPrivate::IoKiocb,
            _ => WaitPrivate::Unknown,
        }
    }

    /// The task the entry belongs to, if its wake function tells.
    pub fn task(&self) -> Option<WaitingTask<'a>> {
        (self.0.has_task != 0).then(|| WaitingTask {
            pid: self.0.pid,
            tgid: self.0.tgid,
            comm: Text::of(&self.0.comm),
        })
    }
}

/// The task an entry belongs to, as it was under the queue's lock.
#[derive(Clone, Copy)]
pub struct WaitingTask<'a> {
    /// The thread's id (`task->pid`, what `gettid()` returns).
    pub pid: i32,
    /// Its process's id (`task->tgid`, what `getpid()` returns).
    pub tgid: i32,
    /// `task->comm`.
    pub comm: Text<'a>,
}

/// Bytes of a NUL-terminated C array, shown as text: printable ASCII as it
/// is, anything else as `\xNN`.
#[derive(Clone, Copy)]
pub struct Text<'a>(&'a [u8]);

impl<'a> Text<'a> {
    fn of(raw: &'a [crate::ffi::c_char]) -> Self {
        // SAFETY: `c_char` and `u8` have the same size and alignment, and
        // every bit pattern is valid for both.
        let bytes: &'a [u8] = unsafe { core::slice::from_raw_parts(raw.as_ptr().cast(), raw.len()) };
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Self(&bytes[..end])
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            if (0x20..0x7f).contains(&b) && b != b'\\' {
                fmt::Write::write_char(f, b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// The `WQ_FLAG_*` names of an entry's flags, comma-separated (`excl`,
/// `woken`, `custom`, `done`, `prio`, and any other bit in hex), or `-`.
///
/// ```
/// use kernel::{fmt, prelude::*, str::CString, sync::wait_view::FlagsText};
///
/// let text = |f| CString::try_from_fmt(fmt!("{}", FlagsText(f)));
/// assert_eq!(text(0)?.to_str()?, "-");
/// assert_eq!(text(0x1)?.to_str()?, "excl");
/// assert_eq!(text(0x3)?.to_str()?, "excl,woken");
/// assert_eq!(text(0x101)?.to_str()?, "excl,0x100");
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct FlagsText(pub u32);

impl fmt::Display for FlagsText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(u32, &str); 5] = [
            (bindings::WQ_FLAG_EXCLUSIVE, "excl"),
            (bindings::WQ_FLAG_WOKEN, "woken"),
            (bindings::WQ_FLAG_CUSTOM, "custom"),
            (bindings::WQ_FLAG_DONE, "done"),
            (bindings::WQ_FLAG_PRIORITY, "prio"),
        ];
        let mut rest = self.0;
        let mut first = true;
        let mut out = |f: &mut fmt::Formatter<'_>, args: fmt::Arguments<'_>| {
            let sep = if first { "" } else { "," };
            first = false;
            write!(f, "{sep}{args}")
        };
        for (bit, name) in NAMES {
            if rest & bit != 0 {
                rest &= !bit;
                out(f, format_args!("{name}"))?;
            }
        }
        if rest != 0 {
            out(f, format_args!("{rest:#x}"))?;
        }
        if self.0 == 0 {
            f.write_str("-")?;
        }
        Ok(())
    }
}
