// SPDX-License-Identifier: GPL-2.0

//! The `file_operations` of /dev/simnic: each entry point turns the VFS call
//! into an [`Endpoint`] operation.

use crate::sock::endpoint::{Endpoint, AIO_READ_MAX_PAGES};
use crate::fops::ioctl;
use crate::driver::nic::NicCore;
use core::sync::atomic::Ordering;
use kernel::{
    fs::{aio::Submitted, fasync::FasyncQueue, File, Kiocb},
    iov::{IovIterDest, IovIterSource},
    mm::virt::VmaNew,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    prelude::*,
    rbtree::RBTreeNodeReservation,
    sync::{
        poll::{PollMask, PollTable},
        Arc, ArcBorrow,
    },
    ThisModule,
};

/// Marker type whose `MiscDevice` impl is the device's file operations.
pub(crate) struct SimnicDev;

/// Payloads up to this size are sent from a stack buffer, with no
/// allocation (`write_iter`). Kernel stacks are small (16 KiB): 256 bytes
/// is what select and poll allow themselves on the stack
/// (`FRONTEND_STACK_ALLOC` in `include/linux/poll.h`).
const TX_COPYBREAK: usize = 256;

#[vtable]
impl MiscDevice for SimnicDev {
    type Ptr = Arc<Endpoint>;
    type Data = Arc<NicCore>;

    const OWNER: &'static ThisModule = &crate::THIS_MODULE;
    // A datagram device has no file position: lseek/pread give ESPIPE.
    const STREAM: bool = true;
    // read/write honour IOCB_NOWAIT, so preadv2(RWF_NOWAIT) reaches us.
    const NOWAIT: bool = true;

    /// Every open is an endpoint, bound to a free ephemeral port.
    fn open(_file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Arc<Endpoint>> {
        let nic = misc.data().clone();
        let id = nic.next_ep_id.fetch_add(1, Ordering::Relaxed);
        let ep = Arc::pin_init(Endpoint::new(nic.clone(), id), GFP_KERNEL_ACCOUNT)?;
        let node = RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?;
        nic.ports.lock().bind(&ep, 0, node)?;
        Ok(ep)
    }

    /// The last close (`udp_destroy_sock`): unbind, so the poll stops
    /// delivering here; stop the generator flows this endpoint started;
    /// free what is queued.
    fn release(ep: Arc<Endpoint>, _file: &File) {
        ep.nic.ports.lock().unbind(&ep);
        ep.nic.gen_stop_owned_by(ep.id);
        ep.close();
    }

    /// `read`, `readv`, `preadv2`, io_uring and AIO reads: one datagram.
    ///
    /// A read that may not wait (`O_NONBLOCK`, `RWF_NOWAIT`, io_uring's
    /// first attempt) takes what is there or gets `EAGAIN`; a plain read
    /// sleeps for a datagram. An AIO read (`io_submit`) never waits inside
    /// `io_submit`: with nothing to read it is posted to the endpoint
    /// (`-EIOCBQUEUED`), and the receive path completes it.
    fn read_iter_async<'a>(kiocb: Kiocb<'a, Arc<Endpoint>>, iov: &mut IovIterDest<'_>) -> Result<Submitted<'a>> {
        let ep = kiocb.file();
        let room = iov.len();
        let queue = kiocb.can_queue() && !kiocb.is_nonblocking();
        let r = ep.recvmsg(room, kiocb.is_nonblocking() || queue, |bytes| {
            if iov.copy_to_iter(bytes) == bytes.len() { Ok(()) } else { Err(EFAULT) }
        });
        match r {
            Ok(info) => Ok(Submitted::Done(info.copied)),
            Err(e) if queue && e == EAGAIN => {
                let (read, queued) = kiocb.queue(iov, crate::uapi::MAX_DATAGRAM, AIO_READ_MAX_PAGES)?;
                ep.post_aio_read(read);
                Ok(Submitted::Queued(queued))
            }
            Err(e) => Err(e),
        }
    }

    fn write_iter(kiocb: Kiocb<'_, Arc<Endpoint>>, iov: &mut IovIterSource<'_>) -> Result<usize> {
        let ep = kiocb.file();
        let len = iov.len();
        if len > crate::uapi::MAX_DATAGRAM {
            return Err(kernel::error::code_ext::EMSGSIZE);
        }
        // `write()` on a socket shut for writing raises SIGPIPE too.
        let send = |payload: &[u8]| Endpoint::sendmsg(ep, ep.default_dest(), payload, false);
        // The payload is copied from user memory before the TX ring is
        // locked (a copy may fault and sleep). A small one goes through
        // the stack, with no allocation (the copybreak of many drivers);
        // a larger one through a buffer allocated for it.
        if len <= TX_COPYBREAK {
            let mut buf = [0u8; TX_COPYBREAK];
            if iov.copy_from_iter(&mut buf[..len]) != len {
                return Err(EFAULT);
            }
            return send(&buf[..len]);
        }
        // IOCB_NOWAIT forbids sleeping, including in the allocator.
        let gfp = if kiocb.is_nowait() { GFP_NOWAIT } else { GFP_KERNEL };
        let mut payload = KVec::new();
        iov.copy_from_iter_vec(&mut payload, gfp)?;
        if payload.len() != len {
            return Err(EFAULT);
        }
        send(&payload)
    }

    fn poll<'a>(ep: ArcBorrow<'a, Endpoint>, _file: &'a File, table: &mut PollTable<'a>) -> PollMask {
        Endpoint::poll(ep, table)
    }

    /// `O_ASYNC`: the file goes on the endpoint's fasync list (`sock_fasync`).
    fn fasync<'a>(ep: ArcBorrow<'a, Endpoint>, _file: &'a File) -> Result<&'a FasyncQueue> {
        let ep: &'a Endpoint = ep.into_ref();
        Ok(&ep.fasync)
    }

    fn ioctl(ep: ArcBorrow<'_, Endpoint>, file: &File, cmd: u32, arg: usize) -> Result<isize> {
        ioctl::dispatch(ep, file.is_nonblocking(), cmd, arg)
    }

    /// Maps the endpoint's receive ring (`sock/rx_mmap_ring.rs`). The area
    /// holds the file, so the endpoint lives until the last `munmap`.
    fn mmap(ep: ArcBorrow<'_, Endpoint>, _file: &File, vma: &VmaNew) -> Result {
        ep.rx_ring.mmap(vma)
    }
}
