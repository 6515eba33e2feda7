#!/usr/bin/env bash
# Row 5: `docker run --rm IMG true` (busybox image), median of 20 runs (QUICK: 5) after one
# warm-up: the cost of a container's life on the driver (init + rw layer Create, Get/mount,
# Put, Remove).
# Reference: overlay2.  Goal: buse ≤ 1.5× overlay2.
source "$(dirname "$0")/../lib.sh"

half() {
  local drv=$1 i n
  n=$(q 5 20)
  start_driver "$drv"
  make_busybox_image bb
  docker run --rm --network none bb true
  for ((i = 0; i < n; i++)); do
    sample "$drv.run" "$(timed docker run --rm --network none bb true)"
  done
}

report() {
  emit 5 "docker run --rm IMG true" s buse.run overlay2 overlay2.run le 1.5 "≤ 1.5×"
}

bench_main "$@" buse overlay2
