//! The tests, in the order they run. The `module_*` tests unload and
//! reload simnic.ko, so they come after all others, and
//! `module_refcount_unload` is the last of all.

mod blocking;
mod c10k;
mod data;
mod faults;
mod generator;
mod limits;
mod module;
mod nic;
mod ports;
mod privilege;
mod readiness;
mod stress;

use crate::Test;

/// `module::name` per test; `module::name @ SECS` for one that needs more
/// than the default timeout.
macro_rules! tests {
    ($($module:ident::$name:ident $(@ $secs:literal)?),* $(,)?) => {
        &[$(Test {
            module: stringify!($module),
            name: stringify!($name),
            min_timeout: 0 $(+ $secs)?,
            run: $module::$name,
        }),*]
    };
}

pub const TESTS: &[Test] = tests![
    data::device_node,
    data::echo_roundtrip,
    data::datagram_boundaries_fifo,
    data::zero_length_datagram,
    data::short_read_truncates,
    data::emsgsize,
    data::nonblock_eagain_empty,
    data::independent_endpoints,
    ports::ports_ephemeral,
    ports::bind_errors_and_rebind,
    ports::send_to_and_recv_from,
    ports::connect_default_destination,
    ports::recv_from_truncation,
    ports::fionread_next_length,
    ports::rx_no_port_counted,
    limits::rx_queue_full_slots,
    limits::rx_queue_full_bytes,
    limits::set_rcvbuf_bounds_and_effect,
    limits::rx_truesize_charged,
    blocking::blocking_read_wakeup,
    blocking::exclusive_wakeup,
    blocking::wakeups_counted,
    blocking::eintr_without_sa_restart,
    blocking::sa_restart_restarts_read,
    faults::efault_read_preserves_datagram,
    faults::efault_write_queues_nothing,
    faults::ioctl_efault_enotty,
    data::preadv2_nowait,
    data::lseek_pread_espipe,
    readiness::poll_readiness,
    readiness::select_readiness,
    readiness::poll_blocked_wakeup,
    readiness::epoll_level_triggered,
    readiness::epoll_edge_triggered,
    nic::nic_counters_single_frame,
    nic::ring_state_quiescent,
    nic::wire_delay,
    nic::tx_ring_full_enobufs,
    nic::tx_ring_full_pollout_wakeup,
    nic::interrupt_mitigation,
    nic::rx_ring_full_missed,
    nic::debugfs_files,
    generator::generator_bad_args,
    generator::generator_count_and_payload,
    generator::generator_rate,
    generator::generator_stop,
    privilege::unprivileged_rcvbuf_clamped,
    privilege::unprivileged_admin_ioctls_eperm,
    privilege::unprivileged_rx_mem_budget,
    privilege::gen_flows_stop_with_owner,
    stress::stress_threads,
    stress::stress_threads_drops,
    // About 20 s on the emulated debug kernel (KASAN, kmemleak, lockdep).
    c10k::c10k_open_10000 @ 90,
    module::module_params_invalid,
    module::module_params_valid,
    module::module_budget,
    module::module_unload_traffic,
    module::module_refcount_unload,
];
