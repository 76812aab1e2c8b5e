//! Tests of `rust/simnic/sock/aio_reads.rs`: order, the bound on live reads,
//! cancelled reads dropped on the next post, and a property test against a
//! model.

use crate::sock::aio_reads::{AioReads, PostFull, PostedRead};
use proptest::prelude::*;
use std::cell::Cell;
use std::rc::Rc;
use std::vec::Vec;

/// A posted read: an id and a cancel flag the test flips behind the
/// queue's back, as the AIO core does.
#[derive(Debug)]
struct R {
    id: u32,
    cancelled: Rc<Cell<bool>>,
}

impl PostedRead for R {
    fn is_cancelled(&self) -> bool {
        self.cancelled.get()
    }
}

fn r(id: u32) -> (R, Rc<Cell<bool>>) {
    let c = Rc::new(Cell::new(false));
    (
        R {
            id,
            cancelled: c.clone(),
        },
        c,
    )
}

type Q = AioReads<R, Vec<Option<R>>, 4>;

#[test]
fn fifo_order() {
    let mut q = Q::new();
    for id in 0..3 {
        q.push_back(r(id).0).unwrap();
    }
    assert_eq!(q.len(), 3);
    assert_eq!(q.pop_front().unwrap().id, 0);
    assert_eq!(q.len(), 2);
    q.push_back(r(3).0).unwrap();
    q.push_back(r(4).0).unwrap();
    let order: Vec<u32> = core::iter::from_fn(|| q.pop_front().map(|r| r.id)).collect();
    assert_eq!(order, [1, 2, 3, 4]);
    assert!(q.is_empty());
}

#[test]
fn bound_counts_live_reads_only() {
    let mut q = Q::new();
    let mut flags = Vec::new();
    for id in 0..4 {
        let (x, c) = r(id);
        q.push_back(x).unwrap();
        flags.push(c);
    }
    let (x, _) = r(9);
    let (x, why) = q.push_back(x).unwrap_err();
    assert_eq!((x.id, why), (9, PostFull::Slots));
    // Two are cancelled behind the queue's back: the next post drops them
    // and fits.
    flags[1].set(true);
    flags[2].set(true);
    q.push_back(x).unwrap();
    assert_eq!(q.len(), 3);
    let order: Vec<u32> = core::iter::from_fn(|| q.pop_front().map(|r| r.id)).collect();
    assert_eq!(order, [0, 3, 9]);
}

#[test]
fn drain_takes_all_oldest_first() {
    let mut q = Q::new();
    for id in 0..3 {
        q.push_back(r(id).0).unwrap();
    }
    q.pop_front();
    q.push_back(r(7).0).unwrap();
    let mut seen = Vec::new();
    q.drain(|r| seen.push(r.id));
    assert_eq!(seen, [1, 2, 7]);
    assert!(q.is_empty());
    // Usable again afterwards.
    q.push_back(r(8).0).unwrap();
    assert_eq!(q.pop_front().unwrap().id, 8);
}

#[derive(Clone, Debug)]
enum Op {
    Push,
    Pop,
    Cancel(usize),
    Prune,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Push),
        Just(Op::Pop),
        (0usize..8).prop_map(Op::Cancel),
        Just(Op::Prune),
    ]
}

proptest! {
    /// Against a model (a Vec of live and cancelled reads): the same order,
    /// never more than 4 live ones after a post, and every cancelled read
    /// dropped exactly once.
    #[test]
    fn matches_model(ops in proptest::collection::vec(op(), 0..200)) {
        let mut q = Q::new();
        let mut model: Vec<(u32, Rc<Cell<bool>>)> = Vec::new();
        let mut next = 0u32;
        for o in ops {
            match o {
                Op::Push => {
                    let (x, c) = r(next);
                    let res = q.push_back(x);
                    // The post dropped the cancelled ones first.
                    model.retain(|(_, c)| !c.get());
                    let live = model.len();
                    if live < 4 {
                        prop_assert!(res.is_ok());
                        model.push((next, c));
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
                        let (id, _) = model.remove(0);
                        let got = got.unwrap();
                        prop_assert_eq!(got.id, id);
                    }
                }
                Op::Cancel(i) => {
                    if let Some((_, c)) = model.get(i) {
                        c.set(true);
                    }
                }
                Op::Prune => {
                    let before = model.len();
                    model.retain(|(_, c)| !c.get());
                    prop_assert_eq!(q.prune(), before - model.len());
                }
            }
            prop_assert_eq!(q.len(), model.len());
        }
    }
}
