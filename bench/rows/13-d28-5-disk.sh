#!/usr/bin/env bash
# Row 13 (Docker 28), disk: host disk used by 10 builds (`docker build`, BuildKit through
# buildx, Docker 28's default) that each change 1 byte of a 1 GiB file (QUICK: 4 builds,
# 64 MiB) of
# the base image (busybox + the file, docker import): each build is FROM the base, one RUN dd
# conv=notrunc at its own offset, its own tag, all kept.  The size is `du` of the data roots
# (containerd's root: content store and the builtins' snapshots; buse's home; dockerd's root)
# after the builds minus before them.  For information, the snapshotter's own folder and
# containerd's content store (where every layer is a compressed tar of the whole changed
# file, whatever the snapshotter).  buse's snapshotter against overlayfs (goal ≤ 1%), native
# and blockfile (scratch size × 1.1 + 256 MiB; it copies the scratch three times per build:
# at 1 GiB, 10 builds need ~42 GiB, more than the bench fs; it also stops, saying so,
# whenever the bench fs has no room left for the next build).  In the full run native and
# blockfile build twice (time, room) and their cells give the measured cost per build.
export BENCH_TAG=row13-disk
source "$(dirname "$0")/../d28.sh"

SIZE_MIB=$(q 64 1024) BUILDS=$(q 4 10)
CONTENT_DIR() { echo "$C28_ROOT/io.containerd.content.v1.content"; }

half() {
  local drv=$1 i n ctx=$T/ctx b0 s0 c0 b1 s1 c1 free
  d28_start "$drv" $((SIZE_MIB * 11 / 10 + 256))
  mkdir -p "$ctx/base"
  tar -C "$ctx/base" -xf "$(busybox_tar)"
  fill_file "$ctx/base/big" "$SIZE_MIB"
  import_dir "$ctx/base" base
  rm -rf "$ctx/base"
  fs_sync
  b0=$(host_used) s0=$(disk_used "$SN_DIR") c0=$(disk_used "$(CONTENT_DIR)")
  n=$BUILDS
  [ "$drv" = buse ] || [ "$drv" = overlayfs ] || [ "$QUICK" = 1 ] || n=2
  for ((i = 1; i <= n; i++)); do
    free=$(df --output=avail -B1M "$BENCH_FS" | tail -n 1)
    [ "$drv" != blockfile ] || [ "$free" -gt $((SIZE_MIB * 4 + 2048)) ] || {
      na "$drv" "no room on the bench fs for build $i ($free MiB free; $(mib_delta "$b0" \
        "$(host_used)") MiB used by $((i - 1)) builds)"
      return 0
    }
    printf 'FROM base\nRUN printf %s | dd of=/big bs=1 seek=%s conv=notrunc\n' "$i" \
      $((i * SIZE_MIB * 99991)) >"$ctx/Dockerfile"
    docker build --network none -q -t "b:$i" "$ctx" >"$T/build.out" 2>&1 ||
      { tail -n 20 "$T/build.out"; fail "build $i failed"; }
  done
  fs_sync
  b1=$(host_used) s1=$(disk_used "$SN_DIR") c1=$(disk_used "$(CONTENT_DIR)")
  # Where it went (in the half's log): the snapshots and, on buse, its layers.
  ctr28 -n "$D28_NS" snapshots --snapshotter "$SN" ls || true
  [ "$drv" != buse ] || "$BUSE" du --home "$SNAP_HOME" || true
  if [ "$n" != "$BUILDS" ]; then
    free=$(df --output=avail -B1M "$BENCH_FS" | tail -n 1)
    na "$drv" "$n builds only: $(mib_delta "$b0" "$b1") MiB, $(awk -v a="$b0" -v b="$b1" -v n="$n" \
      'BEGIN { printf "%.0f", (b - a) / n / 1048576 }') MiB per build (bench fs: $free MiB free)"
    return 0
  fi
  sample "$drv.used" "$(mib_delta "$b0" "$b1")"
  sample "$drv.snap" "$(mib_delta "$s0" "$s1")"
  sample "$drv.content" "$(mib_delta "$c0" "$c1")"
}

report() {
  local what="d28: host disk after $BUILDS builds changing 1 byte of a $SIZE_MIB MiB file"
  emit_d28 13 "$what" MiB used le 0.01 "≤ 1%"
  emit_d28 13 "d28: the same, snapshotter's folder only" MiB snap - - "(info)"
  emit 13 "d28: the same, content store only" MiB buse.content overlayfs overlayfs.content - - "(info)"
}

# shellcheck disable=SC2086
bench_main "$@" $D28_HALVES
