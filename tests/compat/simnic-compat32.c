// SPDX-License-Identifier: GPL-2.0
/*
 * simnic-compat32: the ioctls of /dev/simnic from a 32-bit (i386) process.
 *
 * A 32-bit process on the 64-bit guest kernel enters through the compat
 * syscall table; its ioctls reach the driver only through the file's
 * ->compat_ioctl (compat_sys_ioctl in fs/ioctl.c answers ENOTTY when there
 * is none; only FIONREAD, which do_vfs_ioctl hands to ->unlocked_ioctl
 * itself, got through without). simnic's is compat_ptr_ioctl: the argument pointer widened,
 * then the normal ->unlocked_ioctl. That is correct only because every
 * simnic argument has one layout for both ABIs (fixed-size fields, pointers
 * carried as u64, u64s 8-aligned); simnic_uapi.h, generated from
 * rust/simnic/uapi.rs, asserts that layout for the ABI compiling it.
 *
 * Each check prints "ok - NAME" or "not ok - NAME: reason"; the exit status
 * is 1 if any failed. Built by tools/build-guest with gcc -m32 -static; the
 * in-guest test compat_ioctl_32bit (tests/guest) runs it.
 */
/* strerrorname_np: errno names (EFAULT), not messages, in the output. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "simnic_uapi.h"

#ifndef __i386__
#error "simnic-compat32 tests the i386 ABI: build it with gcc -m32"
#endif
_Static_assert(sizeof(void *) == 4 && sizeof(long) == 4, "a 32-bit build");

/*
 * The header's numbers against the C macros of <asm-generic/ioctl.h>
 * applied to the C structs as this ABI lays them out: direction and size
 * bits of each request agree with what an i386 program would compute.
 */
#define SAME_REQUEST(req, dir_macro, type) \
	_Static_assert((req) == dir_macro(SIMNIC_IOC_MAGIC, _IOC_NR(req), type), #req)
SAME_REQUEST(SIMNIC_IOC_BIND, _IOW, uint32_t);
SAME_REQUEST(SIMNIC_IOC_CONNECT, _IOW, uint32_t);
SAME_REQUEST(SIMNIC_IOC_GET_PORT, _IOR, uint32_t);
SAME_REQUEST(SIMNIC_IOC_SENDTO, _IOW, struct simnic_send_to);
SAME_REQUEST(SIMNIC_IOC_RECVFROM, _IOWR, struct simnic_recv_from);
SAME_REQUEST(SIMNIC_IOC_SET_RCVBUF, _IOW, uint32_t);
SAME_REQUEST(SIMNIC_IOC_EP_STATS, _IOR, struct simnic_ep_stats);
SAME_REQUEST(SIMNIC_IOC_NIC_STATS, _IOR, struct simnic_nic_stats);
SAME_REQUEST(SIMNIC_IOC_RING_STATE, _IOR, struct simnic_ring_state);
SAME_REQUEST(SIMNIC_IOC_SHUTDOWN, _IOW, uint32_t);
SAME_REQUEST(SIMNIC_IOC_GET_LIMITS, _IOR, struct simnic_limits);
_Static_assert(SIMNIC_FIONREAD == FIONREAD, "FIONREAD of the uapi and of libc");

/* How long to wait for a datagram to cross the simulated wire: generous,
 * the emulated guest stalls at times; a pass never waits this long. */
#define ARRIVAL_TIMEOUT_MS 10000

static int failed, passed;

/* One check's verdict: reason NULL means it passed. */
static void report(const char *name, const char *reason)
{
	if (reason) {
		printf("not ok - %s: %s\n", name, reason);
		failed++;
	} else {
		printf("ok - %s\n", name);
		passed++;
	}
	fflush(stdout);
}

/* A failure reason, formatted into a static buffer (one check at a time). */
static const char *why(const char *fmt, ...)
{
	static char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

/* The symbolic name of an errno value. */
static const char *errname(int err)
{
	static char buf[24];
	const char *name = strerrorname_np(err);

	if (name)
		return name;
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

/* An ioctl's result as text for a reason: "returned N" or "failed: EFOO". */
static const char *outcome(int rc, int err)
{
	static char buf[96];

	if (rc >= 0)
		snprintf(buf, sizeof(buf), "returned %d", rc);
	else
		snprintf(buf, sizeof(buf), "failed: %s", errname(err));
	return buf;
}

/* The user address of a buffer as the uapi carries it: a u64. */
static simnic_u64 uptr(const void *p)
{
	return (simnic_u64)(uintptr_t)p;
}

/* The two endpoints every check uses, and what the checks learn. */
static int a, b;
static uint32_t port_a, port_b;
static struct simnic_nic_stats nic_before;

/* Waits for a datagram on fd: NULL, or why not. */
static const char *wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, ARRIVAL_TIMEOUT_MS);

	if (n < 0)
		return why("poll: %s", errname(errno));
	if (n == 0)
		return why("no datagram within %d ms", ARRIVAL_TIMEOUT_MS);
	if (!(p.revents & POLLIN))
		return why("poll revents %#x without POLLIN", p.revents);
	return NULL;
}

/* The byte at offset i of the test payloads: every value, no long runs. */
static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 31 + 7);
}

static const char *get_port(void)
{
	if (ioctl(a, SIMNIC_IOC_GET_PORT, &port_a) != 0)
		return why("a: %s", outcome(-1, errno));
	if (ioctl(b, SIMNIC_IOC_GET_PORT, &port_b) != 0)
		return why("b: %s", outcome(-1, errno));
	if (port_a < SIMNIC_EPHEMERAL_PORT_FIRST || port_a > 65535 ||
	    port_b < SIMNIC_EPHEMERAL_PORT_FIRST || port_b > 65535 || port_a == port_b)
		return why("ports %u and %u: want two distinct ephemeral ports", port_a, port_b);
	return NULL;
}

static const char *nic_stats_snapshot(void)
{
	if (ioctl(a, SIMNIC_IOC_NIC_STATS, &nic_before) != 0)
		return outcome(-1, errno);
	return NULL;
}

static const char *bind_port(void)
{
	/* A port outside the ephemeral range, so the value seen is ours. */
	uint32_t want = 20000 + (uint32_t)getpid() % 10000, got = 0, bad = 70000;
	int rc, tries;

	for (tries = 0; tries < 100; tries++, want++) {
		rc = ioctl(b, SIMNIC_IOC_BIND, &want);
		if (rc == 0 || errno != EADDRINUSE)
			break;
	}
	if (rc != 0)
		return why("BIND %u %s", want, outcome(rc, errno));
	if (ioctl(b, SIMNIC_IOC_GET_PORT, &got) != 0 || got != want)
		return why("bound %u, GET_PORT says %u", want, got);
	port_b = want;
	rc = ioctl(b, SIMNIC_IOC_BIND, &bad);
	if (rc != -1 || errno != EINVAL)
		return why("BIND 70000 %s, want EINVAL", outcome(rc, errno));
	return NULL;
}

static const char connect_msg[] = "hello from i386";

static const char *connect_write(void)
{
	uint8_t got[64];
	struct simnic_recv_from r = { .buf = uptr(got), .buf_len = sizeof(got) };
	const char *e;
	ssize_t n;
	int rc;

	if (ioctl(a, SIMNIC_IOC_CONNECT, &port_b) != 0)
		return why("CONNECT %s", outcome(-1, errno));
	/* write() goes to the connected port, not a's own. */
	n = write(a, connect_msg, sizeof(connect_msg));
	if (n != (ssize_t)sizeof(connect_msg))
		return why("write %s", outcome((int)n, errno));
	if ((e = wait_readable(b)))
		return e;
	rc = ioctl(b, SIMNIC_IOC_RECVFROM, &r);
	if (rc != (int)sizeof(connect_msg) || memcmp(got, connect_msg, sizeof(connect_msg)) != 0)
		return why("RECVFROM on b %s, want the %zu bytes written", outcome(rc, errno),
			   sizeof(connect_msg));
	if (r.src_port != port_a)
		return why("source port %u, want %u", r.src_port, port_a);
	return NULL;
}

#define SENT_LEN 1500
static uint8_t sent[SENT_LEN];

static const char *sendto_(void)
{
	struct simnic_send_to s = {
		.buf = uptr(sent), .len = SENT_LEN, .port = port_b, .flags = 0,
	};
	int rc;

	for (size_t i = 0; i < SENT_LEN; i++)
		sent[i] = pattern(i);
	rc = ioctl(a, SIMNIC_IOC_SENDTO, &s);
	if (rc != SENT_LEN)
		return why("SENDTO %s, want %d", outcome(rc, errno), SENT_LEN);
	return wait_readable(b);
}

/* FIONREAD worked from 32 bits even before compat_ioctl (see the top);
 * checked for its value like the others. */
static const char *fionread(void)
{
	int len = -1;

	if (ioctl(b, FIONREAD, &len) != 0)
		return outcome(-1, errno);
	if (len != SENT_LEN)
		return why("next datagram %d bytes, want %d", len, SENT_LEN);
	return NULL;
}

static const char *ep_stats(void)
{
	struct simnic_ep_stats sa, sb;

	if (ioctl(a, SIMNIC_IOC_EP_STATS, &sa) != 0 || ioctl(b, SIMNIC_IOC_EP_STATS, &sb) != 0)
		return outcome(-1, errno);
	/* a sent the connected write and the SENDTO; b received both and
	 * holds the second. */
	if (sa.port != port_a || sa.tx_packets != 2 || sa.tx_bytes != sizeof(connect_msg) + SENT_LEN)
		return why("a: port %u tx_packets %llu tx_bytes %llu, want %u 2 %zu", sa.port,
			   (unsigned long long)sa.tx_packets, (unsigned long long)sa.tx_bytes,
			   port_a, sizeof(connect_msg) + SENT_LEN);
	if (sb.port != port_b || sb.rcvbuf != SIMNIC_RCVBUF_DEFAULT || sb.queued != 1 ||
	    sb.queued_bytes < SENT_LEN || sb.rx_packets != 2 ||
	    sb.rx_bytes != sizeof(connect_msg) + SENT_LEN || sb.shutdown != 0 || sb.error != 0)
		return why("b: port %u rcvbuf %u queued %u queued_bytes %u rx_packets %llu rx_bytes %llu "
			   "shutdown %u error %u", sb.port, sb.rcvbuf, sb.queued, sb.queued_bytes,
			   (unsigned long long)sb.rx_packets, (unsigned long long)sb.rx_bytes,
			   sb.shutdown, sb.error);
	return NULL;
}

static const char *recvfrom_(void)
{
	static uint8_t got[SENT_LEN + 100];
	struct simnic_recv_from r = { .buf = uptr(got), .buf_len = sizeof(got) };
	int rc;

	memset(got, 0, sizeof(got));
	rc = ioctl(b, SIMNIC_IOC_RECVFROM, &r);
	if (rc != SENT_LEN)
		return why("RECVFROM %s, want %d", outcome(rc, errno), SENT_LEN);
	if (r.dgram_len != SENT_LEN || r.src_port != port_a || r.flags != 0)
		return why("dgram_len %u src_port %u flags %#x, want %d %u 0", r.dgram_len,
			   r.src_port, r.flags, SENT_LEN, port_a);
	for (size_t i = 0; i < SENT_LEN; i++)
		if (got[i] != sent[i])
			return why("byte %zu is %#x, sent %#x", i, got[i], sent[i]);
	/* Nothing more queued: the DONTWAIT flag in the struct is honoured. */
	r = (struct simnic_recv_from){ .buf = uptr(got), .buf_len = sizeof(got),
				       .flags = SIMNIC_RECV_DONTWAIT };
	rc = ioctl(b, SIMNIC_IOC_RECVFROM, &r);
	if (rc != -1 || errno != EAGAIN)
		return why("RECVFROM DONTWAIT on an empty queue %s, want EAGAIN", outcome(rc, errno));
	return NULL;
}

static const char *recvfrom_truncated(void)
{
	struct simnic_send_to s = { .buf = uptr(sent), .len = 100, .port = port_b };
	uint8_t got[10];
	struct simnic_recv_from r = { .buf = uptr(got), .buf_len = sizeof(got) };
	const char *e;
	int rc;

	rc = ioctl(a, SIMNIC_IOC_SENDTO, &s);
	if (rc != 100)
		return why("SENDTO %s", outcome(rc, errno));
	if ((e = wait_readable(b)))
		return e;
	rc = ioctl(b, SIMNIC_IOC_RECVFROM, &r);
	if (rc != (int)sizeof(got) || !(r.flags & SIMNIC_MSG_TRUNC) || r.dgram_len != 100 ||
	    memcmp(got, sent, sizeof(got)) != 0)
		return why("RECVFROM %s flags %#x dgram_len %u, want 10, MSG_TRUNC, 100",
			   outcome(rc, errno), r.flags, r.dgram_len);
	return NULL;
}

static const char *nic_stats(void)
{
	struct simnic_nic_stats now;
	/* Three datagrams so far: the connected write, 1500 and 100 bytes. */
	const uint64_t pkts = 3, bytes = sizeof(connect_msg) + SENT_LEN + 100;

	if (ioctl(a, SIMNIC_IOC_NIC_STATS, &now) != 0)
		return outcome(-1, errno);
	/* At least ours (nothing else should run, but the NIC is shared). */
	if (now.tx_packets - nic_before.tx_packets < pkts ||
	    now.tx_bytes - nic_before.tx_bytes < bytes ||
	    now.rx_packets - nic_before.rx_packets < pkts ||
	    now.rx_bytes - nic_before.rx_bytes < bytes ||
	    now.rx_descs - nic_before.rx_descs < pkts ||
	    now.polls <= nic_before.polls || now.irqs <= nic_before.irqs ||
	    now.napi_complete > now.polls)
		return why("deltas tx_packets %llu tx_bytes %llu rx_packets %llu rx_bytes %llu "
			   "rx_descs %llu polls %llu irqs %llu; napi_complete %llu of %llu polls",
			   (unsigned long long)(now.tx_packets - nic_before.tx_packets),
			   (unsigned long long)(now.tx_bytes - nic_before.tx_bytes),
			   (unsigned long long)(now.rx_packets - nic_before.rx_packets),
			   (unsigned long long)(now.rx_bytes - nic_before.rx_bytes),
			   (unsigned long long)(now.rx_descs - nic_before.rx_descs),
			   (unsigned long long)(now.polls - nic_before.polls),
			   (unsigned long long)(now.irqs - nic_before.irqs),
			   (unsigned long long)now.napi_complete, (unsigned long long)now.polls);
	return NULL;
}

static const char *ring_state(void)
{
	struct simnic_ring_state r;

	memset(&r, 0xa5, sizeof(r));
	if (ioctl(a, SIMNIC_IOC_RING_STATE, &r) != 0)
		return outcome(-1, errno);
	if (r.rx_size == 0 || r.rx_size > 65536 || r.tx_size == 0 || r.tx_size > 65536 ||
	    r.rx_head >= r.rx_size || r.rx_tail >= r.rx_size || r.rx_next_to_clean >= r.rx_size ||
	    r.tx_head >= r.tx_size || r.tx_tail >= r.tx_size || r.tx_next_to_clean >= r.tx_size ||
	    r.irq_masked > 1 || r.budget == 0 || r.tx_delay_ns > SIMNIC_TX_DELAY_MAX_NS)
		return why("rx size %u head %u tail %u ntc %u, tx size %u head %u tail %u ntc %u, "
			   "irq_masked %u budget %u tx_delay_ns %llu", r.rx_size, r.rx_head,
			   r.rx_tail, r.rx_next_to_clean, r.tx_size, r.tx_head, r.tx_tail,
			   r.tx_next_to_clean, r.irq_masked, r.budget,
			   (unsigned long long)r.tx_delay_ns);
	return NULL;
}

static const char *set_rcvbuf(void)
{
	uint32_t v = 4096, tiny = 1;
	struct simnic_ep_stats s;
	int rc;

	if (ioctl(b, SIMNIC_IOC_SET_RCVBUF, &v) != 0)
		return why("SET_RCVBUF 4096 %s", outcome(-1, errno));
	rc = ioctl(b, SIMNIC_IOC_SET_RCVBUF, &tiny);
	if (rc != -1 || errno != EINVAL)
		return why("SET_RCVBUF 1 %s, want EINVAL", outcome(rc, errno));
	if (ioctl(b, SIMNIC_IOC_EP_STATS, &s) != 0)
		return why("EP_STATS %s", outcome(-1, errno));
	if (s.rcvbuf != v)
		return why("rcvbuf %u, want %u", s.rcvbuf, v);
	return NULL;
}

static const char *get_limits(void)
{
	struct simnic_limits before, after;
	struct simnic_send_to s = { .buf = uptr(sent), .len = 1, .port = port_b };
	const char *e;
	uint8_t byte;
	int rc;

	if (ioctl(a, SIMNIC_IOC_GET_LIMITS, &before) != 0)
		return outcome(-1, errno);
	if (before.rmem_max < SIMNIC_RCVBUF_MIN || before.rmem_max > SIMNIC_RCVBUF_MAX ||
	    before.rx_mem_max < SIMNIC_RCVBUF_MIN || before.rx_mem > before.rx_mem_max)
		return why("rmem_max %u rx_mem_max %u rx_mem %llu", before.rmem_max,
			   before.rx_mem_max, (unsigned long long)before.rx_mem);
	/* One queued datagram is charged to the NIC-wide receive memory. */
	rc = ioctl(a, SIMNIC_IOC_SENDTO, &s);
	if (rc != 1)
		return why("SENDTO %s", outcome(rc, errno));
	if ((e = wait_readable(b)))
		return e;
	if (ioctl(a, SIMNIC_IOC_GET_LIMITS, &after) != 0)
		return outcome(-1, errno);
	if (after.rx_mem <= before.rx_mem || after.rmem_max != before.rmem_max ||
	    after.rx_mem_max != before.rx_mem_max)
		return why("with a datagram queued rx_mem %llu (before %llu), limits %u %u (before %u %u)",
			   (unsigned long long)after.rx_mem, (unsigned long long)before.rx_mem,
			   after.rmem_max, after.rx_mem_max, before.rmem_max, before.rx_mem_max);
	if (read(b, &byte, 1) != 1)
		return why("reading the datagram back: %s", errname(errno));
	return NULL;
}

static const char *shutdown_(void)
{
	uint32_t wr = SIMNIC_SHUT_WR, rd = SIMNIC_SHUT_RD, bad = 3;
	struct simnic_send_to s = {
		.buf = uptr(sent), .len = 1, .port = port_b, .flags = SIMNIC_MSG_NOSIGNAL,
	};
	struct simnic_ep_stats st;
	uint8_t got[8];
	struct simnic_recv_from r = { .buf = uptr(got), .buf_len = sizeof(got) };
	int rc;

	rc = ioctl(a, SIMNIC_IOC_SHUTDOWN, &bad);
	if (rc != -1 || errno != EINVAL)
		return why("SHUTDOWN 3 %s, want EINVAL", outcome(rc, errno));
	if (ioctl(a, SIMNIC_IOC_SHUTDOWN, &wr) != 0)
		return why("SHUTDOWN SHUT_WR %s", outcome(-1, errno));
	if (ioctl(a, SIMNIC_IOC_EP_STATS, &st) != 0 || st.shutdown != SIMNIC_SHUT_WR_BIT)
		return why("after SHUT_WR shutdown bits %#x, want %#x", st.shutdown, SIMNIC_SHUT_WR_BIT);
	rc = ioctl(a, SIMNIC_IOC_SENDTO, &s);
	if (rc != -1 || errno != EPIPE)
		return why("SENDTO NOSIGNAL after SHUT_WR %s, want EPIPE", outcome(rc, errno));
	if (ioctl(b, SIMNIC_IOC_SHUTDOWN, &rd) != 0)
		return why("SHUTDOWN SHUT_RD %s", outcome(-1, errno));
	/* b's queue is empty: a blocking receive now returns 0 at once. */
	rc = ioctl(b, SIMNIC_IOC_RECVFROM, &r);
	if (rc != 0)
		return why("RECVFROM after SHUT_RD %s, want 0", outcome(rc, errno));
	return NULL;
}

static const char *enotty(void)
{
	uint8_t scratch[256];
	const unsigned long unknown = _IOC(_IOC_NONE, SIMNIC_IOC_MAGIC, 99, 0);
	/* EP_STATS with another size is another request. */
	const unsigned long wrong_size =
		_IOC(_IOC_READ, SIMNIC_IOC_MAGIC, _IOC_NR(SIMNIC_IOC_EP_STATS), 8);
	int rc;

	rc = ioctl(a, unknown, scratch);
	if (rc != -1 || errno != ENOTTY)
		return why("request %#lx %s, want ENOTTY", unknown, outcome(rc, errno));
	rc = ioctl(a, wrong_size, scratch);
	if (rc != -1 || errno != ENOTTY)
		return why("request %#lx %s, want ENOTTY", wrong_size, outcome(rc, errno));
	return NULL;
}

static const char *efault(void)
{
	struct simnic_send_to s = { .len = 4, .port = port_a };
	uint32_t *gone;
	void *page;
	int rc;

	rc = ioctl(a, SIMNIC_IOC_EP_STATS, (void *)1);
	if (rc != -1 || errno != EFAULT)
		return why("EP_STATS to address 1 %s, want EFAULT", outcome(rc, errno));
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return why("mmap: %s", errname(errno));
	munmap(page, 4096);
	gone = page;
	rc = ioctl(a, SIMNIC_IOC_GET_PORT, gone);
	if (rc != -1 || errno != EFAULT)
		return why("GET_PORT to an unmapped page %s, want EFAULT", outcome(rc, errno));
	/* The u64 buffer pointer is used whole: a valid 32-bit address with
	 * bit 32 set is above everything a compat process can map. */
	s.buf = uptr(sent) | (1ull << 32);
	rc = ioctl(a, SIMNIC_IOC_SENDTO, &s);
	if (rc != -1 || errno != EFAULT)
		return why("SENDTO of buffer %#llx %s, want EFAULT", (unsigned long long)s.buf,
			   outcome(rc, errno));
	return NULL;
}

int main(void)
{
	/* In order: later checks rely on the ports and counters of earlier
	 * ones (shutdown ends the traffic, so it comes last but the error
	 * checks). */
	static const struct {
		const char *name;
		const char *(*run)(void);
	} checks[] = {
		{ "get_port", get_port },
		{ "nic_stats_snapshot", nic_stats_snapshot },
		{ "bind", bind_port },
		{ "connect_write", connect_write },
		{ "sendto", sendto_ },
		{ "fionread", fionread },
		{ "ep_stats", ep_stats },
		{ "recvfrom", recvfrom_ },
		{ "recvfrom_truncated", recvfrom_truncated },
		{ "nic_stats", nic_stats },
		{ "ring_state", ring_state },
		{ "set_rcvbuf", set_rcvbuf },
		{ "get_limits", get_limits },
		{ "enotty", enotty },
		{ "efault", efault },
		{ "shutdown", shutdown_ },
	};

	printf("# simnic-compat32: i386 process, sizeof(long) %zu, pid %d\n", sizeof(long),
	       (int)getpid());
	a = open("/dev/simnic", O_RDWR | O_CLOEXEC);
	b = open("/dev/simnic", O_RDWR | O_CLOEXEC);
	if (a < 0 || b < 0) {
		report("open", why("/dev/simnic: %s", errname(errno)));
		return 1;
	}
	report("open", NULL);
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		report(checks[i].name, checks[i].run());
	printf("# simnic-compat32: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
