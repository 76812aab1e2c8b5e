// SPDX-License-Identifier: GPL-2.0
/*
 * simnic's trace events (simnic_trace.h), created here in the kernel image,
 * and one function per event for kernel::trace::simnic. Each call checks the
 * event's static key (the inline trace_*() does), so a disabled event costs
 * the module one call.
 *
 * Included last by helpers.c: CREATE_TRACE_POINTS must not reach another
 * trace header of the same translation unit (define_trace.h leaves it
 * defined), hence the #undef.
 */

#define CREATE_TRACE_POINTS
#include "simnic_trace.h"
#undef CREATE_TRACE_POINTS

void rust_helper_simnic_trace_xmit(u16 src_port, u16 dst_port, u32 len, u32 descs)
{
	trace_simnic_xmit(src_port, dst_port, len, descs);
}

void rust_helper_simnic_trace_doorbell(u32 tail)
{
	trace_simnic_doorbell(tail);
}

void rust_helper_simnic_trace_hw_rx_dma(u32 descs, u16 dst_port, u32 len)
{
	trace_simnic_hw_rx_dma(descs, dst_port, len);
}

void rust_helper_simnic_trace_irq_raise(u32 rx_frames, u32 tx_done, bool raised)
{
	trace_simnic_irq_raise(rx_frames, tx_done, raised);
}

void rust_helper_simnic_trace_intr(bool was_masked)
{
	trace_simnic_intr(was_masked);
}

void rust_helper_simnic_trace_napi_poll_start(u32 budget)
{
	trace_simnic_napi_poll_start(budget);
}

void rust_helper_simnic_trace_napi_poll_end(u32 work, u32 budget, bool again)
{
	trace_simnic_napi_poll_end(work, budget, again);
}

void rust_helper_simnic_trace_deliver(u16 dst_port, u32 len, int result)
{
	trace_simnic_deliver(dst_port, len, result);
}

void rust_helper_simnic_trace_data_ready(u16 port, bool sleepers)
{
	trace_simnic_data_ready(port, sleepers);
}

void rust_helper_simnic_trace_wake(u16 port, u32 woken)
{
	trace_simnic_wake(port, woken);
}

void rust_helper_simnic_trace_recv_copy(u16 port, u32 len, u32 copied)
{
	trace_simnic_recv_copy(port, len, copied);
}
