#!/usr/bin/env bash
# Row 13 (Docker 28), copy-up: change 4 KiB in the middle of a 1 GiB file of the image
# (QUICK: 256 MiB) inside a running container on dockerd 28.5.2 (containerd image store):
# `dd bs=4096 count=1 conv=notrunc,fsync` timed inside the container (/nstime), and the bytes
# written to the host disk meanwhile (the bench fs's loop device, /proc/diskstats, after a
# syncfs).  A new container each run.  buse's snapshotter against containerd 2.1.9's
# overlayfs (goals: ≥ 100× faster, ≤ 1% of the bytes), native and blockfile (scratch
# size × 1.1 + 256 MiB; they copy at Prepare, not at the write: the host bytes written by
# `docker run -d` and the first exec are shown too, for information).
export BENCH_TAG=row13-copy-up
source "$(dirname "$0")/../d28.sh"

MIB=$(q 256 1024)

half() {
  local drv=$1 i c w0 w1
  d28_start "$drv" $((MIB * 11 / 10 + 256))
  big_image big "$MIB"
  for ((i = 0; i < RUNS; i++)); do
    w0=$(disk_written)
    c=$(docker run -d --network none big sleep 600)
    docker exec "$c" true
    w1=$(disk_written)
    sample "$drv.start" "$(mib_delta "$w0" "$w1")"
    sample "$drv.time" "$(in_container_time "$c" dd if=/bin/busybox of=/big bs=4096 count=1 \
      seek=$((MIB * 128)) conv=notrunc,fsync)"
    w0=$(disk_written)
    sample "$drv.bytes" "$(mib_delta "$w1" "$w0")"
    docker rm -f "$c" >/dev/null
  done
}

report() {
  emit_d28 13 "d28: copy-up: 4 KiB write in a $MIB MiB image file" s time le 0.01 "≥ 100× faster"
  emit_d28 13 "d28: copy-up: host disk written" MiB bytes le 0.01 "≤ 1%"
  emit_d28 13 "d28: copy-up: host disk written by run -d + exec" MiB start - - "(info)"
}

# shellcheck disable=SC2086
bench_main "$@" $D28_HALVES
