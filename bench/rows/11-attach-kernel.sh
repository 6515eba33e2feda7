#!/usr/bin/env bash
# Row 11: file I/O through a layer attached in kernel mode, in the QEMU guest of the kernel
# tier (tests/kernel/run.sh with KERNEL_BENCH; the guest runs tests/kernel/bench.sh): ext4
# on /dev/nbdN attached by `buse attach --mode kernel --no-dm` (netlink, 2 connections)
# against ext4 on a loop device over a plain image file of the same size and mke2fs options.
# Sequential write of 128 MiB of random data (full run: 256 MiB; dd bs=1M conv=fsync, a new
# file each run) and cold sequential read of it (dd bs=1M after drop_caches), buse and loop
# alternating in one boot, in two variants:
#   disk (the goal lines): the layer store and the loop image on an ext4 on a virtio disk
#     (a sparse file on the host, cache=none so that the guest's cold reads reach the host's
#     disk and not a host page cache), the loop device with --direct-io=on as on hosts.
#   tmpfs (no goal, shown for comparison): both in the guest's tmpfs, a memory-backed disk.
# QEMU is TCG here and the host is shared, so the guest runs on one vCPU with an
# instruction-counted clock (-icount shift=0,sleep=on: 1 ns per instruction while it runs,
# host time while idle, as disk waits must count; sleep=off would warp the clock over every
# disk wait to the next timer, nbd's 30 s timeout included): MB/s repeat to a few % whatever
# the load, only the ratio means anything, and it is a count of CPU work: every run is CPU-bound,
# the virtual disk's DMA costs the guest nothing, so loop with direct I/O (no copy but dd's
# own) is at its best.  buse's path adds the kernel's NBD client (a socket call per 4 KiB page,
# a copy on receive) and buse's own work (O_DIRECT on the layer's top diff, then a send that
# copies; splice without a copy from page-cache files, as in the tmpfs variant).
# Limits: /dev/nbdN keeps what buse sets (attach/kernel.c: 1280 KiB requests, 4 MiB
# read-ahead); loop gets the same; each keeps its default scheduler.  Goal: buse ≥ 0.8× loop.
source "$(dirname "$0")/../lib.sh"

MIB=$(q 128 256)
RUNS=$(q 2 3) # the clock counts instructions: runs differ by a few %
CONNS=2

half() {
  local out rc=0 mem=$((3 * MIB + 1024))M disk=$((2 * (MIB + MIB / 2 + 256) + 512))
  out=$(KERNEL_BENCH="$MIB $RUNS $CONNS 4096 1280 - disk+tmpfs" KERNEL_DISK=$disk \
    KERNEL_MEM=$mem KERNEL_SMP=1 KERNEL_ICOUNT=0 KERNEL_SLEEP=on \
    KERNEL_TIMEOUT=$(q 170 1100) BUSE=$BUSE bash "$TOP/tests/kernel/run.sh" 2>&1) || rc=$?
  echo "$out"
  [ $rc -ne 77 ] || skip "kernel tier cannot run here: $(echo "$out" | grep -m1 SKIP)"
  echo "$out" | awk '$1 == "BENCH" && $2 ~ /\.(write|read)$/ { print $2, $3 }' |
    while read -r k v; do sample "$k" "$v"; done
  [ $rc -eq 0 ] || fail "the guest did not finish the benchmark"
}

report() {
  emit 11 "kernel attach (QEMU TCG, virtio disk): seq write $MIB MiB, conv=fsync" MiB/s \
    buse.write "loop (dio)" loop.write ge 0.8 "≥ 0.8×"
  emit 11 "kernel attach (QEMU TCG, virtio disk): cold seq read $MIB MiB" MiB/s buse.read \
    "loop (dio)" loop.read ge 0.8 "≥ 0.8×"
  emit 11 "kernel attach (QEMU TCG, store in tmpfs): seq write $MIB MiB" MiB/s buse-ram.write \
    loop loop-ram.write - - -
  emit 11 "kernel attach (QEMU TCG, store in tmpfs): cold seq read $MIB MiB" MiB/s \
    buse-ram.read loop loop-ram.read - - -
}

bench_main "$@" buse
