//! Tests of `rust/simnic/hw/doorbell.rs`, the inline model's doorbell:
//! writer threads put frames on the real TX ring and ring the doorbell
//! through `inline_doorbell`, racing an engine thread that runs passes and
//! sleeps on the `DoorbellFlag`, as `hw/engine.rs` does (same functions,
//! same order). The engine thread never looks at the ring by itself: a
//! frame that the protocol strands stays on the ring, and the test sees it.

use crate::hw::dma_buf::{DmaBuf, HeaderAndPayload};
use crate::hw::doorbell::{inline_doorbell, DoorbellFlag, Engine, Rang};
use crate::hw::ring::Ring;
use crate::hw::tx_ring::{HwTx, TxDesc, TxProducer, TxRing};
use std::format;
use std::string::String;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};
use std::vec::Vec;

/// The engine as the driver's `Mutex<()>`, through std's `try_lock`.
struct StdEngine(Mutex<()>);

impl Engine for StdEngine {
    type Held<'a> = MutexGuard<'a, ()>;

    fn try_hold(&self) -> Option<MutexGuard<'_, ()>> {
        self.0.try_lock().ok()
    }
}

/// What `NicCore` has of the protocol: the TX ring and its producer lock,
/// the engine, the doorbell flag and the engine thread's wait queue.
struct Nic<'a> {
    tx: TxRing<&'a [TxDesc], &'a [DmaBuf]>,
    producer: Mutex<TxProducer>,
    engine: StdEngine,
    doorbell: DoorbellFlag,
    hw_wq: (Mutex<()>, Condvar),
    transmitted: AtomicU64,
    stop: AtomicBool,
}

impl Nic<'_> {
    /// `engine.rs` `transmit` without the RX side: every frame on the ring,
    /// at most `limit`; returns how many and whether any were left.
    fn pass(&self, limit: u64) -> (u64, bool) {
        let mut n = 0;
        let mut left = false;
        while let HwTx::Frame(f) = self.tx.hw_peek() {
            if n == limit {
                left = true;
                break;
            }
            self.tx.hw_complete(&f);
            n += 1;
        }
        self.transmitted.fetch_add(n, SeqCst);
        // The engine is still held after the last look at the ring (the
        // kernel's pass returns, then the guard drops): a writer that
        // publishes now finds it busy. Widen that window.
        thread::yield_now();
        (n, left)
    }

    /// `NicCore::ring_doorbell`: the flag, then the wake-up (under the wait
    /// queue's lock, as `wake_up` takes it).
    fn ring_doorbell(&self) {
        self.doorbell.ring();
        let _q = self.hw_wq.0.lock().unwrap();
        self.hw_wq.1.notify_all();
    }

    /// `engine.rs` `run`: a pass holding the engine, then sleep until the
    /// doorbell is taken. No timeout: it looks only when rung.
    fn engine_thread(&self) {
        loop {
            {
                let _held = self.engine.0.lock().unwrap();
                self.pass(u64::MAX);
            }
            let mut q = self.hw_wq.0.lock().unwrap();
            while !self.doorbell.take() {
                if self.stop.load(SeqCst) {
                    return;
                }
                q = self.hw_wq.1.wait(q).unwrap();
            }
        }
    }

    /// A writer's datagram: `start_xmit` (reclaim, then the frame) and the
    /// inline doorbell with a pass of at most `limit` frames. A full ring
    /// is retried (a datagram writer would get ENOBUFS and try again) until
    /// `deadline`: frames stranded on a full ring would block it forever.
    fn send(&self, limit: u64, deadline: Instant) -> Result<Rang, String> {
        let (h, pl) = ([0u8; 8], [0x5au8; 16]);
        loop {
            let r = {
                let mut p = self.producer.lock().unwrap();
                self.tx.clean(&mut p);
                self.tx.xmit(&mut p, &HeaderAndPayload { header: &h, payload: &pl }, 0)
            };
            if r.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("the TX ring stayed full: {} frames transmitted", self.transmitted.load(SeqCst)));
            }
            thread::yield_now();
        }
        let (_, rang) = inline_doorbell(&self.engine, || self.pass(limit));
        if rang == Rang::WakeThread {
            self.ring_doorbell();
        }
        Ok(rang)
    }
}

fn ring(size: u32) -> Ring {
    Ring::new(size).unwrap()
}

/// `writers` threads send `each` frames through a `slots`-slot ring with
/// inline passes of at most `limit`; returns how the doorbells went
/// (inline, thread) once every frame was transmitted, or why not.
fn race(writers: u64, each: u64, slots: u32, limit: u64) -> Result<(u64, u64), String> {
    let descs: Vec<TxDesc> = (0..slots).map(|_| TxDesc::default()).collect();
    let bufs: Vec<DmaBuf> = (0..slots).map(|_| DmaBuf::new()).collect();
    let nic = Nic {
        tx: TxRing::new(ring(slots), &descs[..], &bufs[..]),
        producer: Mutex::new(TxProducer::default()),
        engine: StdEngine(Mutex::new(())),
        doorbell: DoorbellFlag::new(),
        hw_wq: (Mutex::new(()), Condvar::new()),
        transmitted: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let inline = AtomicU64::new(0);
    let woke = AtomicU64::new(0);
    let r = thread::scope(|s| {
        let engine = s.spawn(|| nic.engine_thread());
        let senders: Vec<_> = (0..writers)
            .map(|_| {
                s.spawn(|| -> Result<(), String> {
                    for _ in 0..each {
                        match nic.send(limit, deadline)? {
                            Rang::RanInline => inline.fetch_add(1, SeqCst),
                            Rang::WakeThread => woke.fetch_add(1, SeqCst),
                        };
                    }
                    Ok(())
                })
            })
            .collect();
        let sent: Result<(), String> = senders.into_iter().try_for_each(|h| h.join().unwrap());
        // Every frame must be transmitted with nobody ringing any more:
        // one stranded on the ring stays there.
        let total = writers * each;
        let settled = loop {
            if nic.transmitted.load(SeqCst) == total {
                break Ok(());
            }
            if Instant::now() > deadline {
                break Err(format!(
                    "{} of {total} frames transmitted, the rest stranded on the ring (head {}, tail {})",
                    nic.transmitted.load(SeqCst),
                    nic.tx.head(),
                    nic.tx.tail()
                ));
            }
            thread::sleep(Duration::from_millis(1));
        };
        nic.stop.store(true, SeqCst);
        nic.ring_doorbell();
        engine.join().unwrap();
        sent.and(settled)
    });
    r.map(|()| (inline.load(SeqCst), woke.load(SeqCst)))
}

#[test]
fn a_free_engine_runs_inline_and_a_busy_one_wakes_the_thread() {
    let e = StdEngine(Mutex::new(()));
    assert_eq!(inline_doorbell(&e, || (7, false)), (Some(7), Rang::RanInline));
    assert_eq!(inline_doorbell(&e, || (7, true)), (Some(7), Rang::WakeThread), "frames left behind");
    let held = e.0.lock().unwrap();
    let mut ran = false;
    assert_eq!(
        inline_doorbell(&e, || {
            ran = true;
            (0, false)
        }),
        (None, Rang::WakeThread)
    );
    assert!(!ran, "the pass ran without the engine");
    drop(held);
    assert!(e.try_hold().is_some(), "the inline pass let the engine go");
}

#[test]
fn the_flag_is_taken_once_per_ring() {
    let f = DoorbellFlag::new();
    assert!(!f.take());
    f.ring();
    f.ring();
    assert!(f.take());
    assert!(!f.take());
}

/// Four writers and the engine thread over the smallest ring (64), passes of
/// two frames: busy engines, passes with frames left, a full ring. Every
/// frame is transmitted, and both ways of the doorbell happened. Which way
/// each doorbell goes depends on the host's scheduling: on a loaded host
/// the engine can be busy at every doorbell of 20 rounds, so rounds go on
/// (every fourth with one writer, whose doorbells find the engine free
/// more often) until both ways were seen, for up to a minute.
#[test]
fn no_frame_stranded_under_contention() {
    let mut both = (0, 0);
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < 20 || ((both.0 == 0 || both.1 == 0) && start.elapsed() < Duration::from_secs(60)) {
        let writers = if rounds % 4 == 3 { 1 } else { 4 };
        let (inline, woke) = race(writers, 500, 64, 2).unwrap();
        both.0 += inline;
        both.1 += woke;
        rounds += 1;
    }
    assert!(
        both.0 > 0 && both.1 > 0,
        "inline {}, thread {} in {rounds} rounds: the race did not take both ways",
        both.0,
        both.1
    );
}
