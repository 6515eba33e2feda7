#!/usr/bin/env bash
# Row 15: Docker in kernel mode, in the QEMU guest of the kernel tier (tests/kernel/run.sh
# with KERNEL_DOCKER_BENCH; the guest runs tests/kernel/docker-bench.sh): two dockerds 20.10
# side by side in one boot, "buse" on `buse serve` in kernel mode (netlink NBD, the dm
# wrapper) and "ovl" on overlay2, both data roots on one ext4 on the guest's virtio disk, the
# same busybox image imported into each, runs alternating:
#   run  wall time of `docker run --rm bb true` (for buse two layer attaches: -init and the
#        container's; create, mount, start, stop, unmount, remove)
#   dd   MB/s of a dd of MIB MiB (conv=fsync) inside a container, timed inside it
# As row 11, the guest runs on one vCPU under TCG with an instruction-counted clock, so the
# times count CPU work, not the host's disk or load: only the ratios mean anything, and no
# goal is set (the kernel-mode issue asks for the numbers, for information).
source "$(dirname "$0")/../lib.sh"

MIB=$(q 128 256)
RUNS=$(q 3 5)

half() {
  local out rc=0
  out=$(KERNEL_DOCKER_BENCH="$RUNS $MIB" KERNEL_SMP=1 KERNEL_ICOUNT=0 KERNEL_SLEEP=on \
    KERNEL_TIMEOUT=$(q 900 1500) BUSE=$BUSE bash "$TOP/tests/kernel/run.sh" 2>&1) || rc=$?
  echo "$out"
  [ $rc -ne 77 ] || skip "kernel tier cannot run here: $(echo "$out" | grep -m1 SKIP)"
  echo "$out" | awk '$1 == "BENCH" && $2 ~ /\.(run|dd)$/ { print $2, $3 }' |
    while read -r k v; do sample "$k" "$v"; done
  [ $rc -eq 0 ] || fail "the guest did not finish the docker benchmark"
}

report() {
  emit 15 "kernel mode under dockerd 20.10 (QEMU TCG): docker run --rm IMG true" ms buse.run \
    overlay2 ovl.run - - "(info)"
  emit 15 "kernel mode under dockerd 20.10 (QEMU TCG): dd $MIB MiB conv=fsync in a container" \
    MB/s buse.dd overlay2 ovl.dd - - "(info)"
}

bench_main "$@" buse
