#!/bin/busybox sh
# /init of the guest initramfs that tools/vm/run packs (copied there verbatim).
#
# tools/vm/run also puts next to it:
#   /etc/simnic/run.conf  SIMNIC_MODE=cmd|shell, SIMNIC_LOAD=0|1, SIMNIC_TAG=<nonce>
#   /etc/simnic/cmd       the command line to run (mode cmd), shell syntax
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

SIMNIC_MODE=cmd SIMNIC_LOAD=1 SIMNIC_TAG=none
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

if [ "$SIMNIC_LOAD" = 1 ]; then
    if ! err=$(insmod "$SIMNIC_KO" 2>&1); then
        finish error "insmod $SIMNIC_KO failed: ${err:-no message} (the guest log has the kernel's side)"
    fi
    echo "init: simnic.ko loaded"
fi

if [ "$SIMNIC_MODE" = shell ]; then
    echo "init: interactive shell; 'exit' (or Ctrl-D) powers off, Ctrl-A x kills QEMU"
    # cttyhack opens the console's real tty (ttyS0) and setsid gives the
    # shell its own session, so the console becomes its controlling terminal
    # and Ctrl-C reaches the foreground job instead of being ignored.
    setsid cttyhack sh -l
    finish
fi

# The command gets stdin from /dev/null: QEMU's stdin is /dev/null too, and a
# command blocking on ttyS1 input would only hang until the timeout.
sh -c "$(cat /etc/simnic/cmd)" </dev/null >"$out" 2>&1
status=$?
finish exit "$status"
