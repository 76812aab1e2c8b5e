// SPDX-License-Identifier: GPL-2.0

//! The `file_operations` of /dev/simnic-epoll, the module's own
//! multiplexers: each open is a mini-epoll instance (`epoll_create`), its
//! ioctls are `epoll_ctl` and `epoll_wait`, and it is itself pollable, so it
//! nests in real epoll, in select, and in other instances. The mini-poll
//! ioctl (`poll(2)` done by `mini_poll.rs`) works on any open of it.

use crate::mux::mini_epoll::{MiniEpoll, MuxShared};
use crate::uapi::*;
use kernel::{
    capability::{capable, CAP_SYS_ADMIN},
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
    fn open(file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Arc<MiniEpoll>> {
        let user = file.cred().euid().into_uid_in_init_ns();
        let ep = Arc::pin_init(MiniEpoll::new(misc.data().clone(), misc.file_ops(), user), GFP_KERNEL_ACCOUNT)?;
        // Listed until `release` (last: nothing can fail after it).
        misc.data().instances.lock().try_create_and_insert(ep.id, ep.clone(), GFP_KERNEL_ACCOUNT)?;
        Ok(ep)
    }

    /// The last close (`ep_eventpoll_release`): off the list of instances,
    /// and every item leaves.
    fn release(ep: Arc<MiniEpoll>, _file: &File) {
        let listed = ep.shared().instances.lock().remove(&ep.id);
        // Not the last reference (we hold `ep`): dropped outside the lock
        // anyway.
        drop(listed);
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
                // Each event is copied as it is taken, as `epoll_put_uevent`
                // does; one that faults stays on the ready list, so a bad
                // buffer loses no event (`EFAULT` if none was copied).
                let mut user = UserSlice::new(w.events as usize, room).writer();
                let n = ep.wait(w.maxevents as usize, w.timeout_ms, |e| user.write_slice(&e.to_bytes()))?;
                Ok(n as isize)
            }
            SIMNIC_MUX_IOC_INFO => {
                crate::fops::ioctl::write_arg(arg, &ep.info().to_bytes())?;
                Ok(0)
            }
            SIMNIC_MUX_IOC_SET_LIMITS => {
                // Machine-wide, as the sysctl is: root's; checked first, so
                // an unprivileged caller learns nothing else.
                if !capable(CAP_SYS_ADMIN) {
                    return Err(EPERM);
                }
                let l = MiniEpollLimits::from_bytes(&crate::fops::ioctl::read_arg(arg)?);
                if l.reserved != 0 {
                    return Err(EINVAL);
                }
                ep.shared().watches.set_max(l.max_user_watches);
                Ok(0)
            }
            SIMNIC_MUX_IOC_POLL => crate::mux::mini_poll::mini_poll(arg, ep.shared()),
            _ => Err(ENOTTY),
        }
    }
}
