// SPDX-License-Identifier: GPL-2.0

//! mini-epoll: an epoll instance done again, the way `fs/eventpoll.c` does
//! it, with each step visible (`SIMNIC_MUX_IOC_INFO`).
//!
//! - **Interest set** (`ep->rbr`): items keyed by (file, descriptor) in a
//!   red-black tree, under the instance's mutex (`ep->mtx`).
//! - **Registration** (`ep_insert` → `ep_item_poll` →
//!   `ep_ptable_queue_proc`): adding a descriptor calls its file's `->poll`
//!   with our queue procedure, which hooks one wait-queue entry per queue
//!   the file registers, with a wake function in `ep_poll_callback`'s role.
//! - **The wake function** ([`ItemWake::wake`]): runs in the waker's
//!   context (softirq for an endpoint's datagram, hard irq for some files),
//!   under the target queue's lock. It drops wake-ups for events the item
//!   did not ask for, puts the item on the ready list (`ep->rdllist`, under
//!   an irq-safe lock), wakes a waiter of the instance and, for nesting, the
//!   pollers of the instance itself (`ep_poll_safewake`).
//! - **Waiting** (`ep_poll` → `ep_send_events`): take the ready list, poll
//!   each item again for its current events (so what is reported is true
//!   now), report it; a level-triggered item goes back on the list, an
//!   edge-triggered one does not, a one-shot one is disarmed until
//!   `MINI_EPOLL_CTL_MOD`.
//!
//! Where it differs from epoll, and why:
//! - An item holds a reference to its file until it is deleted or the
//!   instance is closed (select and poll do the same for the duration of a
//!   call). epoll holds none and is told by `eventpoll_release()` when a
//!   file is finally closed; a module cannot hook that. So closing a
//!   descriptor does not remove it from a mini-epoll set (and keeps the file
//!   open: an endpoint keeps its port) until `MINI_EPOLL_CTL_DEL`.
//! - Events arriving while a wait processes the ready list are not parked
//!   on an overflow list (`ep->ovflist`): the wake function marks the item
//!   (`missed`), and the wait puts it back when it is done.
//! - Polling an instance (`->poll`, for nesting) re-polls the items on its
//!   ready list without the instance's mutex, which epoll takes with a
//!   lockdep nesting level (`mutex_lock_nested`).

use crate::driver::stats::{add, inc};
use crate::uapi::*;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::{
    alloc::{KBox, KVVec},
    error::code::{EBADF, EEXIST, EINTR, ENOENT, EPERM},
    error::code_ext::ELOOP,
    fs::{File, FileRef},
    impl_has_list_links, impl_list_arc_safe, impl_list_item,
    // `TryNewListArc`: 6.12's `impl_list_arc_safe!` names it unqualified.
    list::{AtomicTracker, List, ListArc, ListLinks, TryNewListArc},
    miscdevice::MiscFileOps,
    new_mutex, new_spinlock_irq,
    prelude::*,
    rbtree::RBTree,
    sync::{
        poll::{PollMask, PollTable},
        queue_proc::{QueueProc, QueueRequest},
        wait::{new_wait_queue_head, WaitQueueHead},
        wait_entry::{OwnWakeFn, WaitEntry, WakeCallback},
        wake_chain::WakeChain,
        Arc, ArcBorrow, Mutex, SpinLockIrq,
    },
    time::Ktime,
};

/// `EPOLLEXCLUSIVE`, `EPOLLWAKEUP`, `EPOLLONESHOT`, `EPOLLET`: flags, not
/// events (`EP_PRIVATE_BITS`).
const EPOLLEXCLUSIVE: u32 = 1 << 28;
const EPOLLWAKEUP: u32 = 1 << 29;
const EPOLLONESHOT: u32 = 1 << 30;
const EPOLLET: u32 = 1 << 31;
const PRIVATE_BITS: u32 = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;
/// What `EPOLLEXCLUSIVE` may be combined with (`EPOLLEXCLUSIVE_OK_BITS`).
const EXCLUSIVE_OK_BITS: u32 = 0x1 | 0x4 | 0x8 | 0x10 | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

/// What every instance shares: the loop check's lock (`epnested_mutex`).
#[pin_data]
pub(crate) struct MuxShared {
    #[pin]
    pub(crate) loop_mtx: Mutex<()>,
    /// `max_user_watches` and what each user has.
    #[pin]
    pub(crate) watches: crate::mux::user_watches::UserWatches,
    pub(crate) next_id: AtomicU64,
    pub(crate) poll_totals: crate::mux::mini_poll::MiniPollTotals,
    /// Every open instance, by id, from `open` to `release`: what the
    /// wait-queue view (debugfs `wq`) walks.
    #[pin]
    pub(crate) instances: Mutex<RBTree<u64, Arc<MiniEpoll>>>,
    /// The mini-poll calls running now, by id, for the same view.
    #[pin]
    pub(crate) poll_calls: Mutex<RBTree<u64, Arc<crate::mux::mini_poll::Waiter>>>,
}

impl MuxShared {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            loop_mtx <- new_mutex!((), "simnic_mux_loop"),
            watches <- crate::mux::user_watches::UserWatches::new(),
            next_id: AtomicU64::new(1),
            poll_totals: Default::default(),
            instances <- new_mutex!(RBTree::new(), "simnic_mux_instances"),
            poll_calls <- new_mutex!(RBTree::new(), "simnic_mux_poll_calls"),
        })
    }
}

/// The instance's counters (`SIMNIC_MUX_IOC_INFO`).
#[derive(Default)]
pub(crate) struct EpCounters {
    callbacks: AtomicU64,
    ready_adds: AtomicU64,
    filtered: AtomicU64,
    harvested: AtomicU64,
    reported: AtomicU64,
    lt_requeued: AtomicU64,
    spurious: AtomicU64,
    entries: AtomicU64,
    /// Wake-ups not passed on because they came back round a loop of
    /// instances or went too deep (`WakeChain`).
    wake_loops: AtomicU64,
}

/// The ready list and whether a wait has taken it (under `ready`'s lock).
pub(crate) struct Ready {
    /// `ep->rdllist`.
    list: List<EpItem>,
    /// Waits that took the list and have not put it back: while one has,
    /// an empty list does not mean nothing is ready (epoll's
    /// `ep->ovflist != EP_UNACTIVE_PTR`), so others must wait for the
    /// interest lock and look then.
    scanning: u32,
}

impl Ready {
    /// `ep_events_available()`: something on the list, or a wait holding
    /// what may be.
    fn available(&self) -> bool {
        !self.list.is_empty() || self.scanning > 0
    }
}

/// The interest set, under the instance's mutex.
pub(crate) struct Interest {
    items: RBTree<(usize, i32), Arc<EpItem>>,
    count: u32,
}

/// One open of /dev/simnic-epoll: `struct eventpoll`.
#[pin_data]
pub(crate) struct MiniEpoll {
    pub(crate) id: u64,
    shared: Arc<MuxShared>,
    /// The opener's effective uid: its items are charged to that user
    /// (`ep->user`).
    user: u32,
    /// How the driver recognises instances among watched files.
    ops: MiscFileOps<crate::fops::mux::MuxDev>,
    /// `ep->mtx`: the interest set; held by control calls and by waits
    /// while they report.
    #[pin]
    interest: Mutex<Interest>,
    /// `ep->rdllist` under `ep->lock`: the wake function runs in any
    /// context, interrupts included, so interrupts are off while held.
    #[pin]
    ready: SpinLockIrq<Ready>,
    /// `ep->wq`: tasks in `SIMNIC_MUX_IOC_WAIT`.
    #[pin]
    wq: WaitQueueHead,
    /// `ep->poll_wait`: pollers of the instance itself (nesting).
    #[pin]
    poll_wq: WaitQueueHead,
    /// `ep->nests`: nesting depth during a wake-up of `poll_wq`, for lockdep.
    nests: AtomicU32,
    /// The instances whose items watch this one (`file->f_ep` of epoll):
    /// how deep this one sits. Changed under the shared loop lock.
    #[pin]
    parents: Mutex<RBTree<u64, (u32, Arc<MiniEpoll>)>>,
    stats: EpCounters,
}

/// One watched descriptor: `struct epitem`.
#[pin_data]
pub(crate) struct EpItem {
    ep: Arc<MiniEpoll>,
    file: FileRef,
    fd: i32,
    /// The watched file is an instance too: its nesting depth matters.
    target_ep: Option<Arc<MiniEpoll>>,
    /// The watched file polls other files in its `->poll` (an instance, or
    /// a real epoll): the instance's own `->poll` does not re-poll it, so
    /// polls cannot recurse through a loop of multiplexers.
    target_mux: bool,
    /// `epi->event.events`: events and flags; a fired one-shot item keeps
    /// only the flags until re-armed.
    events: AtomicU32,
    data: AtomicU64,
    /// A wait has taken the item off the ready list and not yet decided
    /// where it goes (`ep->ovflist` is active for it); under `ready`'s lock.
    held: AtomicBool,
    /// A wake-up came while `held`: the wait puts the item back.
    missed: AtomicBool,
    /// Deleted: in no interest set any more.
    dead: AtomicBool,
    /// `epi->pwqlist`: the entries hooked on the file's queues; dropping
    /// them unhooks them.
    #[pin]
    entries: Mutex<KVVec<Pin<KBox<WaitEntry<ItemWake>>>>>,
    #[pin]
    links: ListLinks,
    #[pin]
    tracker: AtomicTracker,
}

impl_has_list_links! {
    impl HasListLinks<0> for EpItem { self.links }
}
impl_list_arc_safe! {
    impl ListArcSafe<0> for EpItem { tracked_by tracker: AtomicTracker; }
}
impl_list_item! {
    impl ListItem<0> for EpItem { using ListLinks; }
}

/// The data of each hooked entry: its item (`ep_pwq_from_wait(wait)->base`).
pub(crate) struct ItemWake {
    item: Arc<EpItem>,
}

// The wake function's C name, what the wait-queue view and `%ps` show next
// to the kernel's `ep_poll_callback`.
kernel::wake_function!(simnic_ep_poll_callback for ItemWake);

/// The wake function of the items' entries, for the wait-queue view.
pub(crate) fn wake_function() -> OwnWakeFn {
    WaitEntry::<ItemWake>::wake_function()
}

impl WakeCallback for ItemWake {
    /// `ep_poll_callback`.
    fn wake(entry: &WaitEntry<Self>, key: PollMask) -> bool {
        let item = &entry.data().item;
        let ep = &*item.ep;
        inc(&ep.stats.callbacks);
        let events = item.events.load(Ordering::Acquire);
        let exclusive = events & EPOLLEXCLUSIVE != 0;
        // Disarmed (a fired one-shot), deleted, or not what it asked for:
        // nothing to do, except that the queue goes away (`POLLFREE`, which
        // comes with `EPOLLHUP`).
        let asked = events & !PRIVATE_BITS;
        let relevant = key == PollMask::NONE || key.bits() & asked != 0 || entry.is_freed();
        if asked == 0 || item.dead.load(Ordering::Acquire) || !relevant {
            inc(&ep.stats.filtered);
            return !exclusive;
        }
        ep.queue_ready(item);
        let mut woke = !exclusive;
        if ep.wq.has_sleeper() {
            // An exclusive item counts as a wake-up only if it woke a waiter
            // of this instance for the kind of event it asked for.
            if exclusive && (key == PollMask::NONE || key.bits() & asked & (0x1 | 0x4) != 0) {
                woke = true;
            }
            ep.wq.wake_up_poll(PollMask::NONE);
        }
        if ep.poll_wq.has_sleeper() {
            ep.safewake(item.target_ep.as_deref());
        }
        woke
    }
}

/// The queue procedure of registration (`ep_ptable_queue_proc`).
struct ItemProc<'a> {
    item: &'a Arc<EpItem>,
    exclusive: bool,
    entries: KVVec<Pin<KBox<WaitEntry<ItemWake>>>>,
    nomem: bool,
}

impl QueueProc for ItemProc<'_> {
    fn queue(&mut self, req: &QueueRequest<'_>) {
        let wake = ItemWake { item: self.item.clone() };
        let Ok(entry) = KBox::pin_init(WaitEntry::new(wake), GFP_KERNEL_ACCOUNT) else {
            self.nomem = true;
            return;
        };
        if self.entries.push(entry, GFP_KERNEL_ACCOUNT).is_err() {
            self.nomem = true;
            return;
        }
        if let Some(e) = self.entries.last() {
            if self.exclusive {
                req.hook_exclusive(e.as_ref());
            } else {
                req.hook(e.as_ref());
            }
        }
    }
}

impl MiniEpoll {
    /// A new, empty instance.
    pub(crate) fn new(shared: Arc<MuxShared>, ops: MiscFileOps<crate::fops::mux::MuxDev>, user: u32) -> impl PinInit<Self> {
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        pin_init!(Self {
            id,
            shared,
            user,
            ops,
            interest <- new_mutex!(Interest { items: RBTree::new(), count: 0 }, "simnic_ep_mtx"),
            ready <- new_spinlock_irq!(Ready { list: List::new(), scanning: 0 }, "simnic_ep_ready"),
            wq <- new_wait_queue_head!("simnic_ep_wq"),
            poll_wq <- new_wait_queue_head!("simnic_ep_poll_wq"),
            nests: AtomicU32::new(0),
            parents <- new_mutex!(RBTree::new(), "simnic_ep_parents"),
            stats: EpCounters::default(),
        })
    }

    /// Puts `item` on the ready list, unless it is there already; if a wait
    /// holds it off the list right now, marks it so the wait puts it back.
    fn queue_ready(&self, item: &Arc<EpItem>) {
        let mut rd = self.ready.lock();
        match ListArc::try_from_arc(item.clone()) {
            Ok(entry) => {
                rd.list.push_back(entry);
                inc(&self.stats.ready_adds);
            }
            // Already on the list: nothing to do. Held by a wait: it puts
            // the item back when done. (Dropping this clone cannot free the
            // item: the caller holds it.)
            Err(_) => {
                if item.held.load(Ordering::Relaxed) {
                    item.missed.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    /// `ep_poll_safewake`: wake the pollers of this instance, telling
    /// lockdep how deep in nested instances this wake-up is.
    ///
    /// A wake-up that comes back to this instance (a loop through
    /// instances that cannot see into each other, such as a real epoll
    /// watching this one while this one watches it) or goes deeper than
    /// [`MINI_EPOLL_MAX_NESTS`] stops here (`WakeChain`, the role of old
    /// epoll's `ep_call_nested`), instead of taking `poll_wq`'s lock twice.
    fn safewake(&self, source: Option<&MiniEpoll>) {
        let Some(_chain) = WakeChain::enter(self as *const Self as usize, MINI_EPOLL_MAX_NESTS) else {
            inc(&self.stats.wake_loops);
            return;
        };
        let nests = source.map_or(1, |s| s.nests.load(Ordering::Relaxed));
        self.poll_wq.wake_up_poll_nested(PollMask::IN, nests, &self.nests);
    }

    /// The instances reachable from this one's items, one level down.
    fn sub_instances(&self) -> Result<KVVec<Arc<MiniEpoll>>> {
        let interest = self.interest.lock();
        let mut v = KVVec::new();
        for (_, item) in interest.items.iter() {
            if let Some(t) = &item.target_ep {
                v.push(t.clone(), GFP_KERNEL)?;
            }
        }
        Ok(v)
    }

    /// How many instances sit above this one, at most
    /// (`ep_get_upwards_depth_proc`). Under the shared loop lock.
    fn depth_above(&self) -> Result<u32> {
        let parents = {
            let p = self.parents.lock();
            let mut v = KVVec::new();
            for (_, (_, a)) in p.iter() {
                v.push(a.clone(), GFP_KERNEL)?;
            }
            v
        };
        let mut d = 0;
        for p in parents.iter() {
            d = d.max(1 + p.depth_above()?);
        }
        Ok(d)
    }

    /// How many instances sit below `target` (inclusive), at most, and
    /// whether `self` is among them (`ep_loop_check_proc`). Under the
    /// shared loop lock, so no edge appears meanwhile.
    fn depth_below(&self, target: &MiniEpoll) -> Result<u32> {
        if target.id == self.id {
            return Err(ELOOP);
        }
        let mut d = 1;
        for sub in target.sub_instances()?.iter() {
            d = d.max(1 + self.depth_below(sub)?);
            if d > MINI_EPOLL_MAX_NESTS {
                return Err(ELOOP);
            }
        }
        Ok(d)
    }

    /// `ep_loop_check`: adding instance `target` under `self` must close no
    /// loop, and no chain of instances through the new edge may be longer
    /// than [`MINI_EPOLL_MAX_NESTS`].
    fn loop_check(&self, target: &MiniEpoll) -> Result {
        let below = self.depth_below(target)?;
        if self.depth_above()? + 1 + below > MINI_EPOLL_MAX_NESTS {
            return Err(ELOOP);
        }
        Ok(())
    }

    /// `MINI_EPOLL_CTL_*` (`do_epoll_ctl`).
    pub(crate) fn ctl(this: ArcBorrow<'_, Self>, self_file: &File, c: MiniEpollCtl) -> Result {
        if c.reserved != 0 {
            return Err(EINVAL);
        }
        let file = match File::fget(c.fd as u32) {
            Ok(f) => f,
            // A descriptor closed since it was added: its item still holds
            // the file (see the module docs), and DEL by number still finds it.
            Err(_) if c.op == MINI_EPOLL_CTL_DEL && c.fd >= 0 => return this.del_closed(c.fd),
            Err(_) => return Err(EBADF),
        };
        if core::ptr::eq(file.as_ptr(), self_file.as_ptr()) {
            return Err(EINVAL);
        }
        if !file.can_poll() {
            return Err(EPERM);
        }
        // An item holds its file. A file that can hold files in turn (a
        // unix socket with descriptors in flight, an io_uring's registered
        // files) could then close a reference cycle through this instance
        // that their garbage collection cannot see: refused.
        if c.op == MINI_EPOLL_CTL_ADD && file.can_hold_files() {
            return Err(EINVAL);
        }
        let target_ep: Option<Arc<MiniEpoll>> = this.ops.private_data_of(&file).map(Arc::from);
        let key = (file.as_ptr() as usize, c.fd);
        match c.op {
            MINI_EPOLL_CTL_ADD => {
                let ev = c.events;
                if ev & EPOLLEXCLUSIVE != 0 && (ev & !EXCLUSIVE_OK_BITS != 0 || target_ep.is_some()) {
                    return Err(EINVAL);
                }
                // Nesting: check and insert under the loop lock.
                let _loop_guard = target_ep.as_ref().map(|_| this.shared.loop_mtx.lock());
                if let Some(t) = &target_ep {
                    this.loop_check(t)?;
                    // Recorded before the item exists; undone if insert fails.
                    t.add_parent(this)?;
                }
                let r = Self::insert(this, file, c.fd, key, target_ep.clone(), ev, c.data);
                if let (Err(_), Some(t)) = (&r, &target_ep) {
                    t.remove_parent(this.id);
                }
                r
            }
            MINI_EPOLL_CTL_DEL => {
                // Killed under the interest lock, as `ep_remove` runs under
                // `ep->mtx`: a wait cannot be holding the item off the
                // ready list meanwhile, so `unlist` finds it there.
                let mut interest = this.interest.lock();
                match interest.remove(key, &this) {
                    Some(item) => {
                        item.kill();
                        Ok(())
                    }
                    // The number now names another file: the item added
                    // under it holds the old one (see the module docs).
                    None => {
                        drop(interest);
                        this.del_closed(c.fd).map_err(|_| ENOENT)
                    }
                }
            }
            MINI_EPOLL_CTL_MOD => {
                let ev = c.events;
                if ev & EPOLLEXCLUSIVE != 0 {
                    return Err(EINVAL);
                }
                let interest = this.interest.lock();
                let item = interest.items.get(&key).ok_or(ENOENT)?;
                if item.events.load(Ordering::Relaxed) & EPOLLEXCLUSIVE != 0 {
                    return Err(EINVAL);
                }
                item.data.store(c.data, Ordering::Relaxed);
                item.events.store(ev, Ordering::Release);
                // `ep_modify`'s `smp_mb()`: the new events are visible before
                // we poll, so either the poll sees what arrives now or the
                // wake function sees the new events.
                core::sync::atomic::fence(Ordering::SeqCst);
                // `ep_modify`: ready now? Then on the ready list at once.
                let asked = PollMask::from_bits(ev & !PRIVATE_BITS);
                if (item.file.poll_events(asked) & asked) != PollMask::NONE {
                    this.queue_ready(item);
                    if this.wq.has_sleeper() {
                        this.wq.wake_up_poll(PollMask::NONE);
                    }
                    if this.poll_wq.has_sleeper() {
                        this.safewake(None);
                    }
                }
                Ok(())
            }
            _ => Err(EINVAL),
        }
    }

    /// DEL of a descriptor number no longer open: remove the items added
    /// under that number whose file is not what the number refers to now.
    fn del_closed(&self, fd: i32) -> Result {
        let mut interest = self.interest.lock();
        let mut keys = KVVec::new();
        for (key, _) in interest.items.iter() {
            if key.1 == fd {
                keys.push(*key, GFP_KERNEL)?;
            }
        }
        if keys.is_empty() {
            return Err(EBADF);
        }
        for key in keys.iter() {
            if let Some(item) = interest.remove(*key, self) {
                item.kill();
            }
        }
        Ok(())
    }

    /// `ep_insert`.
    fn insert(
        this: ArcBorrow<'_, Self>,
        file: FileRef,
        fd: i32,
        key: (usize, i32),
        target_ep: Option<Arc<MiniEpoll>>,
        events: u32,
        data: u64,
    ) -> Result {
        let mut interest = this.interest.lock();
        if interest.items.get(&key).is_some() {
            return Err(EEXIST);
        }
        if interest.count >= MINI_EPOLL_MAX_ITEMS {
            return Err(ENOSPC);
        }
        // `ep_insert`'s `percpu_counter_compare(&ep->user->epoll_watches,
        // max_user_watches)`; given back by `Interest::remove` and `clear`.
        this.shared.watches.charge(this.user)?;
        let target_mux = target_ep.is_some() || file.is_epoll();
        let item = Arc::pin_init(
            pin_init!(EpItem {
                ep: Arc::from(this),
                file,
                fd,
                target_ep,
                target_mux,
                events: AtomicU32::new(events),
                data: AtomicU64::new(data),
                held: AtomicBool::new(false),
                missed: AtomicBool::new(false),
                dead: AtomicBool::new(false),
                entries <- new_mutex!(KVVec::new(), "simnic_ep_entries"),
                links <- ListLinks::new(),
                tracker <- AtomicTracker::new(),
            }),
            GFP_KERNEL_ACCOUNT,
        )
        .inspect_err(|_| this.shared.watches.uncharge(this.user, 1))?;
        interest
            .items
            .try_create_and_insert(key, item.clone(), GFP_KERNEL_ACCOUNT)
            .inspect_err(|_| this.shared.watches.uncharge(this.user, 1))?;
        interest.count += 1;
        // `ep_item_poll` with `ep_ptable_queue_proc`: hook our entries and
        // learn what is ready already.
        let asked = PollMask::from_bits(events & !PRIVATE_BITS) | PollMask::ERR | PollMask::HUP;
        let mut qp = ItemProc { item: &item, exclusive: events & EPOLLEXCLUSIVE != 0, entries: KVVec::new(), nomem: false };
        let revents = item.file.poll_with(asked, &mut qp);
        add(&this.stats.entries, qp.entries.len() as u64);
        let (entries, nomem) = (core::mem::replace(&mut qp.entries, KVVec::new()), qp.nomem);
        *item.entries.lock() = entries;
        if nomem {
            // As `ep_insert`: undo, and report the failed allocation.
            if let Some(it) = interest.remove(key, &this) {
                // Not `kill`: `ctl` undoes the parent link of a failed ADD.
                it.unhook();
            }
            return Err(ENOMEM);
        }
        if (revents & asked) != PollMask::NONE {
            this.queue_ready(&item);
            if this.wq.has_sleeper() {
                this.wq.wake_up_poll(PollMask::NONE);
            }
            if this.poll_wq.has_sleeper() {
                this.safewake(None);
            }
        }
        Ok(())
    }

    /// `ep_send_events`: report up to `max` events, each polled again now
    /// and handed to `put` (which copies it to user memory, as
    /// `epoll_put_uevent` does) one at a time: nothing is allocated per
    /// call. Returns how many were put. If `put` fails, the item it failed
    /// on goes back on the ready list with the rest, and the call returns
    /// what was put before, or the error if nothing was.
    fn send_events(&self, max: usize, put: &mut impl FnMut(MiniEpollEvent) -> Result) -> Result<usize> {
        let mut sent = 0;
        let mut failed = None;
        let _interest = self.interest.lock();
        let mut txlist = {
            let mut rd = self.ready.lock();
            for item in rd.list.iter() {
                item.held.store(true, Ordering::Relaxed);
            }
            rd.scanning += 1;
            core::mem::take(&mut rd.list)
        };
        // Items not looked at (the caller's room is full, or a copy
        // failed): they go back first, so that the next wait starts with
        // them (`ep_done_scan` splices them at the head).
        let mut unseen: List<EpItem> = List::new();
        // Level-triggered items reported now: they go back last, behind
        // everything else, so that a small `max` reports every ready item
        // in turn instead of the first one for ever.
        let mut level: List<EpItem> = List::new();
        let mut done: List<EpItem> = List::new();
        while let Some(entry) = txlist.pop_front() {
            let item: &EpItem = &entry;
            let events = item.events.load(Ordering::Acquire);
            let asked = events & !PRIVATE_BITS;
            // Deleted ones leave whatever else happens (a DEL that ran
            // while we held the list could not take it off).
            if item.dead.load(Ordering::Acquire) {
                done.push_back(entry);
                continue;
            }
            if sent >= max || failed.is_some() {
                unseen.push_back(entry);
                continue;
            }
            inc(&self.stats.harvested);
            if asked == 0 {
                done.push_back(entry);
                continue;
            }
            let mask = PollMask::from_bits(asked) | PollMask::ERR | PollMask::HUP;
            let revents = item.file.poll_events(mask) & mask;
            if revents == PollMask::NONE {
                inc(&self.stats.spurious);
                done.push_back(entry);
                continue;
            }
            let ev = MiniEpollEvent { events: revents.bits(), reserved: 0, data: item.data.load(Ordering::Relaxed) };
            if let Err(e) = put(ev) {
                // Not reported: still ready, as `ep_send_events` puts it
                // back on failure to copy.
                failed = Some(e);
                unseen.push_back(entry);
                continue;
            }
            sent += 1;
            inc(&self.stats.reported);
            if events & EPOLLONESHOT != 0 {
                // Disarmed until MOD re-arms it.
                item.events.store(events & PRIVATE_BITS, Ordering::Release);
                done.push_back(entry);
            } else if events & EPOLLET == 0 {
                // Level-triggered: stays ready until a poll finds nothing.
                inc(&self.stats.lt_requeued);
                level.push_back(entry);
            } else {
                done.push_back(entry);
            }
        }
        // A live item's `ListArc` can be given up under the irq lock: we
        // hold the interest lock, under which items leave the set and are
        // marked dead (`Interest::remove`), so a live item is in the set,
        // which holds another reference, and ours is not the last. A dead
        // one's may be: those are dropped after the lock, in room reserved
        // now (without it they stay listed, to be dropped by a later wait).
        // In the common case nothing is dead and nothing is allocated.
        let mut leaving: KVVec<Arc<EpItem>> = KVVec::new();
        let dead = done.iter().filter(|i| i.dead.load(Ordering::Acquire)).count();
        let room = dead == 0 || leaving.reserve(dead, GFP_KERNEL).is_ok();
        let more = {
            let mut rd = self.ready.lock();
            // Under the lock, each item leaves the wait's hands: woken
            // meanwhile (`missed`), it goes back; otherwise its `ListArc` is
            // given up now, so that the next wake-up can queue it again.
            while let Some(entry) = done.pop_front() {
                entry.held.store(false, Ordering::Relaxed);
                let is_dead = entry.dead.load(Ordering::Acquire);
                let back = entry.missed.swap(false, Ordering::Relaxed) && !is_dead;
                if back {
                    rd.list.push_back(entry);
                } else if !is_dead {
                    // Not the last reference (see above): a decrement.
                    drop(ListArc::into_arc(entry));
                } else if !room || leaving.len() >= leaving.capacity() {
                    rd.list.push_back(entry);
                } else {
                    // Within the reserved capacity: does not allocate, so it
                    // cannot fail and drop the item under the lock.
                    let _ = leaving.push(ListArc::into_arc(entry), GFP_NOWAIT);
                }
            }
            for item in Iterator::chain(unseen.iter(), level.iter()) {
                item.held.store(false, Ordering::Relaxed);
                item.missed.store(false, Ordering::Relaxed);
            }
            // unseen, then what was queued meanwhile, then level-triggered.
            unseen.push_all_back(&mut rd.list);
            unseen.push_all_back(&mut level);
            rd.list = unseen;
            rd.scanning -= 1;
            !rd.list.is_empty()
        };
        // `ep_done_scan`: items are ready and a waiter may have gone to
        // sleep on the list being empty before we took it.
        if more && self.wq.has_sleeper() {
            self.wq.wake_up_poll(PollMask::NONE);
        }
        // Outside the irq lock: dropping an item may free it (a deleted one).
        drop(leaving);
        match failed {
            Some(e) if sent == 0 => Err(e),
            _ => Ok(sent),
        }
    }

    /// `SIMNIC_MUX_IOC_WAIT` (`ep_poll`): up to `max` events, each handed
    /// to `put`, waiting up to `timeout_ms` (negative: forever) for the
    /// first; returns how many.
    pub(crate) fn wait(&self, max: usize, timeout_ms: i32, mut put: impl FnMut(MiniEpollEvent) -> Result) -> Result<usize> {
        let deadline = (timeout_ms > 0).then(|| Ktime::ktime_get().to_ns().saturating_add(timeout_ms as i64 * 1_000_000));
        loop {
            // `ep_events_available()` first: an empty ready list needs
            // neither the interest lock nor a pass over the list.
            let n = if self.ready.lock().available() { self.send_events(max, &mut put)? } else { 0 };
            if n > 0 || timeout_ms == 0 {
                return Ok(n);
            }
            let available = || self.ready.lock().available().then_some(());
            let r = match deadline {
                None => self.wq.wait_interruptible_exclusive(available).map(Some),
                Some(d) => {
                    let left = d.saturating_sub(Ktime::ktime_get().to_ns());
                    if left <= 0 {
                        return Ok(0);
                    }
                    self.wq.wait_interruptible_exclusive_timeout(left as u64, available)
                }
            };
            match r {
                Ok(Some(())) => continue,
                // Timed out: one last look, then return what there is.
                Ok(None) => return self.send_events(max, &mut put),
                Err(_) => return Err(EINTR),
            }
        }
    }

    /// `->poll` of the instance (`ep_eventpoll_poll`): readable if an item
    /// on the ready list has events now.
    pub(crate) fn poll<'a>(this: ArcBorrow<'a, Self>, table: &mut PollTable<'a>) -> PollMask {
        let ep: &'a MiniEpoll = this.into_ref();
        table.register_wait(&ep.poll_wq);
        let mut snapshot: KVVec<Arc<EpItem>> = KVVec::new();
        let (n, scanning) = {
            let rd = ep.ready.lock();
            (rd.list.iter().count(), rd.scanning > 0)
        };
        if scanning {
            // A wait holds the list (and may be copying it out): what it
            // holds is not visible here. Readable, as a caller that then
            // waits with timeout 0 finds at worst nothing: the safe side,
            // where "not readable" could lose the event for good.
            return PollMask::IN | PollMask::RDNORM;
        }
        if n == 0 || snapshot.reserve(n, GFP_KERNEL).is_err() {
            // Nothing ready, or no memory to look closer: say what the list says.
            return if n == 0 { PollMask::NONE } else { PollMask::IN | PollMask::RDNORM };
        }
        {
            let rd = ep.ready.lock();
            for item in rd.list.iter().take(n) {
                // Within the reserved capacity: never allocates.
                let _ = snapshot.push(Arc::from(item), GFP_NOWAIT);
            }
        }
        for item in snapshot.iter() {
            let asked = item.events.load(Ordering::Acquire) & !PRIVATE_BITS;
            if item.dead.load(Ordering::Acquire) || asked == 0 {
                continue;
            }
            if item.target_mux {
                // Re-polling a multiplexer would poll its items, and through
                // a loop of them, this instance again: on the list, it counts.
                return PollMask::IN | PollMask::RDNORM;
            }
            let mask = PollMask::from_bits(asked) | PollMask::ERR | PollMask::HUP;
            if item.file.poll_events(mask) & mask != PollMask::NONE {
                return PollMask::IN | PollMask::RDNORM;
            }
        }
        PollMask::NONE
    }

    /// The instance's wait queues with their names, for the wait-queue
    /// view: `ep->wq` (tasks in `SIMNIC_MUX_IOC_WAIT`) and `ep->poll_wait`
    /// (pollers of the instance itself).
    pub(crate) fn queues(&self) -> [(&'static str, &WaitQueueHead); 2] {
        [("wq", &self.wq), ("poll_wq", &self.poll_wq)]
    }

    /// The number of items in the interest set.
    pub(crate) fn items(&self) -> u32 {
        self.interest.lock().count
    }

    /// What every instance shares.
    pub(crate) fn shared(&self) -> &MuxShared {
        &self.shared
    }

    /// `SIMNIC_MUX_IOC_INFO`.
    pub(crate) fn info(&self) -> MiniEpollInfo {
        let items = self.interest.lock().count;
        let ready = self.ready.lock().list.iter().count() as u32;
        let s = &self.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MiniEpollInfo {
            items,
            ready,
            callbacks: get(&s.callbacks),
            ready_adds: get(&s.ready_adds),
            filtered: get(&s.filtered),
            harvested: get(&s.harvested),
            reported: get(&s.reported),
            lt_requeued: get(&s.lt_requeued),
            spurious: get(&s.spurious),
            entries: get(&s.entries),
            wake_loops: get(&s.wake_loops),
            user_watches: self.shared.watches.charged(self.user),
            max_user_watches: self.shared.watches.max(),
        }
    }

    /// `ep_clear_and_put` at the instance's release: every item leaves
    /// (its entries unhooked, its file reference dropped), and the ready
    /// list is emptied.
    pub(crate) fn clear(&self) {
        let items = {
            let mut interest = self.interest.lock();
            self.shared.watches.uncharge(self.user, interest.count);
            interest.count = 0;
            // Dead under the interest lock, as `Interest::remove` does.
            for (_, item) in interest.items.iter() {
                item.dead.store(true, Ordering::Release);
            }
            core::mem::replace(&mut interest.items, RBTree::new())
        };
        for (_, item) in items.iter() {
            item.kill();
        }
        drop(items);
        let ready = core::mem::take(&mut self.ready.lock().list);
        drop(ready);
    }

    /// One more item of `parent` watches this instance.
    fn add_parent(&self, parent: ArcBorrow<'_, MiniEpoll>) -> Result {
        let mut p = self.parents.lock();
        if let Some((n, _)) = p.get_mut(&parent.id) {
            *n += 1;
            return Ok(());
        }
        p.try_create_and_insert(parent.id, (1, Arc::from(parent)), GFP_KERNEL)?;
        Ok(())
    }

    /// One item of `parent` no longer watches this instance.
    fn remove_parent(&self, parent: u64) {
        let removed = {
            let mut p = self.parents.lock();
            match p.get_mut(&parent) {
                Some((n, _)) if *n > 1 => {
                    *n -= 1;
                    None
                }
                Some(_) => p.remove(&parent),
                None => None,
            }
        };
        // Dropped outside the lock (it may be the last reference).
        drop(removed);
    }

    /// Takes `item` off the ready list, if it is on it (`ep_remove`'s
    /// `list_del_init(&epi->rdllink)`), so that a deleted item does not
    /// keep its file until the next wait.
    fn unlist(&self, item: &EpItem) {
        let taken = {
            let mut rd = self.ready.lock();
            let mut cursor = rd.list.cursor_front();
            let mut found = None;
            while let Some(c) = cursor {
                if core::ptr::eq(&*c.current(), item) {
                    found = Some(ListArc::into_arc(c.remove()));
                    break;
                }
                cursor = c.next();
            }
            found
        };
        // Dropped outside the irq lock.
        drop(taken);
    }
}

impl Interest {
    /// Takes the item out of the set and gives its watch back to the user.
    /// `ep`: the instance whose set this is.
    /// The item is marked dead here, under the interest lock, so that a
    /// wait (which holds that lock) can tell a live item, which the set
    /// still holds, from one that left it.
    fn remove(&mut self, key: (usize, i32), ep: &MiniEpoll) -> Option<Arc<EpItem>> {
        let item = self.items.remove(&key)?;
        item.dead.store(true, Ordering::Release);
        self.count -= 1;
        ep.shared.watches.uncharge(ep.user, 1);
        Some(item)
    }
}

impl EpItem {
    /// Deleted (`ep_remove`): no more events, and the entries leave their
    /// queues now (each waits for a wake function running on it); then the
    /// item leaves the ready list and its instance's place above a nested
    /// instance. The item itself goes with the last reference.
    fn kill(&self) {
        self.unhook();
        if let Some(t) = &self.target_ep {
            t.remove_parent(self.ep.id);
        }
    }

    /// `kill` without the parent link: the entries leave their queues and
    /// the item leaves the ready list.
    fn unhook(&self) {
        self.dead.store(true, Ordering::Release);
        let entries = core::mem::replace(&mut *self.entries.lock(), KVVec::new());
        drop(entries);
        self.ep.unlist(self);
    }
}
