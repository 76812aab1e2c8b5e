// SPDX-License-Identifier: GPL-2.0

//! The "hardware": the NIC's engine, running in its own kernel thread.
//!
//! Like a real NIC's DMA engine it runs independently of the CPU that drives
//! it: it sleeps until the driver rings the doorbell (a tail register write)
//! or its next deadline, then
//! - transmits every TX frame whose launch time has come, in ring order, onto
//!   the wire, which loops back into its own RX side: the frame is DMA'd into
//!   RX descriptors (buffer first, then the DD bit with release ordering), or
//!   counted as missed if the RX ring is full. With loopback off the frame
//!   leaves and is lost. Either way its TX descriptors get DD;
//! - runs the traffic generator's flows at their rates;
//! - raises its interrupt once per batch, for received frames (e1000's RXT0
//!   cause) and for completed transmissions (TXDW: so that TX reclaim, and
//!   the writers waiting for room, run even when nothing comes back), unless
//!   the driver masked it, in which case the cause is latched (interrupt
//!   mitigation).
//!
//! Why a kernel thread and not an hrtimer: the engine must sleep until an
//! event the driver signals (the doorbell) or a deadline (wire delay,
//! generator pacing), which is exactly a wait queue with a high-resolution
//! timeout; an hrtimer callback cannot wait, and would run the copy loops in
//! hard-irq context. The interrupt itself is genuinely hard-irq (irq_work).
//!
//! Two execution models (module parameter `hw_inline`):
//! - the thread: every doorbell wakes the engine thread, which runs on some
//!   CPU while the sender goes on; the hop costs a context switch (or an
//!   IPI and a switch on another CPU) per doorbell, which a real device
//!   does not cost its host;
//! - inline (the default): a doorbell with no wire delay runs the
//!   transmission in the writer's context, right at the register write,
//!   as if the device's DMA were instant. The thread still handles wire
//!   delays and the generator. Either way the frame goes through the same
//!   descriptors, DD bits and interrupt: only who executes the device
//!   changes. Whoever runs the engine holds `NicCore::engine`, as one
//!   device has one DMA engine.

use crate::hw::dma_buf::{chunk_len, DmaBuf, FrameSource};
use crate::hw::doorbell::{inline_doorbell, Engine, Rang};
use crate::hw::rx_ring::RxMissed;
use crate::hw::tx_ring::HwTx;
use crate::hw::irq_line::HwEvent;
use crate::driver::nic::{GenRun, NicCore};
use crate::driver::stats::{add, inc};
use crate::uapi::FrameHeader;
use core::sync::atomic::Ordering;
use kernel::{
    kthread::KThreadContext,
    sync::{
        lock::{mutex::MutexBackend, Guard},
        Arc, Mutex,
    },
    time::Ktime,
    trace::simnic as trace,
};

/// A frame of generator flow `flow`: header, then the flow id (u32 LE) and
/// sequence number (u64 LE), then zeros, cut at the payload length.
struct GenFrame {
    header: [u8; FrameHeader::SIZE],
    prefix: [u8; 12],
    payload_len: usize,
}

impl FrameSource for GenFrame {
    fn len(&self) -> usize {
        FrameHeader::SIZE + self.payload_len
    }

    fn write_chunk(&self, k: usize, dst: &DmaBuf) -> usize {
        let n = chunk_len(self.len(), k);
        dst.zero(n);
        if k == 0 {
            dst.write_at(0, &self.header);
            dst.write_at(FrameHeader::SIZE, &self.prefix[..self.payload_len.min(12)]);
        }
        n
    }
}

fn now_ns() -> u64 {
    Ktime::ktime_get().to_ns() as u64
}

/// The engine thread's body: runs until the module stops it.
pub(crate) fn run(ctx: &KThreadContext, nic: Arc<NicCore>) {
    loop {
        if ctx.should_stop() {
            break;
        }
        let (delivered, tx_done, next) = {
            let _engine = nic.engine.lock();
            // The time once the engine is ours: taking it may have waited.
            let now = now_ns();
            inc(&nic.stats.hw_runs);
            let (delivered, tx_done, tx_next) = transmit(&nic, now, u32::MAX);
            let (generated, gen_next) = generate(&nic, now);
            let next = match (tx_next, gen_next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            (delivered + generated, tx_done, next)
        };
        raise_irq(&nic, delivered, tx_done);
        // Under a flood (a generator faster than the emulated CPU) the next
        // deadline is always due and the wait below never sleeps: yield.
        ctx.cond_resched();
        let woken = || (nic.doorbell.take() || ctx.should_stop()).then_some(());
        // Sleep until the doorbell, the next deadline, or kthread_stop().
        // A kernel thread gets no signals, so the waits cannot fail.
        let _ = match next {
            Some(t) => nic.hw_wq.wait_interruptible_timeout(t.saturating_sub(now_ns()), woken).map(|_| ()),
            None => nic.hw_wq.wait_interruptible(woken),
        };
    }
}

/// The doorbell in the inline model (`NicCore::tx_doorbell`): runs the
/// transmission now, in the caller's context, if nobody else is running
/// the engine. Returns `false` if the thread must do it instead: the
/// engine was busy (its holder may have looked at the ring before this
/// frame was on it), or the pass left frames behind (a wire delay, or more
/// than its limit). The protocol is `hw/doorbell.rs`'s.
pub(crate) fn doorbell_inline(nic: &NicCore) -> bool {
    let (ran, rang) = inline_doorbell(&nic.engine, || {
        inc(&nic.stats.hw_runs);
        // At most one ring's worth: a writer's syscall must not go on
        // transmitting what other writers keep publishing.
        let (delivered, tx_done, next) = transmit(nic, now_ns(), nic.tx.ring().size());
        ((delivered, tx_done), next.is_some())
    });
    if let Some((delivered, tx_done)) = ran {
        raise_irq(nic, delivered, tx_done);
    }
    rang == Rang::RanInline
}

/// The engine's lock is the device's one DMA engine (`NicCore::engine`).
impl Engine for Mutex<()> {
    type Held<'a> = Guard<'a, (), MutexBackend>;

    fn try_hold(&self) -> Option<Guard<'_, (), MutexBackend>> {
        self.try_lock()
    }
}

/// The interrupt, after a batch: raised for received frames (RXT0) and
/// completed transmissions (TXDW), or latched if the driver masked it.
fn raise_irq(nic: &NicCore, delivered: u64, tx_done: u64) {
    if delivered == 0 && tx_done == 0 {
        return;
    }
    let event = nic.irq.hw_event();
    trace::irq_raise(delivered as u32, tx_done as u32, event == HwEvent::Raised);
    match event {
        HwEvent::Raised => {
            inc(&nic.stats.irqs);
            nic.intr.raise();
        }
        HwEvent::Suppressed => add(&nic.stats.irqs_suppressed, delivered),
    }
}

/// Transmits the TX frames due at `now`, at most `limit` of them (the
/// caller runs the engine): returns the frames put on the RX ring (RXT0),
/// the frames transmitted (TXDW), and when the next one is due (`now` if
/// the limit stopped it).
fn transmit(nic: &NicCore, now: u64, limit: u32) -> (u64, u64, Option<u64>) {
    let mut delivered = 0;
    let mut tx_done = 0;
    let mut next = None;
    // The wire is FIFO: a frame not yet due holds back those behind it.
    while let HwTx::Frame(f) = nic.tx.hw_peek() {
        if f.launch_ns > now {
            next = Some(f.launch_ns);
            break;
        }
        if tx_done == limit as u64 {
            next = Some(now);
            break;
        }
        if nic.loopback.load(Ordering::Relaxed) {
            let mut hdr = [0u8; 2];
            nic.tx.peek(&f, &mut hdr);
            let port = u16::from_le_bytes(hdr);
            let src = nic.tx.frame_source(&f);
            match nic.rx.hw_receive(&src, port) {
                Ok(descs) => {
                    trace::hw_rx_dma(descs, port, src.len() as u32);
                    delivered += 1
                }
                Err(RxMissed) => inc(&nic.stats.rx_missed),
            }
        } else {
            inc(&nic.stats.tx_lost);
        }
        nic.tx.hw_complete(&f);
        tx_done += 1;
    }
    (delivered, tx_done, next)
}

/// Runs the generator's flows due at `now` (the caller runs the engine):
/// returns the frames put on the RX ring and when a flow is next due.
fn generate(nic: &NicCore, now: u64) -> (u64, Option<u64>) {
    let mut delivered = 0;
    let mut next: Option<u64> = None;
    let soonest = |next: &mut Option<u64>, t: u64| *next = Some(next.map_or(t, |n| n.min(t)));
    // Run the flows on a copy, so the copying below is not done under the
    // lock the ioctls take; write back what was not restarted meanwhile.
    let started = nic.hw.lock().flows;
    let mut flows = started;
    for slot in flows.iter_mut() {
        let Some(run) = slot.as_mut() else { continue };
        let n = run.pacer.due(now);
        for _ in 0..n {
            let frame = gen_frame(run);
            run.seq += 1;
            inc(&nic.stats.gen_packets);
            match nic.rx.hw_receive(&frame, run.cfg.dst_port as u16) {
                Ok(descs) => {
                    trace::hw_rx_dma(descs, run.cfg.dst_port as u16, frame.len() as u32);
                    delivered += 1
                }
                Err(RxMissed) => inc(&nic.stats.rx_missed),
            }
        }
        match run.pacer.next_due_ns() {
            Some(t) => soonest(&mut next, t),
            None => *slot = None,
        }
    }
    let mut hw = nic.hw.lock();
    for (cur, (was, now)) in hw.flows.iter_mut().zip(started.iter().zip(flows.iter())) {
        if cur.map(|r| r.id) == was.map(|r| r.id) {
            *cur = *now;
        }
    }
    (delivered, next)
}

fn gen_frame(run: &GenRun) -> GenFrame {
    let header = FrameHeader { dst_port: run.cfg.dst_port as u16, src_port: 0, len: run.cfg.payload_len }.encode();
    let mut prefix = [0u8; 12];
    prefix[..4].copy_from_slice(&run.cfg.flow.to_le_bytes());
    prefix[4..].copy_from_slice(&run.seq.to_le_bytes());
    GenFrame { header, prefix, payload_len: run.cfg.payload_len as usize }
}
