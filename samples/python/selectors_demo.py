#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""selectors_demo.py: I/O multiplexing on /dev/simnic from Python's selectors.

The I/O multiplexing model (Documentation/models/select.rst, poll.rst,
epoll.rst) with the standard library's ``selectors`` module: the program
opens one sending and --endpoints receiving endpoints, registers the
receivers for EVENT_READ, sends --count datagrams to receivers in turn and
reads each one after the selector reports its endpoint readable.

Each step prints the system call it makes. ``--selector`` picks the
mechanism underneath (``select()``, ``poll()`` or epoll; the default is
``selectors.DefaultSelector``, epoll on Linux): the /dev/simnic endpoint is
an ordinary file descriptor to all of them, since they all end in the
driver's ``->poll``.

    tools/vm/run --rootfs host -- python3 samples/python/selectors_demo.py
    tools/vm/run --rootfs host -- strace -e trace=%desc python3 samples/python/selectors_demo.py --selector poll

Exit status 0 when every datagram came back intact to the endpoint it was
sent to, 1 otherwise.
"""

import argparse
import fcntl
import os
import selectors
import struct
import sys

import simnic_uapi as uapi

SELECTORS = {
    "default": selectors.DefaultSelector,
    "select": selectors.SelectSelector,
    "poll": selectors.PollSelector,
    "epoll": selectors.EpollSelector,
}


def ioctl_u32_out(fd, request):
    """An ioctl that writes one u32 (SIMNIC_IOC_GET_PORT)."""
    return struct.unpack("=I", fcntl.ioctl(fd, request, bytes(4)))[0]


def ioctl_u32_in(fd, request, value):
    """An ioctl that reads one u32 (SIMNIC_IOC_CONNECT, SIMNIC_IOC_BIND)."""
    fcntl.ioctl(fd, request, struct.pack("=I", value))


def open_endpoint():
    """open("/dev/simnic", O_RDWR | O_NONBLOCK): a new endpoint, bound to a
    free ephemeral port, which SIMNIC_IOC_GET_PORT reads back."""
    fd = os.open("/dev/simnic", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    port = ioctl_u32_out(fd, uapi.SIMNIC_IOC_GET_PORT)
    print(f"open(/dev/simnic) = {fd}; ioctl(SIMNIC_IOC_GET_PORT) = port {port}")
    return fd, port


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--selector", choices=SELECTORS, default="default",
                   help="the selectors class to use (default: DefaultSelector)")
    p.add_argument("--endpoints", type=int, default=3, help="receiving endpoints (default 3)")
    p.add_argument("--count", type=int, default=6, help="datagrams to send (default 6)")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds to wait for each datagram before giving up (default 10)")
    args = p.parse_args()
    if args.endpoints < 1 or args.count < 0:
        p.error("--endpoints must be at least 1 and --count not negative")

    sel = SELECTORS[args.selector]()
    print(f"selector: {type(sel).__name__}")

    sender, _ = open_endpoint()
    receivers = {}
    for _ in range(args.endpoints):
        fd, port = open_endpoint()
        receivers[fd] = port
        sel.register(fd, selectors.EVENT_READ, data=port)
        print(f"  register fd {fd} for EVENT_READ")

    ok = True
    fds = list(receivers)
    for i in range(args.count):
        fd = fds[i % len(fds)]
        port = receivers[fd]
        payload = f"datagram {i} for port {port}".encode()
        # write() goes to the connected port (SIMNIC_IOC_CONNECT), like
        # send() on a connected UDP socket.
        ioctl_u32_in(sender, uapi.SIMNIC_IOC_CONNECT, port)
        n = os.write(sender, payload)
        print(f"ioctl(SIMNIC_IOC_CONNECT, {port}); write({sender}, {len(payload)} bytes) = {n}")

        # Phase 1: wait for readiness (select/poll/epoll_wait underneath).
        events = sel.select(timeout=args.timeout)
        if not events:
            print(f"FAIL: nothing readable within {args.timeout} s")
            ok = False
            break
        for key, mask in events:
            # Phase 2: the read finds the datagram queued and does not sleep.
            data = os.read(key.fd, uapi.SIMNIC_MAX_DATAGRAM)
            print(f"  {args.selector}: fd {key.fd} (port {key.data}) readable; "
                  f"read({key.fd}) = {len(data)} bytes {data.decode()!r}")
            if key.fd != fd or data != payload:
                print(f"FAIL: expected {payload!r} on fd {fd}")
                ok = False

    # A burst: one datagram to every receiver, then select() until all are
    # read; one call may now report several endpoints ready at once.
    pending = {}
    if ok:
        for fd, port in receivers.items():
            payload = f"burst for port {port}".encode()
            ioctl_u32_in(sender, uapi.SIMNIC_IOC_CONNECT, port)
            os.write(sender, payload)
            pending[fd] = payload
        print(f"burst: wrote {len(pending)} datagrams, one per receiver")
    while pending:
        events = sel.select(timeout=args.timeout)
        if not events:
            print(f"FAIL: {len(pending)} burst datagrams never became readable")
            ok = False
            break
        print(f"  {args.selector}: {len(events)} ready: fds {sorted(k.fd for k, _ in events)}")
        for key, mask in events:
            data = os.read(key.fd, uapi.SIMNIC_MAX_DATAGRAM)
            want = pending.pop(key.fd, None)
            print(f"    read({key.fd}) = {data.decode()!r}")
            if data != want:
                print(f"FAIL: expected {want!r} on fd {key.fd}")
                ok = False

    # Nothing may be left over: every endpoint is empty now.
    for fd in receivers:
        try:
            extra = os.read(fd, uapi.SIMNIC_MAX_DATAGRAM)
            print(f"FAIL: fd {fd} still had {extra!r}")
            ok = False
        except BlockingIOError:
            pass

    sel.close()
    for fd in [sender, *receivers]:
        os.close(fd)
    print(f"selectors_demo: {'ok' if ok else 'FAILED'} ({args.count} datagrams, {args.selector})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
