#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""asyncio_demo.py: /dev/simnic endpoints in an asyncio event loop.

An event loop is the I/O multiplexing model with callbacks: asyncio's
default loop on Linux is a ``selectors.EpollSelector`` underneath, and
``loop.add_reader(fd, callback)`` adds the descriptor to its epoll set
(``epoll_ctl(EPOLL_CTL_ADD, EPOLLIN)``); the loop calls ``callback`` when
``epoll_wait`` reports the descriptor readable. The /dev/simnic endpoint,
opened with ``O_NONBLOCK``, is such a descriptor, as a UDP socket would be.

The program opens --endpoints receiving endpoints and one sending endpoint
and adds a reader for each receiver whose callback reads one datagram and
hands it to the coroutine waiting for that endpoint (a Future). A sender
coroutine sends --count datagrams to the receivers in turn, with an
``asyncio.sleep`` between sends, so the loop really waits in
``epoll_wait`` until the datagram has crossed the NIC.

    tools/vm/run --rootfs host -- python3 samples/python/asyncio_demo.py
    tools/vm/run --rootfs host -- strace -f -e trace=epoll_wait,epoll_ctl,read,write python3 samples/python/asyncio_demo.py

Exit status 0 when every datagram reached the coroutine waiting for it,
intact and in order, 1 otherwise.
"""

import argparse
import asyncio
import fcntl
import os
import struct
import sys

import simnic_uapi as uapi


def open_endpoint():
    """open("/dev/simnic", O_RDWR | O_NONBLOCK) and its port
    (SIMNIC_IOC_GET_PORT writes a u32)."""
    fd = os.open("/dev/simnic", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    port = struct.unpack("=I", fcntl.ioctl(fd, uapi.SIMNIC_IOC_GET_PORT, bytes(4)))[0]
    print(f"open(/dev/simnic) = {fd}; ioctl(SIMNIC_IOC_GET_PORT) = port {port}")
    return fd, port


class Receiver:
    """One endpoint under the loop: add_reader's callback reads what is
    queued and gives it to whoever awaits next()."""

    def __init__(self, loop, fd, port):
        self.loop, self.fd, self.port = loop, fd, port
        self.queue = asyncio.Queue()
        self.wakeups = 0
        loop.add_reader(fd, self.readable)
        print(f"  loop.add_reader(fd {fd})")

    def readable(self):
        # Called by the loop after epoll_wait reported EPOLLIN. The read
        # does not sleep: the datagram is queued. Read until EAGAIN, as an
        # edge-free (level-triggered) loop may, so one wake-up takes all.
        self.wakeups += 1
        while True:
            try:
                data = os.read(self.fd, uapi.SIMNIC_MAX_DATAGRAM)
            except BlockingIOError:
                return
            print(f"  callback: fd {self.fd} (port {self.port}) readable; "
                  f"read({self.fd}) = {len(data)} bytes {data.decode()!r}")
            self.queue.put_nowait(data)

    async def next(self, timeout):
        return await asyncio.wait_for(self.queue.get(), timeout)

    def close(self):
        self.loop.remove_reader(self.fd)
        os.close(self.fd)


async def main_async(args):
    loop = asyncio.get_running_loop()
    print(f"event loop: {type(loop).__name__} with {type(loop._selector).__name__}")
    sender, _ = open_endpoint()
    receivers = [Receiver(loop, *open_endpoint()) for _ in range(args.endpoints)]

    async def send_all():
        sent = []
        for i in range(args.count):
            r = receivers[i % len(receivers)]
            payload = f"datagram {i} for port {r.port}".encode()
            fcntl.ioctl(sender, uapi.SIMNIC_IOC_CONNECT, struct.pack("=I", r.port))
            n = os.write(sender, payload)
            print(f"sender: ioctl(SIMNIC_IOC_CONNECT, {r.port}); write({sender}, {len(payload)} bytes) = {n}")
            sent.append((r, payload))
            # Give the loop a turn: it goes back to epoll_wait and is woken
            # by the datagram, not by this coroutine.
            await asyncio.sleep(0.01)
        return sent

    async def expect(r, want):
        got = []
        for _ in range(want):
            got.append(await r.next(args.timeout))
        return got

    per = [sum(1 for i in range(args.count) if i % len(receivers) == k) for k in range(len(receivers))]
    ok = True
    try:
        sent, *got = await asyncio.gather(send_all(), *(expect(r, n) for r, n in zip(receivers, per)))
    except asyncio.TimeoutError:
        print(f"FAIL: a datagram did not arrive within {args.timeout} s")
        sent, got, ok = [], [], False
    for r, datagrams in zip(receivers, got):
        want = [p for (to, p) in sent if to is r]
        if datagrams != want:
            print(f"FAIL: port {r.port} got {datagrams!r}, want {want!r}")
            ok = False
        print(f"port {r.port}: {len(datagrams)} datagrams in {r.wakeups} callbacks")
    for r in receivers:
        r.close()
    os.close(sender)
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoints", type=int, default=2, help="receiving endpoints (default 2)")
    p.add_argument("--count", type=int, default=6, help="datagrams to send (default 6)")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds to wait for each datagram before giving up (default 10)")
    args = p.parse_args()
    if args.endpoints < 1 or args.count < 0:
        p.error("--endpoints must be at least 1 and --count not negative")
    ok = asyncio.run(main_async(args))
    print(f"asyncio_demo: {'ok' if ok else 'FAILED'} ({args.count} datagrams)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
