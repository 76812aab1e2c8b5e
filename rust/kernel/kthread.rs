// SPDX-License-Identifier: GPL-2.0

//! Kernel threads: `kthread_create()`, `kthread_should_stop()`,
//! `kthread_stop()` (`include/linux/kthread.h`).
//!
//! A [`KThread`] runs a Rust closure on a new kernel thread and owns it: its
//! drop asks the thread to stop and waits until the closure has returned, so
//! nothing the closure captured can outlive the handle, nor the thread the
//! module's code. Upstream Rust-for-Linux has no kthread abstraction.
//!
//! `kthread_should_stop()` is only valid on a kernel thread created by
//! `kthread_create()`: anywhere else (a user task's syscall, an interrupt
//! that came in over the idle task) it reads a NULL `struct kthread` and
//! oopses. So it is not a free function here but a method of the
//! [`KThreadContext`] the thread's closure receives, which no other code
//! can get hold of.
//!
//! C header: [`include/linux/kthread.h`](srctree/include/linux/kthread.h)

use crate::{
    alloc::{flags::GFP_KERNEL, KBox},
    bindings,
    error::{from_err_ptr, Result},
    str::CStr,
};
use core::{
    cell::UnsafeCell,
    mem::ManuallyDrop,
    sync::atomic::{AtomicBool, Ordering},
};

/// The closure, shared by the handle and the thread; whoever flips `taken`
/// first owns it (the thread runs it; if it never started, the handle drops
/// it).
struct Slot<F> {
    taken: AtomicBool,
    f: UnsafeCell<ManuallyDrop<F>>,
}

/// A running kernel thread.
///
/// The closure should return soon after [`KThreadContext::should_stop`]
/// becomes true, and must not return before unless it is fine for the thread
/// to end early.
///
/// # Examples
///
/// ```
/// use kernel::{c_str, kthread::KThread, prelude::*, sync::Arc};
/// use core::sync::atomic::{AtomicBool, Ordering};
///
/// let started = Arc::new(AtomicBool::new(false), GFP_KERNEL)?;
/// let finished = Arc::new(AtomicBool::new(false), GFP_KERNEL)?;
/// let (s, f) = (started.clone(), finished.clone());
/// let t = KThread::run(c_str!("doctest"), move |ctx| {
///     s.store(true, Ordering::Release);
///     while !ctx.should_stop() {
///         ctx.cond_resched();
///     }
///     f.store(true, Ordering::Release);
/// })?;
/// // kthread_stop(): if the closure started, this waits for it to return;
/// // a thread stopped before it first ran never runs it (and the closure
/// // is dropped unrun).
/// drop(t);
/// assert_eq!(started.load(Ordering::Acquire), finished.load(Ordering::Acquire));
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `task` is a thread created by `kthread_create_on_node` running
/// `Self::shim::<F>` on `slot`, on which we hold a task reference; `slot` is
/// valid until the thread has been stopped.
pub struct KThread {
    task: *mut bindings::task_struct,
    slot: *mut u8,
    drop_slot: unsafe fn(*mut u8),
}

// SAFETY: Stopping a kthread may be done from any thread.
unsafe impl Send for KThread {}
// SAFETY: No `&self` method exists that mutates.
unsafe impl Sync for KThread {}

/// What a [`KThread`]'s closure may ask about its own thread.
///
/// Only the closure gets one, by reference, on the thread [`KThread::run`]
/// created: it is neither `Send` nor `Clone`, so no other task can use it.
///
/// # Invariants
///
/// The current task is a kernel thread created by `kthread_create_on_node`
/// (it has a `struct kthread`) for as long as a reference to this exists.
pub struct KThreadContext {
    _not_send: core::marker::PhantomData<*mut ()>,
}

impl KThreadContext {
    /// `kthread_should_stop()`: whether the handle was dropped
    /// (`kthread_stop()`): the closure should return soon.
    pub fn should_stop(&self) -> bool {
        // SAFETY: The current task is a kthread made by `kthread_create`
        // (type invariant), so its `struct kthread` exists.
        unsafe { bindings::kthread_should_stop() }
    }

    /// `cond_resched()`: lets other tasks run if this one has used its share.
    /// A kernel thread that can stay busy for long (on a kernel without
    /// preemption it would otherwise never yield) calls it in its loop.
    pub fn cond_resched(&self) {
        // SAFETY: A kernel thread's own loop is process context, where
        // rescheduling is allowed.
        unsafe { bindings::cond_resched() };
    }
}

impl KThread {
    /// Starts `f` on a new kernel thread called `name`.
    pub fn run<F: FnOnce(&KThreadContext) + Send + 'static>(name: &CStr, f: F) -> Result<Self> {
        let slot = KBox::new(
            Slot { taken: AtomicBool::new(false), f: UnsafeCell::new(ManuallyDrop::new(f)) },
            GFP_KERNEL,
        )?;
        let raw = KBox::into_raw(slot);
        // SAFETY: `shim::<F>` expects a `Slot<F>`, which `raw` is; the format
        // is "%s" with `name`, a valid C string.
        let task = unsafe {
            bindings::kthread_create_on_node(
                Some(Self::shim::<F>),
                raw.cast(),
                bindings::NUMA_NO_NODE,
                c"%s".as_ptr().cast(),
                name.as_char_ptr(),
            )
        };
        let task = match from_err_ptr(task) {
            Ok(t) => t,
            Err(e) => {
                // SAFETY: The thread was not created; `raw` is still ours.
                unsafe { Self::free_slot::<F>(raw.cast()) };
                return Err(e);
            }
        };
        // SAFETY: `task` is a new kthread; the reference we take keeps the
        // task_struct alive until `kthread_stop_put` in `drop`.
        unsafe {
            bindings::get_task_struct(task);
            bindings::wake_up_process(task);
        }
        // INVARIANT: Created above with `shim::<F>` on `raw`.
        Ok(Self { task, slot: raw.cast(), drop_slot: Self::free_slot::<F> })
    }

    /// Frees a slot, dropping the closure if the thread never took it.
    ///
    /// # Safety
    ///
    /// `p` is a `Slot<F>` from `KBox::into_raw`, and the thread is not running
    /// the closure (stopped, or never created).
    unsafe fn free_slot<F>(p: *mut u8) {
        // SAFETY: As the caller guarantees.
        let slot = unsafe { KBox::from_raw(p.cast::<Slot<F>>()) };
        if !slot.taken.swap(true, Ordering::AcqRel) {
            // SAFETY: Nobody took the closure, so it is still there.
            unsafe { ManuallyDrop::drop(&mut *slot.f.get()) };
        }
    }

    /// # Safety
    ///
    /// Thread function: `data` is the `Slot<F>` of `run`, alive until the
    /// handle's drop, which first waits for this function to return.
    unsafe extern "C" fn shim<F: FnOnce(&KThreadContext) + Send + 'static>(data: *mut crate::ffi::c_void) -> i32 {
        // SAFETY: See above.
        let slot = unsafe { &*data.cast::<Slot<F>>() };
        if !slot.taken.swap(true, Ordering::AcqRel) {
            // SAFETY: We won the flag, so we own the closure and take it once.
            let f = unsafe { ManuallyDrop::take(&mut *slot.f.get()) };
            // INVARIANT: This is the thread `kthread_create_on_node` made,
            // and the reference does not outlive this call.
            f(&KThreadContext { _not_send: core::marker::PhantomData });
        }
        0
    }
}

impl Drop for KThread {
    fn drop(&mut self) {
        // SAFETY: We hold a task reference (type invariant). `kthread_stop`
        // wakes the thread, waits for its function to return (or for it never
        // to start), and `_put` drops our reference.
        unsafe { bindings::kthread_stop_put(self.task) };
        // SAFETY: The thread is done with the slot now.
        unsafe { (self.drop_slot)(self.slot) };
    }
}
