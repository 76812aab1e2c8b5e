// SPDX-License-Identifier: GPL-2.0

//! The port table: which endpoint is bound to which port, what the receive
//! path's protocol demux looks up (like `udp_table` and `__udp4_lib_lookup`).
//!
//! An rbtree keyed by port, under a BH spinlock (the NAPI poll looks ports
//! up in softirq context). Ports from `EPHEMERAL_PORT_FIRST` up are handed to
//! endpoints that did not choose one, round-robin like `udp_lib_get_port`,
//! found in a bitmap of the taken ones (`port_bitmap.rs`): binding is
//! O(log n) with n endpoints, so opening 10,000 of them is O(n log n).

use crate::sock::endpoint::Endpoint;
use crate::sock::port_bitmap::PortBitmap;
use crate::uapi::EPHEMERAL_PORT_FIRST;
use kernel::{
    error::code_ext::EADDRINUSE,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::Arc,
};

/// Bound endpoints by port.
pub(crate) struct PortTable {
    map: RBTree<u16, Arc<Endpoint>>,
    /// The ephemeral ports among `map`'s keys.
    ephemeral: PortBitmap,
}

impl PortTable {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self { map: RBTree::new(), ephemeral: PortBitmap::new(EPHEMERAL_PORT_FIRST) }
    }


    /// The endpoint bound to `port`.
    pub(crate) fn lookup(&self, port: u16) -> Option<Arc<Endpoint>> {
        self.map.get(&port).cloned()
    }

    /// Binds `ep` to `port` (0: a free ephemeral port) using the node
    /// reserved beforehand (allocation cannot happen under this lock),
    /// releasing the port it had. Returns the port.
    pub(crate) fn bind(
        &mut self,
        ep: &Arc<Endpoint>,
        port: u16,
        node: RBTreeNodeReservation<u16, Arc<Endpoint>>,
    ) -> Result<u16> {
        let old = ep.port();
        if port != 0 && port == old {
            return Ok(port);
        }
        let port = if port == 0 { self.ephemeral.find_free().ok_or(EADDRINUSE)? } else { port };
        if self.map.get(&port).is_some() {
            return Err(EADDRINUSE);
        }
        if old != 0 {
            self.map.remove(&old);
            self.ephemeral.set(old, false);
        }
        self.map.insert(node.into_node(port, ep.clone()));
        self.ephemeral.set(port, true);
        ep.set_port(port);
        Ok(port)
    }

    /// Releases `ep`'s port (at `release`).
    pub(crate) fn unbind(&mut self, ep: &Endpoint) {
        let port = ep.port();
        let mine = self.map.get(&port).map(|e| core::ptr::eq(&**e, ep)).unwrap_or(false);
        if mine {
            self.map.remove(&port);
            self.ephemeral.set(port, false);
        }
        ep.set_port(0);
    }

    /// The number of bound endpoints.
    pub(crate) fn len(&self) -> usize {
        self.map.iter().count()
    }

    /// Appends the bound endpoints to `out`, in port order, as many as its
    /// spare capacity holds (never allocates: the caller holds this
    /// table's spinlock). Returns whether all of them fit.
    pub(crate) fn collect(&self, out: &mut KVec<Arc<Endpoint>>) -> bool {
        for (_, ep) in self.map.iter() {
            if out.len() >= out.capacity() {
                return false;
            }
            // Within the capacity: does not allocate.
            let _ = out.push(ep.clone(), GFP_NOWAIT);
        }
        true
    }

    /// Calls `f` for every bound endpoint, in port order.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u16, &Endpoint)) {
        for (port, ep) in self.map.iter() {
            f(*port, ep);
        }
    }
}
