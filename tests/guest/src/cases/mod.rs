//! The tests, in the order they run. The `module_*` tests unload and
//! reload simnic.ko, so they come after all others, and
//! `module_refcount_unload` is the last of all.

mod aio;
mod blocking;
mod c10k;
mod compat;
mod data;
mod errors;
mod faults;
mod generator;
mod io_uring;
mod limits;
mod mmap;
mod module;
mod mux;
pub mod nic;
mod ports;
mod privilege;
mod readiness;
mod shutdown;
pub mod sigio;
mod stress;
mod trace;
mod trace_timeline;
mod wq;
mod write_space;

use crate::Test;

/// `module::name` per test; `module::name @ SECS` for one that needs more
/// than the default timeout; `[tracefs]` after either for one that turns
/// tracepoints on or off (tracefs, `simnic-trace record`), which
/// `make check` runs in its single-threaded boot (`Test::tracefs`).
macro_rules! tests {
    ($($module:ident::$name:ident $(@ $secs:literal)? $([$flag:ident])?),* $(,)?) => {
        &[$(Test {
            module: stringify!($module),
            name: stringify!($name),
            min_timeout: 0 $(+ $secs)?,
            tracefs: tracefs_flag!($($flag)?),
            run: $module::$name,
        }),*]
    };
}

/// The one flag a test may carry; any other word does not compile.
macro_rules! tracefs_flag {
    () => {
        false
    };
    (tracefs) => {
        true
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
    readiness::select_blocked_wakeup,
    readiness::epoll_level_triggered,
    readiness::epoll_edge_triggered,
    readiness::epoll_oneshot_rearm,
    readiness::epoll_exclusive_wakes_one,
    readiness::epoll_nested,
    readiness::aio_iocb_cmd_poll,
    aio::aio_read_returns_before_data,
    aio::aio_read_completes_in_submit,
    aio::aio_reads_in_post_order,
    aio::aio_cancel_posted_read,
    aio::aio_cancel_races_completion @ 60,
    aio::aio_destroy_with_reads_posted,
    aio::aio_exit_with_reads_posted,
    aio::aio_close_with_read_posted,
    aio::aio_bad_buffers_efault,
    aio::aio_preadv_empty_elements,
    aio::aio_partial_pin_efault,
    aio::aio_posted_reads_bounded,
    aio::aio_read_eof_and_error,
    aio::aio_posted_read_before_blocked_reader,
    aio::aio_poll_cancel,
    aio::aio_pins_charged_to_memlock,
    aio::aio_file_backed_buffers,
    aio::aio_big_datagram_and_many_segments,
    aio::aio_reads_and_mmap_ring,
    aio::aio_given_back_datagram_goes_to_posted_read @ 60,
    aio::aio_cancel_races_submit @ 90,
    io_uring::uring_read_parks_on_poll,
    io_uring::uring_poll_add_and_multishot,
    io_uring::uring_read_multishot,
    io_uring::uring_cancel_parked_read,
    io_uring::uring_exit_with_read_parked,
    io_uring::uring_read_efault_after_wake_keeps_datagram,
    io_uring::uring_async_worker_read_cancel_and_exit,
    io_uring::uring_multishot_out_of_buffers_and_eof,
    write_space::pollout_means_max_datagram_fits,
    write_space::write_space_tx_done_without_rx,
    write_space::write_space_spares_idle_endpoints,
    write_space::write_space_wakes_blocked_poller,
    sigio::sigio_o_async_flag,
    sigio::sigio_setsig_siginfo_like_udp,
    sigio::sigio_plain_sigio_like_udp,
    sigio::sigio_thread_owner,
    sigio::sigio_process_group,
    sigio::sigio_pollout_write_space,
    sigio::sigio_pollerr_like_udp,
    sigio::sigio_off_and_close,
    shutdown::shutdown_rd_wakes_reader,
    shutdown::shutdown_rd_keeps_queued,
    shutdown::shutdown_wr_epipe_sigpipe,
    shutdown::shutdown_rdwr_hup_wakes_epoll,
    errors::econnrefused_once_like_udp,
    errors::econnrefused_wakes_blocked_reader,
    errors::econnrefused_only_connected_port,
    mux::mux_conformance_sources,
    mux::mux_conformance_nested,
    mux::mux_blocked_wait_wakes,
    mux::mux_exclusive_wakes_one,
    mux::mux_item_holds_file,
    mux::mux_wait_efault_keeps_events,
    mux::mux_lt_round_robin_like_epoll,
    mux::mux_loops_refused,
    mux::mux_loops_through_epoll,
    mux::mux_pollfree_signalfd,
    mux::mini_poll_like_poll,
    wq::wq_blocking_read_entry,
    wq::wq_exclusive_readers,
    wq::wq_woken_counts_every_entry,
    wq::wq_spurious_wakeup_counted,
    wq::wq_select_poll_pollwake,
    wq::wq_epoll_ep_poll_callback,
    wq::wq_epoll_filtered_item_counted_woken,
    wq::wq_aio_poll_wake,
    wq::wq_io_uring_poll_add,
    wq::wq_aio_read_no_entry,
    wq::wq_io_uring_read_parked,
    wq::wq_mmap_ring_poll,
    wq::wq_samples_print_callbacks @ 60,
    wq::wq_mini_poll_entry,
    wq::wq_mini_epoll_entries,
    wq::wq_nic_queues,
    wq::wq_view_bounded,
    wq::wq_view_stress @ 60,
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
    generator::generator_high_rate_batches,
    generator::generator_batch_overflows_rx_ring,
    generator::generator_stop,
    privilege::unprivileged_rcvbuf_clamped,
    privilege::unprivileged_admin_ioctls_eperm,
    privilege::unprivileged_rx_mem_budget,
    privilege::gen_flows_stop_with_owner,
    privilege::unprivileged_user_watches_bounded,
    trace::trace_events_one_datagram_in_order [tracefs],
    trace::trace_events_off_record_nothing [tracefs],
    // The sample and the recorder's setup take a few seconds emulated.
    trace_timeline::trace_timeline_blocking_read @ 60 [tracefs],
    mmap::mmap_ring_frames_in_order,
    mmap::mmap_ring_poll_wakes,
    mmap::mmap_ring_full_then_slots_returned,
    mmap::mmap_ring_bad_consumer_index,
    mmap::mmap_ring_setup_errors,
    mmap::mmap_bad_offset_length,
    mmap::mmap_close_with_ring_mapped,
    mmap::mmap_munmap_and_remap,
    mmap::mmap_fork_shares_ring,
    mmap::mmap_ring_memory_bounded,
    mmap::mmap_ring_truncates_to_slot,
    mmap::mmap_setup_purges_queue,
    mmap::mmap_ring_hostile_scribbler @ 180,
    mmap::mmap_setup_ends_blocked_read,
    mmap::mmap_failed_read_racing_setup @ 60,
    mmap::mmap_setup_twice_at_once @ 60,
    mmap::mmap_setup_and_teardown_during_flood @ 120,
    mmap::mmap_memlock_returned_unprivileged,
    mmap::mmap_rdonly_descriptor,
    mmap::mmap_racing_setup,
    // 7 to 20 s each on the emulated debug kernel, more under host load.
    stress::stress_threads @ 120,
    stress::stress_threads_drops @ 120,
    compat::compat_ioctl_32bit,
    // About 20 s on the emulated debug kernel (KASAN, kmemleak, lockdep),
    // 90 s when the host is loaded.
    c10k::c10k_open_10000 @ 300,
    module::module_params_invalid,
    module::module_params_valid,
    module::module_budget,
    module::module_hw_execution_models,
    module::module_hw_dma_context [tracefs],
    module::module_unload_traffic,
    module::module_debugfs_open_pins,
    module::module_aio_read_pins_module,
    module::module_unload_with_ring_mapped,
    module::module_refcount_unload,
];
