#!/usr/bin/env bash
# Row 13 (Docker 28), run: `docker run --rm IMG true` (busybox image) on dockerd 28.5.2 with
# the containerd image store, median of 20 runs (QUICK: 5) after one warm-up: buse's
# snapshotter against containerd 2.1.9's overlayfs (goal ≤ 1.3×), native and blockfile
# (128 MiB scratch).  One containerd + dockerd per snapshotter (bench/d28.sh).
export BENCH_TAG=row13-run
source "$(dirname "$0")/../d28.sh"

half() {
  local drv=$1 i n
  n=$(q 5 20)
  d28_start "$drv" 128
  make_busybox_image bb
  docker run --rm --network none bb true
  for ((i = 0; i < n; i++)); do
    sample "$drv.run" "$(timed docker run --rm --network none bb true)"
  done
}

report() {
  emit_d28 13 "d28: docker run --rm IMG true" s run le 1.3 "≤ 1.3×"
}

# shellcheck disable=SC2086
bench_main "$@" $D28_HALVES
