//! Tests of `rust/simnic/sock/aio_reads.rs`: order, the bound on live reads,
//! cancelled reads dropped on the next post, charges, and a property test
//! against a model.

use crate::sock::aio_reads::{AioReads, PostFull, PostedRead};
use proptest::prelude::*;
use std::cell::Cell;
use std::rc::Rc;
use std::vec::Vec;

/// A posted read: an id, a charge, and a cancel flag the test flips behind
/// the queue's back, as the AIO core does.
#[derive(Debug)]
struct R {
    id: u32,
    charge: usize,
    cancelled: Rc<Cell<bool>>,
}

impl PostedRead for R {
    fn is_cancelled(&self) -> bool {
        self.cancelled.get()
    }
    fn charge(&self) -> usize {
        self.charge
    }
}

fn r(id: u32, charge: usize) -> (R, Rc<Cell<bool>>) {
    let c = Rc::new(Cell::new(false));
    (
        R {
            id,
            charge,
            cancelled: c.clone(),
        },
        c,
    )
}

type Q = AioReads<R, Vec<Option<R>>, 4>;

#[test]
fn fifo_order_and_charges() {
    let mut q = Q::new();
    let mut freed = 0;
    for id in 0..3 {
        q.push_back(r(id, 100 + id as usize).0, &mut freed).unwrap();
    }
    assert_eq!((q.len(), q.bytes(), freed), (3, 303, 0));
    assert_eq!(q.pop_front().unwrap().id, 0);
    assert_eq!(q.bytes(), 203);
    q.push_back(r(3, 1).0, &mut freed).unwrap();
    q.push_back(r(4, 1).0, &mut freed).unwrap();
    let order: Vec<u32> = core::iter::from_fn(|| q.pop_front().map(|r| r.id)).collect();
    assert_eq!(order, [1, 2, 3, 4]);
    assert_eq!((q.len(), q.bytes()), (0, 0));
}

#[test]
fn bound_counts_live_reads_only() {
    let mut q = Q::new();
    let mut freed = 0;
    let mut flags = Vec::new();
    for id in 0..4 {
        let (x, c) = r(id, 10);
        q.push_back(x, &mut freed).unwrap();
        flags.push(c);
    }
    let (x, _) = r(9, 10);
    let (x, why) = q.push_back(x, &mut freed).unwrap_err();
    assert_eq!((x.id, why), (9, PostFull::Slots));
    // Two are cancelled behind the queue's back: the next post drops them
    // (their charge comes back) and fits.
    flags[1].set(true);
    flags[2].set(true);
    q.push_back(x, &mut freed).unwrap();
    assert_eq!((q.len(), q.bytes(), freed), (3, 30, 20));
    let order: Vec<u32> = core::iter::from_fn(|| q.pop_front().map(|r| r.id)).collect();
    assert_eq!(order, [0, 3, 9]);
}

#[test]
fn drain_takes_all_oldest_first() {
    let mut q = Q::new();
    let mut freed = 0;
    for id in 0..3 {
        q.push_back(r(id, 5).0, &mut freed).unwrap();
    }
    q.pop_front();
    q.push_back(r(7, 5).0, &mut freed).unwrap();
    let mut seen = Vec::new();
    assert_eq!(q.drain(|r| seen.push(r.id)), 15);
    assert_eq!(seen, [1, 2, 7]);
    assert_eq!((q.len(), q.bytes()), (0, 0));
    // Usable again afterwards.
    q.push_back(r(8, 5).0, &mut freed).unwrap();
    assert_eq!(q.pop_front().unwrap().id, 8);
}

#[derive(Clone, Debug)]
enum Op {
    Push(usize),
    Pop,
    Cancel(usize),
    Prune,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1usize..1000).prop_map(Op::Push),
        Just(Op::Pop),
        (0usize..8).prop_map(Op::Cancel),
        Just(Op::Prune),
    ]
}

proptest! {
    /// Against a model (a Vec of live and cancelled reads): the same order,
    /// never more than 4 live ones after a post, charges that add up, and
    /// every charge given back exactly once.
    #[test]
    fn matches_model(ops in proptest::collection::vec(op(), 0..200)) {
        let mut q = Q::new();
        let mut model: Vec<(u32, usize, Rc<Cell<bool>>)> = Vec::new();
        let (mut charged, mut given_back) = (0usize, 0usize);
        let mut next = 0u32;
        for o in ops {
            match o {
                Op::Push(charge) => {
                    let (x, c) = r(next, charge);
                    let mut freed = 0;
                    let res = q.push_back(x, &mut freed);
                    given_back += freed;
                    // The post dropped the cancelled ones first.
                    model.retain(|(_, _, c)| !c.get());
                    let live = model.len();
                    if live < 4 {
                        prop_assert!(res.is_ok());
                        model.push((next, charge, c));
                        charged += charge;
                    } else {
                        prop_assert_eq!(res.unwrap_err().1, PostFull::Slots);
                    }
                    next += 1;
                }
                Op::Pop => {
                    let got = q.pop_front();
                    if model.is_empty() {
                        prop_assert!(got.is_none());
                    } else {
                        let (id, ch, _) = model.remove(0);
                        let got = got.unwrap();
                        prop_assert_eq!(got.id, id);
                        given_back += ch;
                    }
                }
                Op::Cancel(i) => {
                    if let Some((_, _, c)) = model.get(i) {
                        c.set(true);
                    }
                }
                Op::Prune => {
                    given_back += q.prune();
                    model.retain(|(_, _, c)| !c.get());
                }
            }
            prop_assert_eq!(q.len(), model.len());
            prop_assert_eq!(q.bytes(), model.iter().map(|m| m.1).sum::<usize>());
            prop_assert_eq!(charged, given_back + q.bytes());
        }
    }
}
