#!/usr/bin/env bash
# Row 7: disk used by 10 image layers that each change 1 byte of a 1 GiB file (QUICK: 64 MiB):
# a classic `docker build` of 10 RUN steps (busybox dd, conv=notrunc) on an image holding the
# file; the size is `du` of the data root (buse: its home is inside it) after the build minus
# before.  overlay2 copies the whole file up in every layer, vfs copies the whole image.
# Disk use is deterministic, so everything builds once in QUICK mode (and vfs is left out); in
# the full run the references build twice (10 GiB each), buse 3 times; each built image is
# removed before the next build.  Goal: buse ≤ 1% of overlay2.
source "$(dirname "$0")/../lib.sh"

SIZE_MIB=$(q 64 1024)

half() {
  local drv=$1 i n ctx before after
  n=$(q 1 3)
  [ "$drv" = buse ] || n=$(q 1 2)
  start_driver "$drv"
  ctx=$T/ctx
  mkdir -p "$ctx/base"
  tar -C "$ctx/base" -xf "$(busybox_tar)"
  head -c "${SIZE_MIB}M" /dev/urandom >"$ctx/base/big"
  import_dir "$ctx/base" base
  rm -rf "$ctx/base"
  for ((i = 0; i < n; i++)); do
    {
      echo "FROM base"
      for l in 1 2 3 4 5 6 7 8 9 10; do
        echo "RUN printf $i | dd of=/big bs=1 seek=$((l * SIZE_MIB * 99991)) conv=notrunc"
      done
    } >"$ctx/Dockerfile"
    fs_sync
    before=$(disk_used "$DATA_ROOT")
    DOCKER_BUILDKIT=0 docker build -q -t "l10:$i" "$ctx" >/dev/null
    fs_sync
    after=$(disk_used "$DATA_ROOT")
    sample "$drv.used" "$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.3f", (a - b) / 1048576 }')"
    docker rmi "l10:$i" >/dev/null
  done
}

report() {
  local what="disk used by 10 layers changing 1 byte of a $SIZE_MIB MiB file"
  emit 7 "$what" MiB buse.used overlay2 overlay2.used le 0.01 "≤ 1%"
  [ "$QUICK" = 1 ] || emit 7 "$what" MiB buse.used vfs vfs.used - - "(info)"
}

# shellcheck disable=SC2046
bench_main "$@" buse overlay2 $(q "" vfs)
