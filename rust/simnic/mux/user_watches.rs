// SPDX-License-Identifier: GPL-2.0

//! `max_user_watches`: how many items all of one user's mini-epoll
//! instances may hold together, as `fs/eventpoll.c` bounds epoll with the
//! `fs.epoll.max_user_watches` sysctl and the per-user `epoll_watches`
//! counter that `ep_insert` charges and `ep_remove` gives back.
//!
//! A per-instance bound alone would not do: any user may open
//! /dev/simnic-epoll, as many times as `RLIMIT_NOFILE` allows, and an item
//! holds a reference to its file (Documentation/multiplexers.rst says
//! why), so without a per-user bound one user could pin memory and files
//! without limit. Users are told apart by the effective uid of the
//! instance's opener (epoll charges the creator's `user_struct`, keyed by
//! the real uid: for a set-uid program the two differ).
//!
//! Everything here runs in process context (`SIMNIC_MUX_IOC_CTL`, an
//! instance's release), so a mutex suffices.

use crate::uapi::MINI_EPOLL_MAX_USER_WATCHES_DEFAULT;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{new_mutex, prelude::*, rbtree::RBTree, sync::Mutex};

/// The watches charged to each user, and the bound.
#[pin_data]
pub(crate) struct UserWatches {
    /// uid -> items charged; a user with none has no node.
    #[pin]
    users: Mutex<RBTree<u32, u32>>,
    /// `max_user_watches`; `SIMNIC_MUX_IOC_SET_LIMITS` changes it.
    max: AtomicU32,
}

impl UserWatches {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            users <- new_mutex!(RBTree::new(), "simnic_user_watches"),
            max: AtomicU32::new(MINI_EPOLL_MAX_USER_WATCHES_DEFAULT),
        })
    }

    /// Charges one watch to `uid`: `ENOSPC` if the user has
    /// `max_user_watches` already (what `epoll_ctl` returns then).
    pub(crate) fn charge(&self, uid: u32) -> Result {
        let max = self.max.load(Ordering::Relaxed);
        let mut users = self.users.lock();
        match users.get_mut(&uid) {
            Some(n) if *n >= max => Err(ENOSPC),
            Some(n) => {
                *n += 1;
                Ok(())
            }
            None if max == 0 => Err(ENOSPC),
            None => {
                users.try_create_and_insert(uid, 1, GFP_KERNEL)?;
                Ok(())
            }
        }
    }

    /// Gives back `n` watches of `uid`.
    pub(crate) fn uncharge(&self, uid: u32, n: u32) {
        if n == 0 {
            return;
        }
        let mut users = self.users.lock();
        let gone = match users.get_mut(&uid) {
            Some(have) if *have > n => {
                *have -= n;
                false
            }
            Some(_) => true,
            None => false,
        };
        if gone {
            users.remove(&uid);
        }
    }

    /// The watches `uid` has now.
    pub(crate) fn charged(&self, uid: u32) -> u32 {
        self.users.lock().get(&uid).copied().unwrap_or(0)
    }

    /// The bound.
    pub(crate) fn max(&self) -> u32 {
        self.max.load(Ordering::Relaxed)
    }

    /// Sets the bound. Users above a lowered bound keep what they have and
    /// add nothing until they are below it, as with the sysctl.
    pub(crate) fn set_max(&self, max: u32) {
        self.max.store(max, Ordering::Relaxed);
    }
}
