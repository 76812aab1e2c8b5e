# simnic: the README's two commands are `make run` and `make check`.
# Everything else here is a step those two take, usable on its own.
SHELL := /bin/bash
ROOT := $(CURDIR)
FLAVOUR ?= debug

.PHONY: all setup kernel module guest run check test clean
all: module guest

# Install the toolchain (apt through sudo when not root, bindgen-cli).
setup:
	@tools/setup

# Guest kernel with the kernel-crate layer applied, cached outside the clone.
kernel: setup
	@tools/kernel/build --flavour $(FLAVOUR)

# simnic.ko against that kernel.
module: kernel
	@tools/build-module --flavour $(FLAVOUR)

# Statically linked userspace binaries for the guest (tests, samples, tools).
guest:
	@tools/build-guest

# Boot the guest, load the module and show it working. tools/vm/run builds
# whatever is missing (kernel, module, guest binaries); progress goes to
# stderr, so stdout is the demo's own output.
run:
	@tools/setup >&2
	@tools/vm/run --flavour $(FLAVOUR) -- simnic-demo

# Every test: host unit tests, in-guest suite, unload, kmemleak, KUnit,
# guest-log splat scan. Ends with "N passed, M failed".
check:
	@tools/setup
	@tools/test --flavour $(FLAVOUR)

clean:
	rm -f simnic.ko *.o *.mod *.mod.c *.mod.o .*.cmd modules.order Module.symvers
	rm -f rust/*.o rust/.*.cmd rust/*.d
	cargo clean 2>/dev/null || true
