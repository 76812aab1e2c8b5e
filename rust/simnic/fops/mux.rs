// SPDX-License-Identifier: GPL-2.0

//! The `file_operations` of /dev/simnic-epoll, the module's own
//! multiplexers: each open is a mini-epoll instance (`epoll_create`), its
//! ioctls are `epoll_ctl` and `epoll_wait`, and it is itself pollable, so it
//! nests in real epoll, in select, and in other instances. The mini-poll
//! ioctl (`poll(2)` done by `mini_poll.rs`) works on any open of it.

use crate::mux::mini_epoll::{MiniEpoll, MuxShared};
use crate::uapi::*;
use kernel::{
    alloc::KVVec,
    error::code::ENOTTY,
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    prelude::*,
    sync::{
        poll::{PollMask, PollTable},
        Arc, ArcBorrow,
    },
    uaccess::UserSlice,
    ThisModule,
};

/// Marker type whose `MiscDevice` impl is the node's file operations.
pub(crate) struct MuxDev;

#[vtable]
impl MiscDevice for MuxDev {
    type Ptr = Arc<MiniEpoll>;
    type Data = Arc<MuxShared>;

    const OWNER: &'static ThisModule = &crate::THIS_MODULE;
    const STREAM: bool = true;

    /// `epoll_create`: a new, empty instance.
    fn open(_file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Arc<MiniEpoll>> {
        Arc::pin_init(MiniEpoll::new(misc.data().clone(), misc.file_ops()), GFP_KERNEL_ACCOUNT)
    }

    /// The last close (`ep_eventpoll_release`): every item leaves.
    fn release(ep: Arc<MiniEpoll>, _file: &File) {
        ep.clear();
    }

    fn poll<'a>(ep: ArcBorrow<'a, MiniEpoll>, _file: &'a File, table: &mut PollTable<'a>) -> PollMask {
        MiniEpoll::poll(ep, table)
    }

    fn ioctl(ep: ArcBorrow<'_, MiniEpoll>, file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            SIMNIC_MUX_IOC_CTL => {
                let c = MiniEpollCtl::from_bytes(&crate::fops::ioctl::read_arg(arg)?);
                MiniEpoll::ctl(ep, file, c)?;
                Ok(0)
            }
            SIMNIC_MUX_IOC_WAIT => {
                let w = MiniEpollWait::from_bytes(&crate::fops::ioctl::read_arg(arg)?);
                if w.maxevents == 0 || w.maxevents > MINI_EPOLL_MAX_EVENTS {
                    return Err(EINVAL);
                }
                let room = w.maxevents as usize * MiniEpollEvent::SIZE;
                // Checked writable before anything is taken off the ready
                // list, so a bad buffer loses no event (`EFAULT` first).
                let zeros = KVVec::<u8>::from_elem(0, room, GFP_KERNEL)?;
                UserSlice::new(w.events as usize, room).writer().write_slice(&zeros)?;
                let user = UserSlice::new(w.events as usize, room);
                let mut out = KVVec::new();
                ep.wait(w.maxevents as usize, w.timeout_ms, &mut out)?;
                let mut bytes = KVVec::<u8>::with_capacity(out.len() * MiniEpollEvent::SIZE, GFP_KERNEL)?;
                for e in out.iter() {
                    bytes.extend_from_slice(&e.to_bytes(), GFP_KERNEL)?;
                }
                user.writer().write_slice(&bytes)?;
                Ok(out.len() as isize)
            }
            SIMNIC_MUX_IOC_INFO => {
                crate::fops::ioctl::write_arg(arg, &ep.info().to_bytes())?;
                Ok(0)
            }
            SIMNIC_MUX_IOC_POLL => crate::mux::mini_poll::mini_poll(arg, &ep.shared().poll_totals),
            _ => Err(ENOTTY),
        }
    }
}
