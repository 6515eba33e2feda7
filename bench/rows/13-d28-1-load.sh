#!/usr/bin/env bash
# Row 13 (Docker 28), load: `docker load` of a docker-save archive of one layer, a generated
# rootfs (busybox + ≥ 10,000 files, ≥ 200 MiB; QUICK: 2,000 files, 40 MiB; bench/gen-tree.py,
# bench/mkimage.py) on dockerd 28.5.2 with the containerd image store: the content store
# ingest plus the unpack into the snapshotter.  Each run loads its own archive (one more
# small file in the layer, so a new digest and a new snapshot, whatever containerd's garbage
# collector has not removed yet); the image is removed between runs (untimed).  buse's
# snapshotter against containerd 2.1.9's overlayfs (goal ≤ 1.2×), native and blockfile
# (scratch 2×size + 128 MiB).
export BENCH_TAG=row13-load
source "$(dirname "$0")/../d28.sh"

FILES=$(q 2000 10000) MIB=$(q 40 220)

# load_tar I: the archive of run I (made once per bench fs, shared by the halves).
load_tar() {
  local out=$BENCH_FS/cache/load-$FILES-$MIB-$1.tar base
  if [ ! -f "$out" ]; then
    base=$(generated_tar "$FILES" "$MIB")
    cp "$base" "$out.layer"
    python3 - "$out.layer" "$1" <<'PY'
import io, sys, tarfile
data = ("bench run %s\n" % sys.argv[2]).encode()
with tarfile.open(sys.argv[1], "a") as t:
    ti = tarfile.TarInfo("bench-run")
    ti.size, ti.mode, ti.mtime = len(data), 0o644, 1700000000
    t.addfile(ti, io.BytesIO(data))
PY
    python3 "$TOP/bench/mkimage.py" "$out.tmp" "load:$1" "$out.layer" 1
    rm -f "$out.layer"
    mv "$out.tmp" "$out"
  fi
  echo "$out"
}

half() {
  local drv=$1 i
  for ((i = 0; i < RUNS; i++)); do load_tar "$i" >/dev/null; done
  d28_start "$drv" $((2 * MIB + 128))
  for ((i = 0; i < RUNS; i++)); do
    fs_sync
    sample "$drv.load" "$(timed docker load -i "$(load_tar "$i")")"
    # The load unpacked (a committed snapshot in $SN), not only filled the content store.
    ctr28 -n "$D28_NS" snapshots --snapshotter "$SN" ls | grep -q Committed ||
      fail "docker load left no committed snapshot in $SN"
    docker rmi "load:$i" >/dev/null
    sleep 1 # containerd's garbage collection, outside the timing
  done
}

report() {
  emit_d28 13 "d28: docker load, $FILES files, $MIB MiB" s load le 1.2 "≤ 1.2×"
}

# shellcheck disable=SC2086
bench_main "$@" $D28_HALVES
