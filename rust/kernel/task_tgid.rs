// SPDX-License-Identifier: GPL-2.0

//! A task's thread-group id, read from any referenced task.
//!
//! 6.12's `Task::group_leader()` returns `&Task` for the leader of any
//! task, on the claim that a task holds a reference to its group leader.
//! It does not: when a thread other than the leader calls `execve`,
//! `de_thread()` makes it the leader and releases the old one without
//! updating the `->group_leader` of threads that are exiting, so following
//! that pointer from a task that is not `current` can reach a freed task
//! (later upstream offers `group_leader()` on the current task only). What
//! callers usually want from it, the process id, is a plain field of the
//! task itself: `task->tgid`, which `task_tgid_nr()` returns and which
//! stays valid while the task is referenced.
//!
//! C header: [`include/linux/pid.h`](srctree/include/linux/pid.h)

use crate::{bindings, task::Task};

impl Task {
    /// The task's thread-group id (`task_tgid_nr()`): its process's id as
    /// the initial pid namespace numbers it, what `getpid()` returns there.
    /// Later upstream spells this `tgid_nr_ns(None)`, which numbers it in
    /// the caller's namespace instead.
    ///
    /// Unlike `group_leader()`, sound on any task the caller holds a
    /// reference to (or borrows): it reads the task's own field.
    #[doc(alias = "task_tgid_nr")]
    pub fn tgid(&self) -> bindings::pid_t {
        let t: *mut bindings::task_struct = self.0.get();
        // SAFETY: By `Task`'s invariant `t` is a valid task for the
        // lifetime of `&self`; `tgid` is set at fork and never changed
        // afterwards (exec by a non-leader changes `pid`, not `tgid`), so
        // a plain read does not race with a write.
        unsafe { *core::ptr::addr_of!((*t).tgid) }
    }
}
