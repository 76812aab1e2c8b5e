//! Memory per endpoint: open N, let the system settle, and compare
//! `/proc/meminfo` (and `/proc/slabinfo` when the kernel has it) before and
//! after: the idle endpoint. Then queue one datagram on each of the N,
//! settle, and read again: the endpoint with one datagram queued. The same
//! for N UDP sockets bound to 127.0.0.1.

use crate::sys;
use crate::throughput::nic_drops;
use simnic::Endpoint;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// The `/proc/meminfo` fields compared, and the sign that makes "more
/// memory used" positive: MemFree and MemAvailable go down as memory is
/// used, the others go up. [`FREE_PCP`] is not meminfo's: see [`reading`].
pub const FIELDS: [(&str, i64); 7] = [
    (FREE_PCP, -1),
    ("MemAvailable", -1),
    ("MemFree", -1),
    ("Slab", 1),
    ("SUnreclaim", 1),
    ("VmallocUsed", 1),
    ("Percpu", 1),
];

/// What `n` objects cost, in one state (idle, or one datagram queued).
pub struct MemResult {
    pub n: usize,
    /// Per field of [`FIELDS`]: bytes used by all `n` objects (signed).
    pub used: BTreeMap<&'static str, i64>,
    /// Slab caches that grew, by bytes (active objects times object size),
    /// largest first; `None` without `/proc/slabinfo`.
    pub slab_growth: Option<Vec<(String, i64, i64)>>,
}

impl MemResult {
    /// Bytes per object of `field`.
    pub fn per_obj(&self, field: &str) -> f64 {
        self.used.get(field).copied().unwrap_or(0) as f64 / self.n as f64
    }
}

/// Free pages counted with those parked on the per-CPU free lists, bytes.
/// `MemFree` (and `MemAvailable`, computed from it) leaves out the pages
/// the per-CPU lists hold, and those lists move by megabytes on their own:
/// after boot the kernel drains them a little every second
/// (`decay_pcp_high`), and any burst of frees refills them. Counted
/// together, the two stay within a few hundred KiB with nothing happening,
/// where MemFree alone drifted by 24 MB over the first 24 s.
pub const FREE_PCP: &str = "MemFree+pcp";

/// `/proc/meminfo`, plus [`FREE_PCP`] from it and `/proc/zoneinfo` (left
/// out when the kernel has no zoneinfo).
fn reading() -> io::Result<BTreeMap<String, u64>> {
    let mut m = sys::meminfo()?;
    if let (Some(free), Some(pcp)) = (m.get("MemFree").copied(), sys::pcp_free_pages()) {
        m.insert(FREE_PCP.to_string(), free + pcp * sys::page_size());
    }
    Ok(m)
}

fn used(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<&'static str, i64> {
    FIELDS
        .iter()
        .filter_map(|&(f, sign)| {
            let (b, a) = (*before.get(f)? as i64, *after.get(f)? as i64);
            Some((f, sign * (a - b)))
        })
        .collect()
}

/// Changes between two meminfo readings with nothing opened in between:
/// the noise floor of [`measure`].
pub fn noise(settle: f64) -> io::Result<BTreeMap<&'static str, i64>> {
    sys::sleep_secs(settle);
    let a = reading()?;
    sys::sleep_secs(settle);
    let b = reading()?;
    Ok(used(&a, &b))
}

/// The slab caches that grew from `before` to `after`, largest growth in
/// bytes first; `None` without `/proc/slabinfo`.
fn slab_growth(
    before: Option<BTreeMap<String, (u64, u64)>>,
    after: Option<BTreeMap<String, (u64, u64)>>,
) -> Option<Vec<(String, i64, i64)>> {
    let (b, a) = (before?, after?);
    let mut g: Vec<(String, i64, i64)> = a
        .iter()
        .map(|(name, &(objs, size))| {
            let (objs0, _) = b.get(name).copied().unwrap_or((0, size));
            let d = objs as i64 - objs0 as i64;
            (name.clone(), d, d * size as i64)
        })
        .filter(|(_, d, _)| *d > 0)
        .collect();
    g.sort_by_key(|x| std::cmp::Reverse(x.2));
    Some(g)
}

/// The idle objects, and the same objects with one datagram queued each.
pub struct MemPair {
    pub idle: MemResult,
    pub queued: MemResult,
    /// What `fill` reported about the datagrams (how they were checked,
    /// what the receive queues were charged).
    pub fill_note: String,
}

/// Opens `n` objects with `open`, keeps them idle for `settle` seconds, and
/// measures; then, with `fill`, queues one datagram on each (`fill` must
/// leave exactly one on every object and say how it checked), settles and
/// measures again; then closes them all. Whatever `fill` sends from must be
/// open before this is called, so that it is not counted.
pub fn measure<T>(
    n: usize,
    settle: f64,
    mut open: impl FnMut() -> io::Result<T>,
    fill: impl FnOnce(&[T]) -> io::Result<String>,
) -> io::Result<MemPair> {
    let mut objs = Vec::with_capacity(n);
    sys::sleep_secs(settle);
    let before = reading()?;
    let slab_before = sys::slabinfo();
    for _ in 0..n {
        objs.push(open()?);
    }
    sys::sleep_secs(settle);
    let idle = reading()?;
    let slab_idle = sys::slabinfo();
    let fill_note = fill(&objs)?;
    sys::sleep_secs(settle);
    let after = reading()?;
    let slab_after = sys::slabinfo();
    let queued = MemResult {
        n,
        used: used(&before, &after),
        slab_growth: slab_growth(slab_before.clone(), slab_after),
    };
    drop(objs);
    Ok(MemPair {
        idle: MemResult {
            n,
            used: used(&before, &idle),
            slab_growth: slab_growth(slab_before, slab_idle),
        },
        queued,
        fill_note,
    })
}

/// Sends one `size`-byte datagram to each of `dests` with `send`, then
/// waits until `queued` says each holds exactly one: a destination still
/// empty once `settled` says nothing is in flight any more was dropped and
/// is sent to again. Fails after `rounds` such rounds, or if one holds
/// more than one. `send` may refuse for want of room (`ENOBUFS`,
/// `EAGAIN`): the caller yields and tries again.
pub fn fill_one_each(
    dests: usize,
    rounds: usize,
    mut send: impl FnMut(usize) -> io::Result<()>,
    mut queued: impl FnMut(usize) -> io::Result<usize>,
    mut settled: impl FnMut() -> io::Result<bool>,
) -> io::Result<usize> {
    let mut todo: Vec<usize> = (0..dests).collect();
    let mut resent = 0;
    for round in 0..rounds {
        if round > 0 {
            resent += todo.len();
        }
        for &i in &todo {
            loop {
                match send(i) {
                    Ok(()) => break,
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::ENOBUFS) | Some(libc::EAGAIN)) =>
                    {
                        sys::yield_cpu()
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let t0 = sys::now_ns();
        while !settled()? {
            if sys::now_ns() - t0 > 10_000_000_000 {
                return Err(io::Error::other("datagrams still in flight after 10 s"));
            }
            sys::sleep_secs(0.01);
        }
        let mut missing = Vec::new();
        for i in 0..dests {
            match queued(i)? {
                0 => missing.push(i),
                1 => {}
                k => {
                    return Err(io::Error::other(format!(
                        "destination {i} holds {k} datagrams, not one"
                    )))
                }
            }
        }
        if missing.is_empty() {
            return Ok(resent);
        }
        todo = missing;
    }
    Err(io::Error::other(format!(
        "{} of {dests} destinations still without their datagram after {rounds} rounds",
        todo.len()
    )))
}

/// Queues one `size`-byte datagram on each of `eps`, sent from `sender`
/// (`SIMNIC_IOC_SENDTO`), and checks with each endpoint's counters
/// (`SIMNIC_IOC_EP_STATS`: `queued`) that it holds exactly one. Returns
/// what the receive queues were charged.
pub fn fill_simnic(sender: &Endpoint, eps: &[Endpoint], size: usize) -> io::Result<String> {
    let ports: Vec<u32> = eps.iter().map(Endpoint::port).collect::<io::Result<_>>()?;
    let payload = vec![0x5au8; size];
    let base = sender.nic_stats()?;
    let sent = Cell::new(0u64);
    let resent = fill_one_each(
        eps.len(),
        5,
        |i| {
            sender.send_to(ports[i], &payload)?;
            sent.set(sent.get() + 1);
            Ok(())
        },
        |i| Ok(eps[i].ep_stats()?.queued as usize),
        || {
            let d = sender.nic_stats()?.wrapping_sub(&base);
            let arrived = d.rx_packets + nic_drops(&d).iter().map(|x| x.1).sum::<u64>();
            Ok(arrived >= sent.get())
        },
    )?;
    let charged: u64 = eps
        .iter()
        .map(|e| e.ep_stats().map(|s| u64::from(s.queued_bytes)))
        .sum::<io::Result<u64>>()?;
    let d = sender.nic_stats()?.wrapping_sub(&base);
    Ok(format!(
        "queued={} (EpStats.queued = 1 on every endpoint) resent_after_drop={resent} receive queue charge per datagram={} B (queued_bytes) NIC rx_packets={} drops={}",
        eps.len(),
        charged / eps.len().max(1) as u64,
        d.rx_packets,
        nic_drops(&d).iter().map(|x| x.1).sum::<u64>()
    ))
}

/// Queues one `size`-byte datagram on each of the UDP sockets `socks`,
/// sent with `sendto()` from `sender`, and checks that every socket has
/// one (`FIONREAD`) and that every socket's receive queue is charged the
/// same (`/proc/net/udp` `rx_queue`, the `sk_rmem_alloc`): one datagram
/// each, not two. (`InDatagrams` counts datagrams when they are read, so
/// it cannot tell what arrived; what is queued, plus `InErrors`, can.)
/// Returns what the receive queues were charged.
pub fn fill_udp(sender: &OwnedFd, socks: &[OwnedFd], size: usize) -> io::Result<String> {
    let ports: Vec<u16> = socks
        .iter()
        .map(sys::udp_local_port)
        .collect::<io::Result<_>>()?;
    let payload = vec![0x5au8; size];
    let counter = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    let base = sys::udp_snmp()?;
    let sent = Cell::new(0u64);
    let nonempty = || -> io::Result<u64> {
        let mut k = 0;
        for s in socks {
            k += u64::from(sys::fionread(s.as_raw_fd())? > 0);
        }
        Ok(k)
    };
    let resent = fill_one_each(
        socks.len(),
        5,
        |i| {
            sys::udp_sendto(sender.as_raw_fd(), ports[i], &payload)?;
            sent.set(sent.get() + 1);
            Ok(())
        },
        |i| Ok(usize::from(sys::fionread(socks[i].as_raw_fd())? > 0)),
        || {
            let errs = counter(&sys::udp_snmp()?, "InErrors") - counter(&base, "InErrors");
            Ok(nonempty()? + errs >= sent.get())
        },
    )?;
    let set: BTreeSet<u16> = ports.iter().copied().collect();
    let charges = sys::udp_rx_queues(&set)?;
    let (lo, hi) = (
        charges.values().copied().min().unwrap_or(0),
        charges.values().copied().max().unwrap_or(0),
    );
    if charges.len() != socks.len() || lo == 0 || lo != hi {
        return Err(io::Error::other(format!(
            "UDP receive queues after one datagram each: {} sockets listed, charged {lo}..{hi} bytes",
            charges.len()
        )));
    }
    Ok(format!(
        "queued={} (FIONREAD > 0 on every socket, the same rx_queue on every socket) resent_after_drop={resent} receive queue charge per datagram={lo} B (rx_queue of /proc/net/udp)",
        socks.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::fill_one_each;
    use std::cell::RefCell;
    use std::io;

    /// A fake NIC: `drop_first` lists destinations whose first datagram is
    /// lost; `dup` one that receives every datagram twice.
    fn run(
        n: usize,
        drop_first: &[usize],
        dup: Option<usize>,
        refuse_every: usize,
    ) -> io::Result<(usize, Vec<usize>)> {
        let held = RefCell::new(vec![0usize; n]);
        let tries = RefCell::new(vec![0usize; n]);
        let calls = RefCell::new(0usize);
        let resent = fill_one_each(
            n,
            3,
            |i| {
                *calls.borrow_mut() += 1;
                if refuse_every > 0 && (*calls.borrow()).is_multiple_of(refuse_every) {
                    return Err(io::Error::from_raw_os_error(libc::ENOBUFS));
                }
                tries.borrow_mut()[i] += 1;
                if tries.borrow()[i] == 1 && drop_first.contains(&i) {
                    return Ok(());
                }
                held.borrow_mut()[i] += if dup == Some(i) { 2 } else { 1 };
                Ok(())
            },
            |i| Ok(held.borrow()[i]),
            || Ok(true),
        )?;
        let held = held.borrow().clone();
        Ok((resent, held))
    }

    #[test]
    fn one_datagram_each_resending_only_the_lost() {
        let (resent, held) = run(10, &[], None, 0).unwrap();
        assert_eq!((resent, held), (0, vec![1; 10]));
        let (resent, held) = run(10, &[2, 7], None, 0).unwrap();
        assert_eq!((resent, held), (2, vec![1; 10]));
        // A refused send (TX ring full) is retried, not counted as sent.
        let (resent, held) = run(10, &[4], None, 3).unwrap();
        assert_eq!((resent, held), (1, vec![1; 10]));
    }

    #[test]
    fn two_on_one_destination_is_an_error() {
        let e = run(5, &[], Some(3), 0).unwrap_err();
        assert!(e.to_string().contains("holds 2"), "{e}");
    }

    #[test]
    fn a_destination_that_never_gets_one_is_an_error() {
        let e =
            fill_one_each(3, 2, |_| Ok(()), |i| Ok(usize::from(i != 1)), || Ok(true)).unwrap_err();
        assert!(e.to_string().contains("1 of 3"), "{e}");
    }
}
