#!/usr/bin/env bash
# Row 4: `docker import` of a generated rootfs (busybox + ≥ 10,000 files, ≥ 200 MiB; QUICK:
# 2,000 files, 40 MiB) from a tar file: dockerd streams it into the driver (ApplyDiff for buse,
# its own untar for overlay2 and vfs).  The image is removed between runs (untimed) so every
# run applies the whole tar.  Goal: buse ≤ 1.3× overlay2.
source "$(dirname "$0")/../lib.sh"

FILES=$(q 2000 10000) MIB=$(q 40 220)


half() {
  local drv=$1 tar i
  tar=$(generated_tar "$FILES" "$MIB")
  start_driver "$drv"
  for ((i = 0; i < RUNS; i++)); do
    fs_sync
    sample "$drv.import" "$(timed docker import "$tar" big:$i)"
    docker rmi big:$i >/dev/null
  done
}

report() {
  local what="docker import, $FILES files, $MIB MiB"
  emit 4 "$what" s buse.import overlay2 overlay2.import le 1.3 "≤ 1.3×"
  emit 4 "$what" s buse.import vfs vfs.import - - "(info)"
}

bench_main "$@" buse overlay2 vfs
