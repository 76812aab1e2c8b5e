// SPDX-License-Identifier: GPL-2.0

//! The `file_operations` of /dev/simnic: each entry point turns the VFS call
//! into an [`Endpoint`] operation.

use crate::endpoint::Endpoint;
use kernel::{
    fs::{File, Kiocb},
    iov::{IovIterDest, IovIterSource},
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    prelude::*,
    sync::poll::{PollMask, PollTable},
    ThisModule,
};

/// The private data of an open file: its endpoint.
pub(crate) type EndpointPtr = Pin<KBox<Endpoint>>;

/// Marker type whose `MiscDevice` impl is the device's file operations.
pub(crate) struct SimnicDev;

#[vtable]
impl MiscDevice for SimnicDev {
    type Ptr = EndpointPtr;

    const OWNER: &'static ThisModule = &crate::THIS_MODULE;
    // A datagram device has no file position: lseek/pread give ESPIPE.
    const STREAM: bool = true;
    // read/write honour IOCB_NOWAIT, so preadv2(RWF_NOWAIT) reaches us.
    const NOWAIT: bool = true;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<EndpointPtr> {
        KBox::pin_init(Endpoint::new(), GFP_KERNEL)
    }

    fn read_iter(kiocb: Kiocb<'_, EndpointPtr>, iov: &mut IovIterDest<'_>) -> Result<usize> {
        kiocb.device().recv(iov, kiocb.is_nonblocking())
    }

    fn write_iter(kiocb: Kiocb<'_, EndpointPtr>, iov: &mut IovIterSource<'_>) -> Result<usize> {
        // IOCB_NOWAIT forbids sleeping, including in the allocator.
        let gfp = if kiocb.is_nowait() { GFP_NOWAIT } else { GFP_KERNEL };
        kiocb.device().send(iov, gfp)
    }

    fn poll<'a>(ep: Pin<&'a Endpoint>, _file: &'a File, table: &mut PollTable<'a>) -> PollMask {
        ep.get_ref().poll(table)
    }
}
