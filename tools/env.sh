# tools/env.sh: sourced by every tools/ script; one place for paths and toolchain.
# shellcheck shell=bash

# Slow artefacts (kernel builds, bindgen) live outside the clone, so a fresh
# clone on the same machine reuses them.
SIMNIC_CACHE=${SIMNIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/simnic}
mkdir -p "$SIMNIC_CACHE"
SIMNIC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINDGEN=$SIMNIC_CACHE/bindgen/bin/bindgen
# The kernel is built with Debian's rustc 1.85 (its `core` sources must match
# rustc exactly); rustup's newer rustc may come first on PATH.
KRUSTC=/usr/bin/rustc
KRUSTDOC=/usr/bin/rustdoc
export PATH=/usr/lib/llvm-19/bin:$PATH
rustc_k() { "$KRUSTC" "$@"; }
# Arguments every kernel/module make invocation takes.
kmake_args() {
    echo LLVM=1 RUSTC=$KRUSTC RUSTDOC=$KRUSTDOC BINDGEN=$BINDGEN HOSTRUSTC=$KRUSTC
}

# Kernel reports in a guest log: any line matching SIMNIC_SPLAT_RE means the
# kernel complained (tools/test's splat scan, tools/bench/run,
# tools/vm/tracepoint-race); the debug options' boot banners
# ("KernelAddressSanitizer initialized", lockdep's "Lock dependency
# validator: Copyright ...") match SIMNIC_SPLAT_BANNER_RE and are not reports.
SIMNIC_SPLAT_RE='BUG:|WARNING:|Oops|Kernel panic|general protection fault|Call Trace:|INFO: task|INFO: trying to register|DEBUG_LOCKS_WARN_ON|list_add corruption|list_del corruption|UBSAN|unreferenced object|KASAN:'
SIMNIC_SPLAT_BANNER_RE='KernelAddressSanitizer initialized|Lock dependency validator|lockdep: Copyright|MAX_LOCKDEP_'
# kernel_reports LOG: LOG's report lines; exit status 1 when there are none.
kernel_reports() { grep -E "$SIMNIC_SPLAT_RE" "$1" 2>/dev/null | grep -vE "$SIMNIC_SPLAT_BANNER_RE"; }
