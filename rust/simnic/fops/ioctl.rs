// SPDX-License-Identifier: GPL-2.0

//! `unlocked_ioctl` of /dev/simnic: binding, addressing, send and receive
//! with addresses, shutdown, limits, counters, ring state, the traffic
//! generator and the mmap receive ring. The numbers and argument layouts are in `uapi.rs`; arguments
//! are copied as bytes (`UserSlice`), so bad pointers give `EFAULT` and bad
//! values `EINVAL`.
//!
//! The node is mode 0666, so every caller may be an unprivileged, hostile
//! user: what affects the whole NIC (the generator, the wire delay, the
//! loopback switch, the limits, resetting counters) needs `CAP_NET_ADMIN`,
//! as configuring a real network device does, and a receive buffer above
//! `rmem_max` is clamped without it (`SO_RCVBUF`).

use crate::sock::endpoint::Endpoint;
use crate::driver::nic::{GenRun, NicCore};
use crate::hw::pacer::Pacer;
use crate::uapi::*;
use core::sync::atomic::Ordering;
use kernel::{
    alloc::KVec,
    capability::{capable, CAP_NET_ADMIN},
    error::code::{ENOTTY, EPERM},
    prelude::*,
    rbtree::RBTreeNodeReservation,
    sync::{Arc, ArcBorrow},
    time::Ktime,
    uaccess::UserSlice,
};

/// Reads a `T` the size of `N` bytes from user address `arg`.
pub(crate) fn read_arg<const N: usize>(arg: usize) -> Result<[u8; N]> {
    let mut b = [0u8; N];
    UserSlice::new(arg, N).reader().read_slice(&mut b)?;
    Ok(b)
}

fn read_u32(arg: usize) -> Result<u32> {
    Ok(u32::from_ne_bytes(read_arg::<4>(arg)?))
}

pub(crate) fn write_arg(arg: usize, bytes: &[u8]) -> Result {
    UserSlice::new(arg, bytes.len()).writer().write_slice(bytes)
}

fn port_arg(v: u32) -> Result<u16> {
    u16::try_from(v).map_err(|_| EINVAL)
}

/// NIC-wide settings: `CAP_NET_ADMIN` or `EPERM`.
fn net_admin() -> Result {
    if capable(CAP_NET_ADMIN) { Ok(()) } else { Err(EPERM) }
}

/// Handles one ioctl on the endpoint `this`.
pub(crate) fn dispatch(this: ArcBorrow<'_, Endpoint>, nonblock: bool, cmd: u32, arg: usize) -> Result<isize> {
    let ep: &Endpoint = this.into_ref();
    let nic: &NicCore = &ep.nic;
    match cmd {
        SIMNIC_IOC_BIND => {
            let port = port_arg(read_u32(arg)?)?;
            // The rbtree node is allocated here, where we may sleep.
            let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
            let arc: Arc<Endpoint> = this.into();
            nic.ports.lock().bind(&arc, port, node)?;
            Ok(0)
        }
        SIMNIC_IOC_CONNECT => {
            ep.connect(port_arg(read_u32(arg)?)?);
            Ok(0)
        }
        SIMNIC_IOC_GET_PORT => {
            write_arg(arg, &(ep.port() as u32).to_ne_bytes())?;
            Ok(0)
        }
        SIMNIC_IOC_SENDTO => {
            let a = SendTo::from_bytes(&read_arg(arg)?);
            let port = port_arg(a.port)?;
            if a.flags & !SIMNIC_MSG_NOSIGNAL != 0 || a.reserved != 0 {
                return Err(EINVAL);
            }
            if a.len as usize > MAX_DATAGRAM {
                return Err(kernel::error::code_ext::EMSGSIZE);
            }
            let mut payload = KVec::new();
            UserSlice::new(a.buf as usize, a.len as usize).read_all(&mut payload, GFP_KERNEL)?;
            Endpoint::sendmsg(this, port, &payload, a.flags & SIMNIC_MSG_NOSIGNAL != 0).map(|n| n as isize)
        }
        SIMNIC_IOC_RECVFROM => {
            let mut a = RecvFrom::from_bytes(&read_arg(arg)?);
            // Check the argument is writable before a datagram is consumed
            // (writing back what was read changes nothing).
            write_arg(arg, &a.to_bytes())?;
            let dontwait = nonblock || a.flags & SIMNIC_RECV_DONTWAIT != 0;
            let (buf, room) = (a.buf as usize, a.buf_len as usize);
            let info = ep.recvmsg(room, dontwait, |bytes| write_arg(buf, bytes))?;
            a.flags = if info.copied < info.dgram_len { SIMNIC_MSG_TRUNC } else { 0 };
            a.dgram_len = info.dgram_len as u32;
            a.src_port = info.src_port as u32;
            // The datagram is consumed; the argument was writable a moment
            // ago, so only a concurrent munmap could make this fault.
            write_arg(arg, &a.to_bytes())?;
            Ok(info.copied as isize)
        }
        SIMNIC_IOC_SET_RCVBUF => {
            let v = read_u32(arg)?;
            if !(RCVBUF_MIN..=RCVBUF_MAX).contains(&v) {
                return Err(EINVAL);
            }
            // `sock_setsockopt(SO_RCVBUF)`: clamped to `rmem_max` unless
            // privileged (`SO_RCVBUFFORCE`).
            let v = if capable(CAP_NET_ADMIN) { v } else { v.min(nic.rmem_max.load(Ordering::Relaxed)) };
            ep.set_rcvbuf(v.max(RCVBUF_MIN));
            Ok(0)
        }
        SIMNIC_IOC_SHUTDOWN => {
            ep.shutdown(read_u32(arg)?)?;
            Ok(0)
        }
        SIMNIC_IOC_GET_LIMITS => {
            write_arg(arg, &nic.limits().to_bytes())?;
            Ok(0)
        }
        SIMNIC_IOC_SET_LIMITS => {
            net_admin()?;
            let l = Limits::from_bytes(&read_arg(arg)?);
            if !(RCVBUF_MIN..=RCVBUF_MAX).contains(&l.rmem_max) || l.rx_mem_max < RCVBUF_MIN {
                return Err(EINVAL);
            }
            nic.rmem_max.store(l.rmem_max, Ordering::Relaxed);
            nic.rx_mem_max.store(l.rx_mem_max, Ordering::Relaxed);
            Ok(0)
        }
        SIMNIC_IOC_SET_LOOPBACK => {
            net_admin()?;
            let on = match read_u32(arg)? {
                0 => false,
                1 => true,
                _ => return Err(EINVAL),
            };
            nic.loopback.store(on, Ordering::Relaxed);
            Ok(0)
        }
        SIMNIC_IOC_EP_STATS => {
            write_arg(arg, &ep.ep_stats().to_bytes())?;
            Ok(0)
        }
        SIMNIC_IOC_NIC_STATS => {
            write_arg(arg, &nic.stats.snapshot().to_bytes())?;
            Ok(0)
        }
        SIMNIC_IOC_RING_STATE => {
            write_arg(arg, &nic.ring_state().to_bytes())?;
            Ok(0)
        }
        SIMNIC_IOC_RESET_STATS => {
            net_admin()?;
            nic.stats.reset();
            Ok(0)
        }
        SIMNIC_IOC_GEN_START => {
            net_admin()?;
            let cfg = GenFlow::from_bytes(&read_arg(arg)?);
            gen_start(nic, ep.id, cfg)?;
            Ok(0)
        }
        SIMNIC_IOC_GEN_STOP => {
            net_admin()?;
            let flow = read_u32(arg)?;
            let mut hw = nic.hw.lock();
            if flow == u32::MAX {
                hw.flows.iter_mut().for_each(|f| *f = None);
            } else {
                *hw.flows.get_mut(flow as usize).ok_or(EINVAL)? = None;
            }
            Ok(0)
        }
        SIMNIC_IOC_SET_TX_DELAY => {
            net_admin()?;
            let ns = u64::from_ne_bytes(read_arg::<8>(arg)?);
            if ns > TX_DELAY_MAX_NS {
                return Err(EINVAL);
            }
            nic.tx_delay_ns.store(ns, Ordering::Relaxed);
            Ok(0)
        }
        SIMNIC_IOC_RX_RING_SETUP => {
            let req = RxRingReq::from_bytes(&read_arg(arg)?);
            // Writable before the ring is made: a ring whose layout the
            // caller never learnt would be of no use to it.
            write_arg(arg, &req.to_bytes())?;
            let layout = ep.rx_ring_setup(req)?;
            write_arg(arg, &layout.to_bytes())?;
            Ok(0)
        }
        SIMNIC_IOC_RX_RING_STATS => {
            write_arg(arg, &ep.rx_ring.stats().to_bytes())?;
            Ok(0)
        }
        FIONREAD => {
            write_arg(arg, &(ep.next_len() as i32).to_ne_bytes())?;
            Ok(0)
        }
        _ => Err(ENOTTY),
    }
}

fn gen_start(nic: &NicCore, owner: u64, cfg: GenFlow) -> Result {
    let ok = (cfg.flow as usize) < GEN_FLOWS
        && (1..=u16::MAX as u32).contains(&cfg.dst_port)
        && cfg.payload_len as usize <= MAX_DATAGRAM
        && cfg.reserved == 0;
    let now = Ktime::ktime_get().to_ns() as u64;
    let pacer = Pacer::new(cfg.rate_pps, cfg.burst, cfg.count, now).filter(|_| ok).ok_or(EINVAL)?;
    let mut hw = nic.hw.lock();
    let id = hw.next_id;
    hw.next_id += 1;
    hw.flows[cfg.flow as usize] = Some(GenRun { id, owner, cfg, pacer, seq: 0 });
    drop(hw);
    nic.ring_doorbell();
    Ok(())
}
