#!/usr/bin/env bash
# Row 8: memory of the buse daemon with 50 containers running `sleep` (QUICK: 10): VmRSS of
# `buse serve`, sampled RUNS times a second apart once every container is up.  For
# information, the PSS of buse plus every process it started (nbdfuse, one per attached
# device in fuse mode).  Goal: buse's RSS < 64 MiB.
source "$(dirname "$0")/../lib.sh"

N=$(q 10 50)

# tree_pss PID: PSS in KiB of PID and all its descendants.
tree_pss() {
  local p kids sum=0 k
  p=$1
  sum=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
  kids=$(cat /proc/"$p"/task/*/children 2>/dev/null || true)
  for k in $kids; do sum=$((sum + $(tree_pss "$k"))); done
  echo "$sum"
}

half() {
  local i
  start_driver buse
  make_busybox_image bb
  for ((i = 0; i < N; i++)); do
    docker run -d --network none bb sleep 3600 >/dev/null
  done
  [ "$(docker ps -q | wc -l)" -eq "$N" ] || fail "not all $N containers run"
  for ((i = 0; i < RUNS; i++)); do
    sleep 1
    sample buse.rss "$(awk '/^VmRSS:/ { printf "%.2f", $2 / 1024 }' "/proc/$BUSE_PID/status")"
    sample buse.pss "$(awk -v k="$(tree_pss "$BUSE_PID")" 'BEGIN { printf "%.2f", k / 1024 }')"
  done
}

report() {
  emit 8 "buse serve RSS, $N containers running" MiB buse.rss - - lt 64 "< 64 MiB"
  emit 8 "PSS of buse + its nbdfuse helpers, $N containers" MiB buse.pss - - - - "(info)"
}

bench_main "$@" buse
