// SPDX-License-Identifier: GPL-2.0

//! Asynchronous completion of Linux AIO reads (`fs/aio.c`): a `read_iter`
//! that finds nothing to read keeps the request, returns `-EIOCBQUEUED`, and
//! completes it later with `ki_complete` (from the driver's receive path,
//! in any context); `io_cancel()`, `io_destroy()` and process exit cancel it
//! through the function `kiocb_set_cancel_fn()` registered.
//!
//! The pieces, and what each guarantees to safe code:
//!
//! - [`Kiocb::queue`] turns the `read_iter` call's [`Kiocb`] (consumed) into
//!   an [`AsyncKiocb`], a handle the driver keeps, and a [`Queued`] token,
//!   the only way to say [`Submitted::Queued`]. It pins the destination
//!   pages long-term (`FOLL_LONGTERM`, see `iov/extract.rs`), since the
//!   iovec array and the iterator are gone when `io_submit()` returns;
//!   charges them to the submitting user's `RLIMIT_MEMLOCK`
//!   ([`LockedVmCharge`], as io_uring charges registered buffers and AF_XDP
//!   a umem: the pins are the user's memory, held for as long as the user
//!   likes); and registers the cancel function before the handle exists,
//!   so nothing can complete the request before `fs/aio.c` knows it is
//!   cancellable.
//! - One atomic state per request decides, once, who finishes it: the driver
//!   ([`AsyncKiocb::try_claim`], or dropping the handle) or the cancel
//!   function. Whoever wins queues the request's work item, which gives the
//!   pins back (`unpin_user_pages_dirty_lock()` sleeps: process context),
//!   then their `RLIMIT_MEMLOCK` charge, then calls `ki_complete` exactly
//!   once. So the charge lasts exactly as long as the pins, whichever way
//!   the request ends (completion, `io_cancel()`, `io_destroy()`, exit,
//!   the driver dropping it), whatever the driver still holds. The cancel
//!   function cannot complete the request itself: `fs/aio.c` calls it
//!   under `ctx->ctx_lock` with interrupts off, and `aio_complete_rw()`
//!   takes that lock.
//! - A handle or a claimed request dropped without completing completes
//!   with `-ECANCELED`: a request handed over is always completed, whatever
//!   the driver does. Short of `mem::forget`: a leaked [`AsyncKiocb`] costs
//!   only its allocation (about 150 bytes), since the cancel function does
//!   not need the handle: `io_cancel()`, `io_destroy()` and exit still
//!   cancel the request, unpin and complete it. A leaked [`ClaimedKiocb`]
//!   is worse: nothing can complete that request any more, so its pins and
//!   charge leak for good and the process's exit (`exit_aio`) waits for it
//!   forever, in an unkillable D state, as with a C driver that forgot a
//!   request.
//! - The completion cannot report more than was written: `Ok(n)` above
//!   the bytes [`ClaimedKiocb::copy_from_slice`] wrote becomes `-EIO`.
//!
//! Only kiocbs of `fs/aio.c` (`IOCB_AIO_RW`) are queued: they are the ones
//! that can be cancelled. io_uring's kiocbs cannot (`kiocb_set_cancel_fn`
//! ignores them, and io_uring would wait for the completion at exit), so
//! [`Kiocb::can_queue`] refuses them; io_uring waits for data through
//! `->poll` instead (`FMODE_NOWAIT`, `IOCB_NOWAIT`, then poll arming).
//! `RWF_NOWAIT` reads (`IOCB_NOWAIT`) are refused too: queueing allocates
//! and may fault pages in, which such a read must not wait for.
//!
//! Completions are queued to `system_wq` on the completing CPU, so the
//! events of two requests completed one after the other may reach the AIO
//! ring in either order: user space matches them by `aio_data`.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/aio.h`](srctree/include/linux/aio.h)

use crate::{
    bindings,
    error::{code_ext::ECANCELED, Result},
    ffi::{c_int, c_long, c_void},
    fs::Kiocb,
    iov::{ExtractedPages, IovIterDest},
    mm::locked_vm::LockedVmCharge,
    page::PAGE_SIZE,
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::ForeignOwnable,
    workqueue::{self, impl_has_work, new_work, Work, WorkItem},
};
use core::{
    cell::UnsafeCell,
    marker::PhantomData,
    sync::atomic::{AtomicIsize, AtomicU32, Ordering},
};

/// Not finished: the driver may complete it, `fs/aio.c` may cancel it.
const PENDING: u32 = 0;
/// The driver won: it fills the pages and completes.
const CLAIMED: u32 = 1;
/// The cancel function won: the request completes with `-ECANCELED`.
const CANCELLED: u32 = 2;

/// Proof that a `read_iter` handed its kiocb to an [`AsyncKiocb`]: only
/// [`Kiocb::queue`] makes one, and the lifetime ties it to that call (it
/// cannot be kept for another).
pub struct Queued<'a>(PhantomData<fn(&'a ()) -> &'a ()>);

/// What a `read_iter` that may complete later returns: the bytes it read
/// now, or that the request was queued (`-EIOCBQUEUED` in C, which safe
/// code cannot return otherwise: the file operation shims turn that errno
/// into `-EIO`).
pub enum Submitted<'a> {
    /// Completed in the call, with this many bytes.
    Done(usize),
    /// Handed to an [`AsyncKiocb`], which completes it.
    Queued(Queued<'a>),
}

/// One queued request, shared by the driver's handle, the cancel function
/// and the work item that completes it.
///
/// # Invariants
///
/// - `kiocb` is the `kiocb` of an `aio_kiocb` whose completion reference
///   (`ki_refcnt`'s second count) is ours: it stays valid, with its file
///   reference, until `ki_complete` is called, which only `run` does, once
///   (it runs once: only the one transition out of `PENDING` queues it).
///   Its `private` points to this request and its cancel function is
///   [`cancel`] from before any handle exists.
/// - `state` leaves `PENDING` once, to `CLAIMED` or `CANCELLED`.
/// - `pinned` is touched only by the owner of the state: nobody while
///   `PENDING`; the [`ClaimedKiocb`] while `CLAIMED` until it queues the work;
///   the work item after it was queued. Its charge covers its pages.
/// - The request is alive until `ki_complete` returned: before the state
///   leaves `PENDING`, the [`AsyncKiocb`] holds an `Arc`; the claimer holds
///   one and queues the work with one; the work holds its own until after
///   `ki_complete`. The cancel function takes its own `Arc` before its
///   transition (see [`cancel`]).
#[pin_data]
struct AioRequest {
    #[pin]
    work: Work<AioRequest>,
    kiocb: *mut bindings::kiocb,
    complete: unsafe extern "C" fn(*mut bindings::kiocb, c_long),
    /// Bytes the reader asked for (`iov_iter_count` at submission): a larger
    /// result is a lie (`-EIO`), as in [`rw_return`](crate::miscdevice::rw_return).
    count: usize,
    /// Bytes and pages pinned, fixed at submission (readable by the
    /// handle while the work item empties `pages`).
    len: usize,
    page_count: usize,
    state: AtomicU32,
    /// The result `run` passes to `ki_complete` for a claimed request.
    result: AtomicIsize,
    pinned: UnsafeCell<Option<Pinned>>,
}

/// The destination pages and their `RLIMIT_MEMLOCK` charge, given back
/// together (the pins first).
struct Pinned {
    pages: ExtractedPages,
    _charge: LockedVmCharge,
}

// SAFETY: The kiocb may be completed from any thread (`ki_complete` is
// called from interrupt handlers in C); `pinned` is accessed by one owner at
// a time, handed over through the atomic state and the work queue, which
// orders the accesses.
unsafe impl Send for AioRequest {}
// SAFETY: As above: shared access is to atomics; `pinned` has one owner at a
// time (type invariant).
unsafe impl Sync for AioRequest {}

impl_has_work! {
    impl HasWork<Self> for AioRequest { self.work }
}

impl WorkItem for AioRequest {
    type Pointer = Arc<AioRequest>;

    /// Finishes the request in process context: the pins go back (dirty if
    /// data was written), then their charge, then `ki_complete`, once.
    fn run(this: Arc<AioRequest>) {
        // SAFETY: The work was queued by the owner of the state, which no
        // longer touches `pinned` (type invariant); queueing orders its
        // writes before this.
        let pinned = unsafe { (*this.pinned.get()).take() };
        if let Some(Pinned { pages, _charge }) = pinned {
            pages.unpin_dirty();
            drop(_charge);
        }
        let res = if this.state.load(Ordering::Acquire) == CANCELLED {
            ECANCELED.to_errno() as isize
        } else {
            this.result.load(Ordering::Acquire)
        };
        // SAFETY: The kiocb is valid until `ki_complete`, which is called
        // here, once (type invariant); after this call neither it nor its
        // file is used again. `this` keeps the request (which the cancel
        // function may be looking at, under `ctx_lock`, which
        // `aio_complete_rw` takes) alive until it returns.
        unsafe { (this.complete)(this.kiocb, res as c_long) };
    }
}

impl AioRequest {
    /// The one transition out of `PENDING`.
    fn transition(&self, to: u32) -> bool {
        self.state.compare_exchange(PENDING, to, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Queues the completion; called once, by the winner of the transition.
    fn finish(this: Arc<Self>) {
        // Cannot fail: only the one winner of the transition queues it.
        let _ = workqueue::system().enqueue(this);
    }

    /// What the driver's result becomes: as `rw_return` for a `read_iter`,
    /// with the restart codes turned into `-EINTR` (`aio_rw_done` does the
    /// same): an asynchronous completion cannot restart anything.
    fn result_of(&self, r: Result<usize>) -> isize {
        let n = crate::miscdevice::rw_return(r, self.count);
        match -n as u32 {
            bindings::ERESTARTSYS | bindings::ERESTARTNOINTR | bindings::ERESTARTNOHAND => {
                EINTR.to_errno() as isize
            }
            _ => n,
        }
    }
}

/// `kiocb_cancel_fn`: `io_cancel()`, `io_destroy()` and the exit of the
/// process (`free_ioctx_users`) call it, once, while the request is on the
/// context's `active_reqs`, under `ctx->ctx_lock` with interrupts off: it
/// must not complete the request (which takes that lock). It wins the state
/// or not; if it wins, the work item completes with `-ECANCELED`.
/// `0` tells `io_cancel()` that the cancellation is under way (the caller
/// sees `EINPROGRESS` and the completion in the ring), `-EAGAIN` that the
/// request is completing anyway.
///
/// # Safety
///
/// Called by `fs/aio.c` on a kiocb [`Kiocb::queue`] registered it for.
unsafe extern "C" fn cancel(kiocb: *mut bindings::kiocb) -> c_int {
    // SAFETY: `private` was set to the request (a pointer `Arc::into_raw`
    // returned) before the cancel function was registered. The request is
    // alive: the kiocb is still on
    // `active_reqs` (which is why we are called) and `ctx_lock` is held, so
    // no `ki_complete` has got past its `aio_remove_iocb`; until then
    // somebody holds an `Arc` (type invariant of `AioRequest`). We take our
    // own before the transition: after it, a handle that lost may drop
    // what was the last other one.
    let req: Arc<AioRequest> = unsafe { ArcBorrow::from_raw((*kiocb).private.cast::<AioRequest>()) }.into();
    if req.transition(CANCELLED) {
        AioRequest::finish(req);
        0
    } else {
        EAGAIN.to_errno()
    }
}

impl<'a, T: ForeignOwnable> Kiocb<'a, T> {
    /// Whether [`Self::queue`] can take this kiocb: a read of `fs/aio.c`
    /// (`IOCB_AIO_RW`, the only kiocbs that can be cancelled), in a
    /// `read_iter` that may queue (`MiscDevice::read_iter_async`).
    pub fn can_queue(&self) -> bool {
        let f = self.flags();
        self.queued.is_some()
            && !self.is_sync()
            && f & bindings::IOCB_AIO_RW != 0
            && f & bindings::IOCB_WRITE == 0
            && f & bindings::IOCB_NOWAIT as u32 == 0
    }

    /// Keeps the request to complete it later: pins the user pages behind
    /// the first `max_bytes` bytes of `iov` long-term (at most `max_pages`
    /// pages, and never more than those bytes can span; see
    /// `iov/extract.rs`), charges them to the current user's
    /// `RLIMIT_MEMLOCK` until they are unpinned (a task with `CAP_IPC_LOCK`
    /// is not charged), registers the cancel function, and returns the
    /// handle the driver completes it through and the token its
    /// `read_iter` returns.
    ///
    /// Fails, consuming the kiocb (the driver returns the error, which
    /// completes the request), with `EOPNOTSUPP` if [`Self::can_queue`] is
    /// false or the iterator is not user memory, `EFAULT` if a page cannot
    /// be pinned for writing long-term (unmapped, read-only, or a shared
    /// mapping of a file on a filesystem that tracks dirty pages),
    /// `ENOBUFS` if the pages would take the user's pinned memory over
    /// `RLIMIT_MEMLOCK` (as AF_XDP refuses a umem), `ENOMEM`, or another
    /// error of gup's (`EOVERFLOW`, `EINTR`, `EBUSY`; all user errnos).
    /// Nothing stays pinned or charged then; `iov` may have advanced, and
    /// is not to be copied through (the driver returns the error). The
    /// pages are pinned before the charge is checked, as io_uring's
    /// registered buffers are: a user at the limit still makes up to
    /// `max_pages` pins (and, `FOLL_LONGTERM`, migrations) per call.
    #[track_caller] // so that `might_sleep()` names the driver's line
    pub fn queue(
        self,
        iov: &mut IovIterDest<'_>,
        max_bytes: usize,
        max_pages: usize,
    ) -> Result<(AsyncKiocb, Queued<'a>)> {
        let flag = match self.queued {
            Some(flag) if self.can_queue() => flag,
            _ => return Err(crate::error::code_ext::EOPNOTSUPP),
        };
        let raw = self.inner.as_ptr();
        // SAFETY: Valid for `'a` (type invariant).
        let Some(complete) = (unsafe { (*raw).ki_complete }) else {
            return Err(crate::error::code_ext::EOPNOTSUPP);
        };
        let count = iov.len();
        let pages = iov.extract_pages(max_bytes, max_pages)?;
        let (len, page_count) = (pages.len(), pages.page_count());
        // On failure `pages` drops, unpinned (nothing was written).
        let charge = LockedVmCharge::charge_current(page_count * PAGE_SIZE)?;
        let req = Arc::pin_init(
            pin_init!(AioRequest {
                work <- new_work!("AioRequest::work"),
                kiocb: raw,
                complete,
                count,
                len,
                page_count,
                state: AtomicU32::new(PENDING),
                result: AtomicIsize::new(0),
                pinned: UnsafeCell::new(Some(Pinned { pages, _charge: charge })),
            }),
            GFP_KERNEL_ACCOUNT,
        )?;
        // The pointer `ArcBorrow::from_raw` in `cancel` wants: one from
        // `Arc::into_raw`, whose count is given straight back.
        let ptr = Arc::into_raw(req);
        // SAFETY: From `into_raw` just above, converted back once.
        let req = unsafe { Arc::from_raw(ptr) };
        // SAFETY: The kiocb is valid and ours for the call; `private` is the
        // file's to use (`aio_prep_rw` cleared it). Set before the cancel
        // function, which reads it, is registered.
        unsafe { (*raw).private = ptr.cast_mut().cast::<c_void>() };
        // SAFETY: An `fs/aio.c` kiocb (`IOCB_AIO_RW`), whose cancel function
        // is registered once, here (the `Kiocb` is consumed). From now on
        // `io_cancel()` may call `cancel`, which finds a complete request.
        // Registered before the handle exists: completing a kiocb that is
        // not on `active_reqs` yet and adding it afterwards would leave a
        // freed request on the list.
        unsafe { bindings::kiocb_set_cancel_fn(raw, Some(cancel)) };
        // INVARIANT: The shim returns `-EIOCBQUEUED` and does not touch the
        // kiocb again.
        flag.set(true);
        Ok((AsyncKiocb { req: Some(req) }, Queued(PhantomData)))
    }
}

/// A queued read the driver owes a completion: kept in the driver's queue
/// until data comes. [`Self::try_claim`] takes it for completion unless it
/// was cancelled meanwhile; dropping it unclaimed completes the request
/// with `-ECANCELED`. It holds no reference to the file or its private
/// data (the kiocb does, until it completes), so it may outlive both: a
/// cancelled handle still in the driver's queue is inert.
pub struct AsyncKiocb {
    req: Option<Arc<AioRequest>>,
}

impl AsyncKiocb {
    fn req(&self) -> &AioRequest {
        // Only `None` while being consumed.
        self.req.as_deref().unwrap_or_else(|| unreachable!())
    }

    /// Bytes of destination memory pinned: the most a completion can write.
    pub fn len(&self) -> usize {
        self.req().len
    }

    /// Whether no destination memory is pinned (a zero-length read).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pages pinned for this request (charged to the submitter's
    /// `RLIMIT_MEMLOCK`: `* PAGE_SIZE` bytes).
    pub fn page_count(&self) -> usize {
        self.req().page_count
    }

    /// Whether the request was cancelled: the handle is inert, to be dropped.
    pub fn is_cancelled(&self) -> bool {
        self.req().state.load(Ordering::Acquire) == CANCELLED
    }

    /// Takes the request for completion: `None` if it was cancelled (the
    /// handle is consumed either way). Cheap and atomic, so a driver can
    /// decide under its own lock who gets a datagram.
    pub fn try_claim(mut self) -> Option<ClaimedKiocb> {
        let req = self.req.take()?;
        if req.transition(CLAIMED) {
            Some(ClaimedKiocb { req: Some(req) })
        } else {
            None
        }
    }
}

impl Drop for AsyncKiocb {
    /// Unclaimed: the request completes with `-ECANCELED` (if the cancel
    /// function has not taken it already).
    fn drop(&mut self) {
        if let Some(req) = self.req.take() {
            if req.transition(CLAIMED) {
                req.result.store(ECANCELED.to_errno() as isize, Ordering::Release);
                AioRequest::finish(req);
            }
        }
    }
}

/// A request the driver won: it writes the data ([`Self::copy_from_slice`])
/// and completes ([`Self::ki_complete`]); dropped uncompleted, it completes
/// with `-ECANCELED`. Completion is queued to a work item (process context)
/// that unpins the pages and calls `ki_complete`, so any context may
/// complete.
pub struct ClaimedKiocb {
    req: Option<Arc<AioRequest>>,
}

impl ClaimedKiocb {
    /// The pinned pages, while this handle owns them.
    fn pages(&mut self) -> Option<&mut ExtractedPages> {
        let req = self.req.as_deref()?;
        // SAFETY: The state is `CLAIMED` and this is its one owner, which
        // has not queued the work yet: nobody else touches `pinned`
        // (type invariant of `AioRequest`); `&mut self` excludes a second
        // access through this handle.
        unsafe { (*req.pinned.get()).as_mut() }.map(|p| &mut p.pages)
    }

    /// Writes `data` at the start of the pinned memory, as much as fits
    /// (the rest is cut off, like a datagram read into a short buffer);
    /// returns the bytes written. Any context; one write per request (a
    /// second returns 0 and writes nothing).
    pub fn copy_from_slice(&mut self, data: &[u8]) -> usize {
        self.pages().map_or(0, |p| p.copy_from_slice(data))
    }

    /// `ki_complete`: the request completes with `res` (bytes, or an
    /// error). A count above the bytes [`Self::copy_from_slice`] wrote, or
    /// an internal errno, becomes `-EIO`; a restart code `-EINTR`. The
    /// completion event reaches the AIO ring from a work item, after the
    /// pins and their charge are given back.
    pub fn ki_complete(mut self, res: Result<usize>) {
        let written = self.pages().map_or(0, |p| p.written());
        let res = match res {
            Ok(n) if n > written => Err(EIO),
            r => r,
        };
        if let Some(req) = self.req.take() {
            req.result.store(req.result_of(res), Ordering::Release);
            AioRequest::finish(req);
        }
    }
}

impl Drop for ClaimedKiocb {
    fn drop(&mut self) {
        if let Some(req) = self.req.take() {
            req.result.store(ECANCELED.to_errno() as isize, Ordering::Release);
            AioRequest::finish(req);
        }
    }
}
