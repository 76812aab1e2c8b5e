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
