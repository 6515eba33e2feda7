#!/usr/bin/env bash
# A quick subset of the kernel tier (tests/kernel/run.sh) inside `make check`: boots the
# QEMU guest once and runs the netlink attach with 2 connections and the dm wrapper.
# Skipped when QEMU or the kernel package is not available (the full tier: make check-kernel).
source "$(dirname "$0")/../functions.sh"
requires qemu-system-x86_64 cpio dpkg-deb depmod
[ -x "$BUSE" ] || skip "$BUSE not built"
rc=0
out=$(KERNEL_TESTS="netlink-2 dm" KERNEL_TIMEOUT=110 BUSE=$BUSE bash "$TOP/tests/kernel/run.sh" 2>&1) || rc=$?
echo "$out"
[ "$rc" -ne 77 ] || skip "kernel tier cannot run here: $(echo "$out" | grep -m1 SKIP)"
[ "$rc" -eq 0 ] || fail "kernel smoke tests failed"
echo "$out" | grep -q '^2 passed, 0 failed' || fail "expected 2 kernel tests to pass"
ok "netlink attach and dm wrapper work in a real kernel"
