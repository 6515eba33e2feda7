#!/usr/bin/env bash
# Row 14: block volumes, inside a container on dockerd 20.10 — buse (`docker volume create -d
# buse`, fuse mode here) against a `local` volume (a host directory) and a loop-mounted ext4
# image file (bind-mounted into the container), all on the bench fs (journaled ext4).
# Sequential: `dd bs=1M conv=fsync` of MIB MiB (write + fsync), then a cold read of it (buse:
# the volume is detached between containers; loop: unmounted and mounted again; then, for all
# three, the files under the bench's folder dropped from the host's page cache).  Random: fio (the host's binary and libraries copied into
# the image) 4 KiB randread and randwrite, O_DIRECT, iodepth 16, inside the container.
# Clones (buse only): `-o from=` of a 1 GiB and a 10 GiB volume holding CLONE_MIB MiB, timed
# at the plugin socket (VolumeDriver.Create by bench/plugcall.py: without the docker CLI or a
# client's start-up), and the host bytes the
# clone adds; the loop image's `cp --sparse=always` is the reference shown.
source "$(dirname "$0")/../lib.sh"

MIB=$(q 128 1024)
CLONE_MIB=$(q 32 256)
FIO_SECS=$(q 4 15)

# fio_image NAME: busybox + nstime + fio with the shared libraries it links.
fio_image() {
  local d=$T/fio-image lib
  requires fio
  mkdir -p "$d"
  tar -C "$d" -xf "$(busybox_tar)"
  install -m 0755 "$(nstime_bin)" "$d/nstime"
  install -D -m 0755 "$(command -v fio)" "$d/usr/bin/fio"
  for lib in $(ldd "$(command -v fio)" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'); do
    install -D -m 0755 "$lib" "$d$lib" # the loader must be executable
  done
  import_dir "$d" "$1"
  rm -rf "$d"
}

# fio_iops CTR-ARGS RW: IOPS of one fio run in a new container.
fio_iops() {
  local rw=$1
  shift
  docker run --rm --network none "$@" fioimg fio --name=b --filename=/data/fio \
    --size=$(q 256M 1G) --bs=4k --rw="$rw" --direct=1 --ioengine=psync --numjobs=4 \
    --group_reporting --runtime="$FIO_SECS" --time_based --output-format=json 2>/dev/null |
    python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; print(int(j["read"]["iops"] + j["write"]["iops"]))'
}

# mbps MIB SECONDS
mbps() { awk -v m="$1" -v s="$2" 'BEGIN { printf "%.1f", m / s }'; }

half() {
  local drv=$1 i vol=() c t mnt img
  case $drv in
    buse) start_driver buse ;;
    *) start_driver overlay2 ;;
  esac
  fio_image fioimg
  case $drv in
    buse) docker volume create -d "$BUSE_DRIVER" -o size=$((MIB * 3 / 1024 + 4))G bv >/dev/null ||
      fail "volume create"; vol=(-v bv:/data) ;;
    local) docker volume create lv >/dev/null; vol=(-v lv:/data) ;;
    loop)
      img=$T/vol.img mnt=$T/vol-mnt
      truncate -s $((MIB * 3 / 1024 + 4))G "$img" && mkfs.ext4 -q -m 0 "$img" && mkdir -p "$mnt" &&
        mount -o loop "$img" "$mnt" || fail "loop image"
      cleanup_fn "umount '$mnt' 2>/dev/null"
      vol=(-v "$mnt:/data") ;;
  esac
  for ((i = 0; i < RUNS; i++)); do
    c=$(docker run -d --network none "${vol[@]}" fioimg sleep 600)
    t=$(in_container_time "$c" dd if=/dev/zero of=/data/seq bs=1M count="$MIB" conv=fsync) ||
      fail "dd write"
    sample "$drv.seqw" "$(mbps "$MIB" "$t")"
    docker rm -f "$c" >/dev/null
    # cold for all three: the loop image's file, like buse's diffs and local's file, is
    # dropped from the host's page cache (a remount alone leaves it there)
    [ "$drv" != loop ] || { umount "$mnt" && mount -o loop "$img" "$mnt"; } || fail "loop remount"
    drop_cache
    c=$(docker run -d --network none "${vol[@]}" fioimg sleep 600)
    t=$(in_container_time "$c" dd if=/data/seq of=/dev/null bs=1M) || fail "dd read"
    sample "$drv.seqr" "$(mbps "$MIB" "$t")"
    docker exec "$c" rm /data/seq
    docker rm -f "$c" >/dev/null
  done
  for ((i = 0; i < $(q 1 3); i++)); do
    t=$(fio_iops randread "${vol[@]}") || fail "fio randread in a container"
    sample "$drv.randr" "$t"
    t=$(fio_iops randwrite "${vol[@]}") || fail "fio randwrite in a container"
    sample "$drv.randw" "$t"
  done
  case $drv in
    buse)
      local size b0 b1 t0 out store=$BUSE_STATE/volumes/store/layers
      for size in 1 10; do
        docker volume create -d "$BUSE_DRIVER" -o size=${size}G "src$size" >/dev/null
        docker run --rm --network none -v "src$size:/data" fioimg \
          dd if=/dev/urandom of=/data/d bs=1M count="$CLONE_MIB" conv=fsync 2>/dev/null
        for ((i = 0; i < RUNS; i++)); do
          fs_sync
          b0=$(disk_used "$store")
          # timed by plugcall.py: the call alone (curl's own start-up is ~20 ms here)
          out=$(python3 "$TOP/bench/plugcall.py" "$BUSE_SOCK" VolumeDriver.Create \
            "{\"Name\":\"c$size-$i\",\"Opts\":{\"from\":\"src$size\"}}") ||
            fail "clone of src$size: $out"
          [ "$(head -n 1 <<<"$out")" = "{}" ] || fail "clone of src$size: $out"
          fs_sync
          b1=$(disk_used "$store")
          sample "buse.clone$size" "$(awk '$1 == "time_ms" { print $2 }' <<<"$out")"
          sample "buse.clonedisk$size" "$(awk -v a="$b1" -v b="$b0" 'BEGIN { printf "%.4f", (a - b) / 1048576 }')"
        done
      done ;;
    loop)
      umount "$mnt"
      for ((i = 0; i < RUNS; i++)); do
        t0=$(now)
        cp --sparse=always "$img" "$T/copy.img"
        fs_sync
        sample "loop.clone1" "$(awk -v t="$(since "$t0")" 'BEGIN { printf "%.3f", t * 1000 }')"
        sample "loop.clonedisk1" "$(awk -v a="$(disk_used "$T/copy.img")" 'BEGIN { printf "%.4f", a / 1048576 }')"
        rm -f "$T/copy.img"
      done ;;
  esac
}

report() {
  local ref
  for ref in loop local; do
    emit 14 "volume: sequential write + fsync ($MIB MiB)" MB/s buse.seqw "$ref" "$ref.seqw" \
      "$([ $ref = loop ] && echo ge || echo -)" "$([ $ref = loop ] && echo 0.8 || echo -)" \
      "$([ $ref = loop ] && echo '≥ 0.8× loop' || echo '(info)')"
    emit 14 "volume: sequential cold read ($MIB MiB)" MB/s buse.seqr "$ref" "$ref.seqr" \
      "$([ $ref = loop ] && echo ge || echo -)" "$([ $ref = loop ] && echo 0.8 || echo -)" \
      "$([ $ref = loop ] && echo '≥ 0.8× loop' || echo '(info)')"
    emit 14 "volume: fio 4 KiB randread, 4 jobs" IOPS buse.randr "$ref" "$ref.randr" - - "(info)"
    emit 14 "volume: fio 4 KiB randwrite, 4 jobs" IOPS buse.randw "$ref" "$ref.randw" - - "(info)"
  done
  emit 14 "volume clone (-o from=), 1 GiB volume" ms buse.clone1 "loop cp" loop.clone1 lt 10 "< 10 ms"
  emit 14 "volume clone (-o from=), 10 GiB volume" ms buse.clone10 "loop cp" loop.clone1 lt 10 "< 10 ms"
  emit 14 "volume clone flatness: 10 GiB vs 1 GiB" ms buse.clone10 "buse 1 GiB" buse.clone1 le 2 "flat (≤ 2×)"
  emit 14 "volume clone: host disk added, 10 GiB volume" MiB buse.clonedisk10 "loop cp" loop.clonedisk1 lt 1 "< 1 MiB"
}

bench_main "$@" buse loop local
