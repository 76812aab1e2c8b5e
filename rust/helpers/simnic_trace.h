/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Trace events of simnic.ko: one per step a datagram takes, from the
 * sender's write() to the reader's copy, for tracefs/trace-cmd
 * (events/simnic/) and the timeline figures.
 *
 * They are defined in the kernel image (rust/helpers/simnic_trace.c) and
 * fired by the module through kernel::trace::simnic, because 6.12 has no
 * Rust tracepoint support; from v6.13 on (`declare_trace!`), a module can
 * define its own, as samples/rust/rust_print does.
 */

#undef TRACE_SYSTEM
#define TRACE_SYSTEM simnic

#if !defined(_SIMNIC_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _SIMNIC_TRACE_H

#include <linux/tracepoint.h>

/* A sender put a frame on the TX ring (`ndo_start_xmit`). */
TRACE_EVENT(simnic_xmit,
	TP_PROTO(u16 src_port, u16 dst_port, u32 len, u32 descs),
	TP_ARGS(src_port, dst_port, len, descs),
	TP_STRUCT__entry(
		__field(u16, src_port)
		__field(u16, dst_port)
		__field(u32, len)
		__field(u32, descs)
	),
	TP_fast_assign(
		__entry->src_port = src_port;
		__entry->dst_port = dst_port;
		__entry->len = len;
		__entry->descs = descs;
	),
	TP_printk("src=%u dst=%u len=%u descs=%u", __entry->src_port,
		  __entry->dst_port, __entry->len, __entry->descs)
);

/* The driver wrote the TX tail register: the hardware is told. */
TRACE_EVENT(simnic_doorbell,
	TP_PROTO(u32 tail),
	TP_ARGS(tail),
	TP_STRUCT__entry(__field(u32, tail)),
	TP_fast_assign(__entry->tail = tail;),
	TP_printk("tail=%u", __entry->tail)
);

/* The hardware DMA'd a frame into RX descriptors (`descs` of them)
 * and set DD on each. */
TRACE_EVENT(simnic_hw_rx_dma,
	TP_PROTO(u32 descs, u16 dst_port, u32 len),
	TP_ARGS(descs, dst_port, len),
	TP_STRUCT__entry(
		__field(u32, descs)
		__field(u16, dst_port)
		__field(u32, len)
	),
	TP_fast_assign(
		__entry->descs = descs;
		__entry->dst_port = dst_port;
		__entry->len = len;
	),
	TP_printk("descs=%u dst=%u len=%u", __entry->descs, __entry->dst_port,
		  __entry->len)
);

/* The hardware raised its interrupt, or latched it (masked). */
TRACE_EVENT(simnic_irq_raise,
	TP_PROTO(u32 rx_frames, u32 tx_done, bool raised),
	TP_ARGS(rx_frames, tx_done, raised),
	TP_STRUCT__entry(
		__field(u32, rx_frames)
		__field(u32, tx_done)
		__field(bool, raised)
	),
	TP_fast_assign(
		__entry->rx_frames = rx_frames;
		__entry->tx_done = tx_done;
		__entry->raised = raised;
	),
	TP_printk("rx=%u tx_done=%u %s", __entry->rx_frames,
		  __entry->tx_done, __entry->raised ? "raised" : "latched")
);

/* The interrupt handler ran (hard irq): masked, poll scheduled. */
TRACE_EVENT(simnic_intr,
	TP_PROTO(bool was_masked),
	TP_ARGS(was_masked),
	TP_STRUCT__entry(__field(bool, was_masked)),
	TP_fast_assign(__entry->was_masked = was_masked;),
	TP_printk("%s", __entry->was_masked ? "spurious (already masked)" : "masked")
);

/* The NAPI-style poll starts (softirq). */
TRACE_EVENT(simnic_napi_poll_start,
	TP_PROTO(u32 budget),
	TP_ARGS(budget),
	TP_STRUCT__entry(__field(u32, budget)),
	TP_fast_assign(__entry->budget = budget;),
	TP_printk("budget=%u", __entry->budget)
);

/* The poll ends: descriptors cleaned, and whether it runs again. */
TRACE_EVENT(simnic_napi_poll_end,
	TP_PROTO(u32 work, u32 budget, bool again),
	TP_ARGS(work, budget, again),
	TP_STRUCT__entry(
		__field(u32, work)
		__field(u32, budget)
		__field(bool, again)
	),
	TP_fast_assign(
		__entry->work = work;
		__entry->budget = budget;
		__entry->again = again;
	),
	TP_printk("work=%u budget=%u %s", __entry->work, __entry->budget,
		  __entry->again ? "rescheduled" : "irq unmasked")
);

/* A frame was demultiplexed to a port: queued (0) or dropped (why). */
TRACE_EVENT(simnic_deliver,
	TP_PROTO(u16 dst_port, u32 len, int result),
	TP_ARGS(dst_port, len, result),
	TP_STRUCT__entry(
		__field(u16, dst_port)
		__field(u32, len)
		__field(int, result)
	),
	TP_fast_assign(
		__entry->dst_port = dst_port;
		__entry->len = len;
		__entry->result = result;
	),
	TP_printk("dst=%u len=%u %s", __entry->dst_port, __entry->len,
		  __print_symbolic(__entry->result, { 0, "queued" },
				   { 1, "queue full" }, { 2, "no memory" },
				   { 3, "closed" }, { 4, "no port" },
				   { 5, "to an aio read" },
				   { 6, "into the mmap ring" }))
);

/* `sk_data_ready` of an endpoint: whether anyone slept on its queue. */
TRACE_EVENT(simnic_data_ready,
	TP_PROTO(u16 port, bool sleepers),
	TP_ARGS(port, sleepers),
	TP_STRUCT__entry(
		__field(u16, port)
		__field(bool, sleepers)
	),
	TP_fast_assign(
		__entry->port = port;
		__entry->sleepers = sleepers;
	),
	TP_printk("port=%u %s", __entry->port,
		  __entry->sleepers ? "wake-up" : "nobody waits")
);

/*
 * The wake-up `sk_data_ready` made: how many wait-queue entries' wake
 * functions it ran that reported a wake (a blocked reader, select/poll's
 * `pollwake`, epoll's `ep_poll_callback`, ...), counted by the layer's
 * `__wake_up_common` walk.
 */
TRACE_EVENT(simnic_wake,
	TP_PROTO(u16 port, u32 woken),
	TP_ARGS(port, woken),
	TP_STRUCT__entry(
		__field(u16, port)
		__field(u32, woken)
	),
	TP_fast_assign(
		__entry->port = port;
		__entry->woken = woken;
	),
	TP_printk("port=%u woken=%u", __entry->port, __entry->woken)
);

/* A reader copies a datagram to user memory (phase 2 of every model). */
TRACE_EVENT(simnic_recv_copy,
	TP_PROTO(u16 port, u32 len, u32 copied),
	TP_ARGS(port, len, copied),
	TP_STRUCT__entry(
		__field(u16, port)
		__field(u32, len)
		__field(u32, copied)
	),
	TP_fast_assign(
		__entry->port = port;
		__entry->len = len;
		__entry->copied = copied;
	),
	TP_printk("port=%u len=%u copied=%u", __entry->port, __entry->len,
		  __entry->copied)
);

#endif /* _SIMNIC_TRACE_H */

/* Outside the guard: define_trace.h reads the header again. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH ../../rust/helpers
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE simnic_trace
#include <trace/define_trace.h>
