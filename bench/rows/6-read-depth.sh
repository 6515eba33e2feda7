#!/usr/bin/env bash
# Row 6: cold sequential read of a 1 GiB image file inside a container (QUICK: 256 MiB),
# `dd bs=1M` timed inside the container after dropping /big and every big host file of the
# run (diffs, data roots) from the page cache (fadvise; see drop_cache), on an image of
# depth 1 and one of depth 64 (the file in the bottom layer, 63 small layers above; both
# loaded with `docker load` from an archive made by bench/mkimage.py; QUICK: depth 16).
# References: overlay2 at the same depths, and a plain ext4 image on a loop device read on the
# host (the block path without NBD).  Goal: buse at depth 64 ≥ 0.9× its depth-1 throughput.
source "$(dirname "$0")/../lib.sh"

MIB=$(q 256 1024)
DEPTH=$(q 16 64) # QUICK: loading 64 layers into buse takes minutes

# base_tar: busybox + /nstime + /big as a rootfs tar on the bench fs, made once per run.
base_tar() {
  local tar=$BENCH_FS/cache/read-base-$MIB.tar d
  if [ ! -f "$tar" ]; then
    mkdir -p "$BENCH_FS/cache"
    d=$(mktemp -d "$BENCH_FS/cache/tree.XXXXXX")
    tar -C "$d" -xf "$(busybox_tar)"
    install -m 0755 "$(nstime_bin)" "$d/nstime"
    head -c "${MIB}M" /dev/urandom >"$d/big"
    tar --sort=name --owner=0 --group=0 --numeric-owner -C "$d" -cf "$tar.tmp" .
    rm -rf "$d"
    mv "$tar.tmp" "$tar"
  fi
  echo "$tar"
}

read_in() { # image key
  local i c
  c=$(docker run -d --network none "$1" sleep 600)
  docker exec "$c" true
  for ((i = 0; i < RUNS; i++)); do
    drop_cache
    docker exec "$c" /nstime --drop /big
    sample "$2" "$(in_container_time "$c" dd if=/big of=/dev/null bs=1M |
      awk -v m="$MIB" '{ printf "%.1f", m / $1 }')"
  done
  docker rm -f "$c" >/dev/null
}

half_loop() {
  local img=$T/plain.img mnt=$T/plain i t
  truncate -s $((MIB + 256))M "$img"
  mkfs.ext4 -q -E nodiscard "$img"
  mkdir "$mnt"
  mount -o loop "$img" "$mnt"
  cleanup_fn "umount '$mnt'"
  tar -C "$mnt" -xf "$(base_tar)" ./big
  for ((i = 0; i < RUNS; i++)); do
    drop_cache "$mnt/big"
    t=$(timed dd if="$mnt/big" of=/dev/null bs=1M)
    sample loop.d1 "$(awk -v m="$MIB" -v t="$t" 'BEGIN { printf "%.1f", m / t }')"
  done
}

half() {
  local drv=$1 d
  [ "$drv" != loop ] || { half_loop; return; }
  start_driver "$drv"
  for d in 1 $DEPTH; do
    python3 "$TOP/bench/mkimage.py" "$T/img.tar" "deep:$d" "$(base_tar)" "$d"
    docker load -i "$T/img.tar" >/dev/null
    rm -f "$T/img.tar"
    read_in "deep:$d" "$drv.d$d"
  done
}

report() {
  local what="cold read of a $MIB MiB image file"
  emit 6 "$what, depth $DEPTH vs depth 1" MiB/s "buse.d$DEPTH" "buse d1" buse.d1 ge 0.9 "≥ 0.9×"
  emit 6 "$what, depth 1" MiB/s buse.d1 overlay2 overlay2.d1 - - "(info)"
  emit 6 "$what, depth $DEPTH" MiB/s "buse.d$DEPTH" overlay2 "overlay2.d$DEPTH" - - "(info)"
  emit 6 "$what, depth 1" MiB/s buse.d1 "loop" loop.d1 - - "(info)"
}

bench_main "$@" buse overlay2 loop
