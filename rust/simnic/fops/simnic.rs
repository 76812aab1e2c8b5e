// SPDX-License-Identifier: GPL-2.0

//! The `file_operations` of /dev/simnic: each entry point turns the VFS call
//! into an [`Endpoint`] operation.

use crate::sock::endpoint::Endpoint;
use crate::fops::ioctl;
use crate::driver::nic::NicCore;
use core::sync::atomic::Ordering;
use kernel::{
    fs::{fasync::FasyncQueue, File, Kiocb},
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

    fn read_iter(kiocb: Kiocb<'_, Arc<Endpoint>>, iov: &mut IovIterDest<'_>) -> Result<usize> {
        let ep = kiocb.file();
        let room = iov.len();
        let info = ep.recv(room, kiocb.is_nonblocking(), |bytes| {
            if iov.copy_to_iter(bytes) == bytes.len() { Ok(()) } else { Err(EFAULT) }
        })?;
        Ok(info.copied)
    }

    fn write_iter(kiocb: Kiocb<'_, Arc<Endpoint>>, iov: &mut IovIterSource<'_>) -> Result<usize> {
        let ep = kiocb.file();
        let len = iov.len();
        if len > crate::uapi::MAX_DATAGRAM {
            return Err(kernel::error::code_ext::EMSGSIZE);
        }
        // IOCB_NOWAIT forbids sleeping, including in the allocator.
        let gfp = if kiocb.is_nowait() { GFP_NOWAIT } else { GFP_KERNEL };
        let mut payload = KVec::new();
        iov.copy_from_iter_vec(&mut payload, gfp)?;
        if payload.len() != len {
            return Err(EFAULT);
        }
        // `write()` on a socket shut for writing raises SIGPIPE too.
        Endpoint::send_to(ep, ep.default_dest(), &payload, false)
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
