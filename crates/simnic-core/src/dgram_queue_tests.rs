//! Tests of `rust/simnic/sock/dgram_queue.rs`: examples of each rule, and a
//! property test that runs random operation sequences against a model.

use crate::sock::dgram_queue::{Datagram, DgramQueue, QueueFull, Slots, MIN_SLOTS};
use proptest::prelude::*;
use std::collections::VecDeque;
use std::vec::Vec;

/// A datagram identified by a sequence number, with a payload length.
#[derive(Clone, Debug, PartialEq, Eq)]
struct D {
    seq: u32,
    len: usize,
}

impl Datagram for D {
    fn truesize(&self) -> usize {
        self.len
    }
}

fn d(seq: u32, len: usize) -> D {
    D { seq, len }
}

/// The host's slot array, a `Vec`, which never fails to allocate.
impl<T> Slots<T> for Vec<Option<T>> {
    fn empty() -> Self {
        Vec::new()
    }
    fn try_with_slots(n: usize) -> Option<Self> {
        Some((0..n).map(|_| None).collect())
    }
    fn slots(&self) -> &[Option<T>] {
        self
    }
    fn slots_mut(&mut self) -> &mut [Option<T>] {
        self
    }
}

/// A slot array that allocates only while the thread-local budget allows.
struct Tight(Vec<Option<D>>);

std::thread_local! {
    static TIGHT_ALLOCS_LEFT: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

impl Slots<D> for Tight {
    fn empty() -> Self {
        Tight(Vec::new())
    }
    fn try_with_slots(n: usize) -> Option<Self> {
        TIGHT_ALLOCS_LEFT.with(|left| {
            let n_left = left.get();
            (n_left > 0).then(|| {
                left.set(n_left - 1);
                Tight((0..n).map(|_| None).collect())
            })
        })
    }
    fn slots(&self) -> &[Option<D>] {
        &self.0
    }
    fn slots_mut(&mut self) -> &mut [Option<D>] {
        &mut self.0
    }
}

type Q<const N: usize> = DgramQueue<D, Vec<Option<D>>, N>;

#[test]
fn fifo_order_and_byte_accounting() {
    let mut q: Q<4> = DgramQueue::new(100);
    assert!(q.is_empty());
    q.push_back(d(1, 10)).unwrap();
    q.push_back(d(2, 20)).unwrap();
    assert_eq!((q.len(), q.bytes()), (2, 30));
    let a = q.pop_front().unwrap();
    assert_eq!(a.seq, 1);
    // In flight: no longer queued, still charged.
    assert_eq!((q.len(), q.in_flight(), q.bytes()), (1, 1, 30));
    q.complete(a.len);
    assert_eq!((q.in_flight(), q.bytes()), (0, 20));
    assert_eq!(q.pop_front().unwrap().seq, 2);
    assert!(q.pop_front().is_none());
}

#[test]
fn slot_limit_counts_in_flight() {
    // A bound of 4 datagrams (the smallest the queue allows).
    let mut q: Q<4> = DgramQueue::new(1000);
    q.push_back(d(10, 1)).unwrap();
    q.push_back(d(11, 1)).unwrap();
    q.push_back(d(1, 1)).unwrap();
    q.push_back(d(2, 1)).unwrap();
    assert_eq!(q.push_back(d(3, 1)).unwrap_err().1, QueueFull::Slots);
    let a = q.pop_front().unwrap();
    // The popped datagram still holds its slot until it completes.
    assert_eq!(q.push_back(d(3, 1)).unwrap_err(), (d(3, 1), QueueFull::Slots));
    q.complete(a.len);
    q.push_back(d(3, 1)).unwrap();
}

#[test]
fn byte_limit_refuses_and_gives_datagram_back() {
    let mut q: Q<8> = DgramQueue::new(50);
    q.push_back(d(1, 40)).unwrap();
    assert!(q.has_room_for(10));
    assert!(!q.has_room_for(11));
    assert_eq!(q.push_back(d(2, 11)).unwrap_err(), (d(2, 11), QueueFull::Bytes));
    q.push_back(d(3, 10)).unwrap();
    // Zero-length datagrams only need a slot.
    q.push_back(d(4, 0)).unwrap();
    assert_eq!(q.bytes(), 50);
}

#[test]
fn requeue_after_failed_copy_restores_head_even_when_full() {
    let mut q: Q<4> = DgramQueue::new(40);
    for i in 0..4 {
        q.push_back(d(i, 10)).unwrap();
    }
    let a = q.pop_front().unwrap();
    // A writer cannot take the reserved slot...
    assert!(q.push_back(d(9, 0)).is_err());
    // ...so the requeue always fits, at the head.
    q.requeue_front(a);
    assert_eq!((q.len(), q.in_flight(), q.bytes()), (4, 0, 40));
    let order: Vec<u32> = core::iter::from_fn(|| q.pop_front().map(|x| x.seq)).collect();
    assert_eq!(order, [0, 1, 2, 3]);
}

#[test]
fn wraps_around_the_ring() {
    let mut q: Q<4> = DgramQueue::new(usize::MAX);
    for i in 0..100u32 {
        q.push_back(d(i, 1)).unwrap();
        let x = q.pop_front().unwrap();
        assert_eq!(x.seq, i);
        if i % 3 == 0 {
            q.requeue_front(x);
            assert_eq!(q.pop_front().unwrap().seq, i);
        }
        q.complete(1);
    }
    assert_eq!((q.len(), q.in_flight(), q.bytes()), (0, 0, 0));
}

#[derive(Clone, Debug)]
enum Op {
    Push(usize),
    Pop,
    CompleteOldest,
    RequeueNewest,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..40).prop_map(Op::Push),
        3 => Just(Op::Pop),
        2 => Just(Op::CompleteOldest),
        1 => Just(Op::RequeueNewest),
    ]
}

proptest! {
    /// Any interleaving of pushes, pops, completions and requeues keeps the
    /// queue equal to a VecDeque model: same contents in the same order, the
    /// same refusals, and limits that count in-flight datagrams.
    #[test]
    fn matches_model(ops in proptest::collection::vec(op(), 0..300)) {
        const N: usize = 9;
        const LIMIT: usize = 64;
        let mut q: Q<N> = DgramQueue::new(LIMIT);
        let mut queued: VecDeque<D> = VecDeque::new();
        let mut flying: Vec<D> = Vec::new();
        let mut seq = 0;
        for op in ops {
            let charged = |queued: &VecDeque<D>, flying: &Vec<D>| {
                queued.iter().chain(flying.iter()).map(|x| x.len).sum::<usize>()
            };
            match op {
                Op::Push(len) => {
                    seq += 1;
                    let expect = if queued.len() + flying.len() >= N {
                        Err(QueueFull::Slots)
                    } else if charged(&queued, &flying) + len > LIMIT {
                        Err(QueueFull::Bytes)
                    } else {
                        Ok(())
                    };
                    let got = q.push_back(d(seq, len)).map_err(|(back, why)| {
                        assert_eq!(back, d(seq, len));
                        why
                    });
                    prop_assert_eq!(got, expect);
                    if got.is_ok() {
                        queued.push_back(d(seq, len));
                    }
                }
                Op::Pop => {
                    let got = q.pop_front();
                    prop_assert_eq!(got.clone(), queued.pop_front());
                    flying.extend(got);
                }
                Op::CompleteOldest => {
                    if !flying.is_empty() {
                        let x = flying.remove(0);
                        q.complete(x.len);
                    }
                }
                Op::RequeueNewest => {
                    if let Some(x) = flying.pop() {
                        q.requeue_front(x.clone());
                        queued.push_front(x);
                    }
                }
            }
            prop_assert_eq!(q.len(), queued.len());
            prop_assert_eq!(q.in_flight(), flying.len());
            prop_assert_eq!(q.bytes(), charged(&queued, &flying));
            prop_assert!(q.len() + q.in_flight() <= q.capacity());
            prop_assert!(q.capacity() <= N);
            // Memory only while holding datagrams: drained, at most the
            // smallest array.
            if q.len() + q.in_flight() == 0 {
                prop_assert!(q.capacity() <= MIN_SLOTS);
            }
            prop_assert!(q.bytes() <= LIMIT);
        }
    }
}

#[test]
fn no_slots_until_the_first_datagram() {
    let q: Q<256> = DgramQueue::new(1000);
    assert_eq!(q.capacity(), 0);
}

#[test]
fn grows_by_doubling_to_the_bound_and_gives_memory_back_when_drained() {
    let mut q: Q<16> = DgramQueue::new(usize::MAX);
    let mut caps = Vec::new();
    for i in 0..16 {
        q.push_back(d(i, 1)).unwrap();
        caps.push(q.capacity());
    }
    assert_eq!(caps, [4, 4, 4, 4, 8, 8, 8, 8, 16, 16, 16, 16, 16, 16, 16, 16]);
    assert_eq!(q.push_back(d(99, 1)).unwrap_err().1, QueueFull::Slots);
    // FIFO order survived the moves.
    let order: Vec<u32> = core::iter::from_fn(|| q.pop_front().map(|x| x.seq)).collect();
    assert_eq!(order, (0..16).collect::<Vec<_>>());
    // In flight: the array stays (a requeue must find its slot).
    assert_eq!(q.capacity(), 16);
    for _ in 0..15 {
        q.complete(1);
    }
    assert_eq!(q.capacity(), 16);
    q.complete(1);
    assert_eq!(q.capacity(), 0);
}

#[test]
fn one_at_a_time_keeps_the_smallest_array() {
    let mut q: Q<256> = DgramQueue::new(usize::MAX);
    for i in 0..100 {
        q.push_back(d(i, 1)).unwrap();
        assert_eq!(q.pop_front().unwrap().seq, i);
        q.complete(1);
        assert_eq!(q.capacity(), MIN_SLOTS);
    }
}

#[test]
fn growth_keeps_wrapped_order_and_the_requeue_slot() {
    let mut q: Q<64> = DgramQueue::new(usize::MAX);
    // Wrap the head round the smallest array first.
    for i in 0..3 {
        q.push_back(d(i, 1)).unwrap();
        q.pop_front().unwrap();
        q.complete(1);
    }
    for i in 10..14 {
        q.push_back(d(i, 1)).unwrap();
    }
    let a = q.pop_front().unwrap();
    // Four slots: three queued, one held by the datagram in flight. The
    // next push grows the array.
    q.push_back(d(14, 1)).unwrap();
    assert_eq!(q.capacity(), 8);
    q.requeue_front(a);
    let order: Vec<u32> = core::iter::from_fn(|| q.pop_front().map(|x| x.seq)).collect();
    assert_eq!(order, [10, 11, 12, 13, 14]);
}

#[test]
fn a_failed_growth_refuses_the_datagram_and_loses_nothing() {
    let mut q: DgramQueue<D, Tight, 16> = DgramQueue::new(usize::MAX);
    TIGHT_ALLOCS_LEFT.with(|l| l.set(1));
    for i in 0..4 {
        q.push_back(d(i, 1)).unwrap();
    }
    assert_eq!(q.push_back(d(4, 1)).unwrap_err(), (d(4, 1), QueueFull::NoMem));
    assert_eq!((q.len(), q.bytes(), q.capacity()), (4, 4, 4));
    TIGHT_ALLOCS_LEFT.with(|l| l.set(1));
    q.push_back(d(4, 1)).unwrap();
    let order: Vec<u32> = core::iter::from_fn(|| q.pop_front().map(|x| x.seq)).collect();
    assert_eq!(order, [0, 1, 2, 3, 4]);
}
