#!/usr/bin/env bash
# Row 13 (Docker 28), memory with 50 containers running `sleep` (QUICK: 10) on dockerd 28.5.2
# (containerd image store, busybox image): VmRSS of `buse snapshotter`, sampled RUNS times a
# second apart once every container is up (goal < 64 MiB); for information the PSS of buse
# plus the processes it started (nbdfuse, one per attached device in fuse mode), and for
# every snapshotter containerd's RSS growth from before the first container (after the
# image import and one warm-up run) to then: the builtins (overlayfs, native, blockfile with
# a 128 MiB scratch) live inside containerd.
export BENCH_TAG=row13-rss
source "$(dirname "$0")/../d28.sh"

N=$(q 10 50)

# tree_pss PID: PSS in KiB of PID and all its descendants.
tree_pss() {
  local p=$1 kids sum k
  sum=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
  kids=$(cat /proc/"$p"/task/*/children 2>/dev/null || true)
  for k in $kids; do sum=$((sum + $(tree_pss "$k"))); done
  echo "$sum"
}

half() {
  local drv=$1 i c0
  d28_start "$drv" 128
  make_busybox_image bb
  docker run --rm --network none bb true
  sleep 1
  c0=$(rss_mib "$C28_PID")
  for ((i = 0; i < N; i++)); do
    docker run -d --network none bb sleep 3600 >/dev/null
  done
  [ "$(docker ps -q | wc -l)" -eq "$N" ] || fail "not all $N containers run"
  for ((i = 0; i < RUNS; i++)); do
    sleep 1
    sample "$drv.c28" "$(awk -v a="$c0" -v b="$(rss_mib "$C28_PID")" 'BEGIN { printf "%.2f", b - a }')"
    [ "$drv" = buse ] || continue
    sample buse.rss "$(rss_mib "$SNAP_PID")"
    sample buse.pss "$(awk -v k="$(tree_pss "$SNAP_PID")" 'BEGIN { printf "%.2f", k / 1024 }')"
  done
}

report() {
  emit 13 "d28: buse snapshotter RSS, $N containers running" MiB buse.rss - - lt 64 "< 64 MiB"
  emit 13 "d28: PSS of buse snapshotter + nbdfuse helpers, $N containers" MiB buse.pss - - - - "(info)"
  emit_d28 13 "d28: containerd RSS growth, $N containers" MiB c28 - - "(info)"
}

# shellcheck disable=SC2086
bench_main "$@" $D28_HALVES
