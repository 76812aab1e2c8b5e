#!/bin/busybox sh
# /init of the guest initramfs that tools/vm/run packs (copied there verbatim).
#
# tools/vm/run also puts next to it:
#   /etc/simnic/run.conf  SIMNIC_MODE=cmd|shell, SIMNIC_LOAD=0|1, SIMNIC_TAG=<nonce>,
#                         SIMNIC_ROOTFS=initramfs|host, SIMNIC_KO_BOOT=<path of
#                         simnic.ko here>, SIMNIC_CWD=<the host's working directory>
#   /etc/simnic/cmd       the command line to run (mode cmd), shell syntax
#   /hostlayer, /hostmounts   (host mode) the project's files, see below
#
# Root file systems. initramfs: this initramfs is the root; the command runs
# here, with busybox. host: the host's root, exported by QEMU over virtio-9p
# as "hostroot" (read-only), is the lower layer of an overlay whose upper
# layer is a tmpfs, with /hostlayer (the workspace's binaries and simnic.ko,
# at their physical paths on the host) above it; the guest mounts its own
# proc, sysfs, devtmpfs, debugfs, tracefs and tmpfs /tmp and /run on it, and
# the command runs chrooted there, in SIMNIC_CWD. So the host's programs run
# unchanged (dynamically linked, with their libraries and data), nothing the
# guest does reaches the host, and everything written is gone at power-off.
#
# Serial ports: ttyS0 is the kernel console, which the host saves as the guest
# log; ttyS1 carries only the command's stdout+stderr, which the host streams
# to its stdout. Control lines on ttyS1 start with "@@<tag>@@ " (the tag is a
# per-run nonce, so no command output can forge one) and are always preceded
# by a newline of their own, which the host drops again:
#   @@<tag>@@ error <text>   the run could not start the command (host: stderr)
#   @@<tag>@@ exit <status>  the command finished with <status>
# After that, `reboot -f`: with QEMU's -no-reboot that ends QEMU.

# The kernel starts /init with no open files: an initramfs has no /dev/console
# unless one is packed as a device node, which needs root on the host. Mount
# devtmpfs first (by busybox's full path: PATH is not set yet) and then attach
# stdin/stdout/stderr to the console.
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
export SIMNIC_KO=/lib/modules/simnic.ko
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# debugfs only exists with CONFIG_DEBUG_FS; kmemleak lives there.
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
# tracefs: the trace events (CONFIG_FTRACE), events/simnic/ among them.
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
mount -t tmpfs tmpfs /tmp
cd /

SIMNIC_MODE=cmd SIMNIC_LOAD=1 SIMNIC_TAG=none SIMNIC_ROOTFS=initramfs
SIMNIC_KO_BOOT=$SIMNIC_KO SIMNIC_CWD=/
. /etc/simnic/run.conf

out=/dev/ttyS1
if [ "$SIMNIC_MODE" = cmd ]; then
    # Raw: no \n -> \r\n translation and no echo, so ttyS1 carries the
    # command's bytes unchanged (the host strips stray CRs anyway).
    stty -F "$out" raw -echo 2>/dev/null || echo "init: stty on $out failed" >&2
fi

# control WORD TEXT: one control line on ttyS1 (mode cmd) and its text on the
# console, so the guest log shows it in sequence with the kernel's messages.
# Each write opens and closes ttyS1: the last close of a serial port waits
# until the UART has sent everything, so nothing is lost to `reboot -f`.
control() {
    # One line: a multi-line message (insmod's, say) must not spill over.
    set -- "$(printf '%s' "$*" | tr '\n' ' ')"
    echo "init: $*"
    if [ "$SIMNIC_MODE" = cmd ]; then
        printf '\n@@%s@@ %s\n' "$SIMNIC_TAG" "$*" >"$out"
    fi
}

# finish: stop every process the command left behind (they could keep ttyS1
# open, and then the final close would not wait for the UART to drain), wait
# until they are gone, report, and end the VM.
finish() {
    kill -KILL -1 2>/dev/null
    n=0
    while [ $n -lt 50 ] && others_alive; do
        sleep 0.1
        n=$((n + 1))
    done
    [ $# -gt 0 ] && control "$@"
    sync
    reboot -f
    # reboot -f does not return; if it ever did, PID 1 exiting panics the
    # kernel, which also ends QEMU (panic=-1, -no-reboot).
    sleep 5
    exit 1
}

# others_alive: does any user process but init remain? Kernel threads and
# zombies have no /proc/N/exe.
others_alive() {
    for d in /proc/[0-9]*; do
        [ "$d" = /proc/1 ] && continue
        [ -e "$d/exe" ] && return 0
    done
    return 1
}

# mount_host_root: the overlay of the host's root at /newroot (see the top),
# with the guest's own file systems on it. Prints what failed on error.
mount_host_root() {
    mkdir -p /host/lower /host/rw /newroot
    # cache=loose: the guest keeps what it read (pages, attributes, names)
    # instead of asking QEMU again on every access; the export is read-only
    # and the guest short-lived, so the host changing under it does not
    # matter. msize: 9p messages of up to 500 KB (the virtio transport's
    # maximum) instead of 128 KiB, fewer round trips for big reads. Both measured, Documentation/host-programs.rst.
    mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 \
        hostroot /host/lower 2>&1 || { echo "mount of the 9p export hostroot failed"; return 1; }
    mount -t tmpfs -o mode=755 tmpfs /host/rw && mkdir /host/rw/upper /host/rw/work &&
        mount -t overlay -o lowerdir=/hostlayer:/host/lower,upperdir=/host/rw/upper,workdir=/host/rw/work \
            overlay /newroot 2>&1 || { echo "the overlay mount failed"; return 1; }
    # A working directory under /tmp or /run (a clone in /tmp, say) must
    # stay reachable although the guest gets its own /tmp and /run below:
    # the host's copy of it is set aside here and bound back after them.
    case "$SIMNIC_CWD" in
        /tmp/?*|/run/?*)
            mkdir -p /host/cwd && mount -o bind "/newroot$SIMNIC_CWD" /host/cwd 2>&1 ||
                { echo "binding the working directory $SIMNIC_CWD failed"; return 1; } ;;
    esac
    # The guest's own: what the host has there would be the host's view
    # (or, for /tmp and /run, the host's files).
    mount -t proc proc /newroot/proc &&
        mount -t sysfs sysfs /newroot/sys &&
        mount -t devtmpfs devtmpfs /newroot/dev &&
        mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp &&
        mount -t tmpfs -o mode=755 tmpfs /newroot/run || { echo "mounting proc, sys, dev, tmp, run failed"; return 1; }
    mount -t debugfs debugfs /newroot/sys/kernel/debug 2>/dev/null
    mount -t tracefs tracefs /newroot/sys/kernel/tracing 2>/dev/null
    mkdir -p /newroot/dev/shm /newroot/dev/pts
    mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
    mount -t devpts devpts /newroot/dev/pts 2>/dev/null
    if [ -d /host/cwd ]; then
        mkdir -p "/newroot$SIMNIC_CWD" && mount -o bind /host/cwd "/newroot$SIMNIC_CWD" 2>&1 ||
            { echo "binding the working directory $SIMNIC_CWD back failed"; return 1; }
    fi
    # --add files for /tmp and /run.
    for d in tmp run; do
        [ ! -d "/hostmounts/$d" ] || cp -a "/hostmounts/$d/." "/newroot/$d/" || return 1
    done
}

if [ "$SIMNIC_ROOTFS" = host ]; then
    if ! err=$(mount_host_root); then
        finish error "host root: ${err:-failed}"
    fi
    echo "init: host root mounted (9p, read-only, under a tmpfs overlay)"
    # The host's directories first, then busybox's for what the host lacks.
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/simnic/busybox
    # in_root CMD ARGS...: run in the host root, in SIMNIC_CWD (or / if the
    # guest has no such directory, or its own file system is there).
    in_root() {
        chroot /newroot /bin/sh -c 'cd -- "$1" 2>/dev/null || cd /; shift; exec "$@"' sh "$SIMNIC_CWD" "$@"
    }
else
    in_root() { "$@"; }
fi

if [ "$SIMNIC_LOAD" = 1 ]; then
    if ! err=$(insmod "$SIMNIC_KO_BOOT" 2>&1); then
        finish error "insmod $SIMNIC_KO failed: ${err:-no message} (the guest log has the kernel's side)"
    fi
    echo "init: simnic.ko loaded"
fi

if [ "$SIMNIC_MODE" = shell ]; then
    echo "init: interactive shell; 'exit' (or Ctrl-D) powers off, Ctrl-A x kills QEMU"
    # cttyhack opens the console's real tty (ttyS0) and setsid gives the
    # shell its own session, so the console becomes its controlling terminal
    # and Ctrl-C reaches the foreground job instead of being ignored.
    if [ "$SIMNIC_ROOTFS" = host ]; then
        sh=sh
        [ ! -x /newroot/bin/bash ] || sh=bash
        setsid cttyhack chroot /newroot /bin/sh -c 'cd -- "$1" 2>/dev/null || cd /; shift; exec "$@"' \
            sh "$SIMNIC_CWD" "$sh" -l
    else
        setsid cttyhack sh -l
    fi
    finish
fi

# Boot time to this point, on the console (Documentation/host-programs.rst
# measures it from these lines).
read -r up _ </proc/uptime
echo "init: command starts at $up s ($SIMNIC_ROOTFS root)"
# The command gets stdin from /dev/null: QEMU's stdin is /dev/null too, and a
# command blocking on ttyS1 input would only hang until the timeout.
in_root sh -c "$(cat /etc/simnic/cmd)" </dev/null >"$out" 2>&1
status=$?
finish exit "$status"
