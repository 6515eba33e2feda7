#!/usr/bin/env bash
# Row 11: file I/O through a layer attached in kernel mode, in the QEMU guest of the kernel
# tier (tests/kernel/run.sh with KERNEL_BENCH; the guest runs tests/kernel/bench.sh): ext4
# on /dev/nbdN attached by `buse attach --mode kernel --no-dm` (netlink, 2 connections, the
# layer store in the guest's tmpfs) against ext4 on a loop device over a plain image file in
# the same tmpfs, same size and mke2fs options.  Sequential write of 128 MiB of random data
# (full run: 256 MiB; dd bs=1M conv=fsync, a new file each run) and cold sequential read of it
# (dd bs=1M after drop_caches), buse and loop alternating in one boot.  QEMU is TCG here and
# the host is shared, so the guest runs on one vCPU with an instruction-counted clock
# (-icount): its MB/s are instructions, not host time, and repeat to ~3% whatever the load
# (only the ratio means anything).  Both devices get the same limits: read-ahead 4 MiB and
# requests of at most 1280 KiB (loop's own limit; the nbd driver's default is 128 KiB, which
# costs buse ~10% of its reads); each keeps its default scheduler (mq-deadline for nbd:
# with none, buse's writes lose ~20%).  Goal: buse ≥ 0.8× loop.
source "$(dirname "$0")/../lib.sh"

MIB=$(q 128 256)
RUNS=$(q 2 3) # the clock counts instructions: runs differ by a few %
CONNS=2

half() {
  local out rc=0 mem=$((3 * MIB + 1024))M
  out=$(KERNEL_BENCH="$MIB $RUNS $CONNS 4096 1280 -" KERNEL_MEM=$mem KERNEL_SMP=1 \
    KERNEL_ICOUNT=0 KERNEL_TIMEOUT=$(q 170 1100) BUSE=$BUSE bash "$TOP/tests/kernel/run.sh" 2>&1) ||
    rc=$?
  echo "$out"
  [ $rc -ne 77 ] || skip "kernel tier cannot run here: $(echo "$out" | grep -m1 SKIP)"
  echo "$out" | awk '$1 == "BENCH" && $2 ~ /\.(write|read)$/ { print $2, $3 }' |
    while read -r k v; do sample "$k" "$v"; done
  [ $rc -eq 0 ] || fail "the guest did not finish the benchmark"
}

report() {
  emit 11 "kernel attach (QEMU TCG): seq write $MIB MiB, conv=fsync" MiB/s buse.write loop \
    loop.write ge 0.8 "≥ 0.8×"
  emit 11 "kernel attach (QEMU TCG): cold seq read $MIB MiB" MiB/s buse.read loop loop.read \
    ge 0.8 "≥ 0.8×"
}

bench_main "$@" buse
