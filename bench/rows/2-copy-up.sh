#!/usr/bin/env bash
# Row 2: copy-up — change 4 KiB in the middle of a 1 GiB file of the image (QUICK: 256 MiB)
# inside a running container: `dd bs=4096 count=1 conv=notrunc,fsync`, timed inside the
# container (/nstime), and the bytes written to the host disk meanwhile (the sectors written
# to the bench fs's loop device, /proc/diskstats, after a syncfs).  A new container each run.
# overlay2 copies the whole file up first.  Goals: buse ≥ 100× faster (ratio ≤ 0.01) and
# ≤ 1% of overlay2's bytes.
source "$(dirname "$0")/../lib.sh"

MIB=$(q 256 1024)

half() {
  local drv=$1 i c w0 w1
  start_driver "$drv"
  big_image big "$MIB"
  for ((i = 0; i < RUNS; i++)); do
    c=$(docker run -d --network none big sleep 600)
    docker exec "$c" true
    w0=$(disk_written)
    sample "$drv.time" "$(in_container_time "$c" dd if=/bin/busybox of=/big bs=4096 count=1 \
      seek=$((MIB * 128)) conv=notrunc,fsync)"
    w1=$(disk_written)
    sample "$drv.bytes" "$(awk -v a="$w1" -v b="$w0" 'BEGIN { printf "%.3f", (a - b) / 1048576 }')"
    docker rm -f "$c" >/dev/null
  done
}

report() {
  emit 2 "copy-up: 4 KiB write in a $MIB MiB image file" s buse.time overlay2 overlay2.time \
    le 0.01 "≥ 100× faster"
  emit 2 "copy-up: host disk written" MiB buse.bytes overlay2 overlay2.bytes le 0.01 "≤ 1%"
}

bench_main "$@" buse overlay2
