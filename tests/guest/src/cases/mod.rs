//! The tests, in the order they run. `module_refcount_unload` stays last: it
//! unloads and reloads simnic.ko.

mod blocking;
mod data;
mod faults;
mod limits;
mod module;
mod readiness;
mod stress;

use crate::Test;

macro_rules! tests {
    ($($module:ident::$name:ident),* $(,)?) => {
        &[$(Test { name: stringify!($name), run: $module::$name }),*]
    };
}

pub const TESTS: &[Test] = tests![
    data::device_node,
    data::echo_roundtrip,
    data::datagram_boundaries_fifo,
    data::zero_length_datagram,
    data::short_read_truncates,
    data::emsgsize,
    limits::enobufs_datagram_limit,
    limits::enobufs_byte_limit,
    data::nonblock_eagain_empty,
    data::independent_endpoints,
    blocking::blocking_read_wakeup,
    blocking::exclusive_wakeup,
    blocking::eintr_without_sa_restart,
    blocking::sa_restart_restarts_read,
    faults::efault_read_preserves_datagram,
    faults::efault_write_queues_nothing,
    data::preadv2_nowait,
    data::lseek_pread_espipe,
    readiness::poll_readiness,
    readiness::select_readiness,
    readiness::poll_blocked_wakeup,
    readiness::epoll_level_triggered,
    readiness::epoll_edge_triggered,
    stress::stress_threads,
    module::module_refcount_unload,
];
