#!/usr/bin/env bash
# Row 10: file I/O through a layer attached in fuse mode (`buse attach --mode fuse`: our NBD
# server → nbdfuse → loop with direct I/O → ext4) against ext4 on a loop device over a plain
# image file of the same size, made with the same mke2fs options, both on the journaled bench
# fs.  Sequential write of a 1 GiB file of random data (QUICK: 256 MiB; `dd bs=1M conv=fsync`,
# source already in the page cache, each run a new file after the last one was removed and
# trimmed) and cold sequential read of it (`dd bs=1M` after dropping the file, the image, the
# diff files and the nbdfuse file from the page cache); 4 KiB random reads of that file when
# fio is installed (psync, O_DIRECT, 30 s, QUICK 5 s: the cost of one request down the path,
# the backing files being warm in the host's page cache).  buse and loop alternate run by run, in one process.
# No goal: the fuse path is the fallback for kernels without NBD (row 11 has the goal).
source "$(dirname "$0")/../lib.sh"

MIB=$(q 256 1024)
SIZE=$(((MIB + MIB / 2 + 256) * MiB)) # the file, the journal and room for two more
MKFS_OPTS=nodiscard,lazy_itable_init=0,lazy_journal_init=0
FIO_SECS=$(q 5 30)

# src_file: MIB MiB of random data on the bench fs, outside $T (drop_cache spares it).
src_file() {
  local f=$BENCH_FS/cache/random-$MIB.bin
  if [ ! -f "$f" ]; then
    mkdir -p "$BENCH_FS/cache"
    head -c "${MIB}M" /dev/urandom >"$f.tmp" && mv "$f.tmp" "$f"
  fi
  echo "$f"
}

# setup_loop: ext4 on a loop device over $T/plain.img, mounted on $T/loop.
setup_loop() {
  truncate -s "$SIZE" "$T/plain.img"
  mkfs.ext4 -q -F -E "$MKFS_OPTS" "$T/plain.img"
  mkdir "$T/loop"
  mount -o loop "$T/plain.img" "$T/loop"
  cleanup_fn "umount '$T/loop'"
}

# setup_buse: a store whose base ext4 has the same size, one layer on it, attached in fuse
# mode and mounted on $T/buse; BUSE_BACK is the nbdfuse file under the loop device.
setup_buse() {
  local i dev
  "$BUSE" layer create --home "$T/home" --base-size "$SIZE" l1
  mkdir "$T/buse"
  "$BUSE" attach --home "$T/home" --state "$T/state" --mode fuse --mount "$T/buse" l1 \
    >"$T/attach.out" 2>"$T/attach.err" &
  cleanup_fn "stop_pid $!"
  for ((i = 0; i < 300; i++)); do
    [ ! -s "$T/attach.out" ] || break
    kill -0 $! 2>/dev/null || { cat "$T/attach.err"; fail "buse attach exited"; }
    sleep 0.1
  done
  dev=$(head -n1 "$T/attach.out")
  if [ -z "$dev" ] || ! mountpoint -q "$T/buse"; then
    cat "$T/attach.err"
    fail "buse attach: no mount"
  fi
  BUSE_BACK=$(cat "/sys/block/${dev#/dev/}/loop/backing_file")
  echo "buse: $dev over $BUSE_BACK"
}

mbps() { awk -v m="$MIB" -v t="$1" 'BEGIN { printf "%.1f", m / t }'; }

write_run() { # DRIVER DIR RUN
  local t
  rm -f "$2"/f.*
  fstrim "$2" 2>/dev/null || true
  cat "$(src_file)" >/dev/null
  fs_sync
  t=$(timed dd if="$(src_file)" of="$2/f.$3" bs=1M conv=fsync)
  sample "$1.write" "$(mbps "$t")"
}

read_run() { # DRIVER DIR RUN
  local t
  drop_cache "$2/f.$3" "$BUSE_BACK"
  t=$(timed dd if="$2/f.$3" of=/dev/null bs=1M)
  sample "$1.read" "$(mbps "$t")"
}

fio_run() { # DRIVER DIR
  local iops
  drop_cache "$2"/f.* "$BUSE_BACK"
  iops=$(fio --name=rr --filename="$(echo "$2"/f.*)" --rw=randread --bs=4k --ioengine=psync \
    --direct=1 --time_based --runtime="$FIO_SECS" --output-format=terse --terse-version=3 |
    cut -d';' -f8)
  sample "$1.rand" "$iops"
}

half() {
  local i a b
  setup_loop
  setup_buse
  src_file >/dev/null
  for ((i = 0; i < RUNS; i++)); do
    # alternate which one goes first
    if ((i % 2)); then a=loop b=buse; else a=buse b=loop; fi
    write_run $a "$T/$a" "$i"
    write_run $b "$T/$b" "$i"
    read_run $a "$T/$a" "$i"
    read_run $b "$T/$b" "$i"
  done
  if ! command -v fio >/dev/null; then
    na buse.rand "fio not installed"
    return
  fi
  for ((i = 0; i < RUNS; i++)); do
    if ((i % 2)); then a=loop b=buse; else a=buse b=loop; fi
    fio_run $a "$T/$a"
    fio_run $b "$T/$b"
  done
}

report() {
  emit 10 "fuse attach: seq write $MIB MiB (dd conv=fsync)" MiB/s buse.write loop loop.write - - "(info)"
  emit 10 "fuse attach: cold seq read $MIB MiB (dd bs=1M)" MiB/s buse.read loop loop.read - - "(info)"
  emit 10 "fuse attach: 4 KiB random read (fio psync)" IOPS buse.rand loop loop.rand - - "(info)"
}

bench_main "$@" buse
