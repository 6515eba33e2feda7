#!/bin/sh
# Runs inside the QEMU guest (busybox sh) of tests/kernel/run.sh when KERNEL_BENCH is set:
# file write and read MB/s on ext4 over /dev/nbdN attached by `buse attach --mode kernel`
# (netlink, CONNS connections, no dm) against ext4 on a loop device over a plain image file of
# the same size and mke2fs options.  Everything lives in the guest's tmpfs (the layer store and
# the image), so both sides pay the same for storage and only the block path differs.
# Write: dd bs=1M conv=fsync of MIB MiB of random data (cached in tmpfs), each run a new file
# after the last one was removed and trimmed.  Read: dd bs=1M of it after drop_caches (the
# guest is ours alone).  The two alternate, run by run.  Prints "BENCH KEY MB/s" lines.
# $1: MIB  $2: RUNS  $3: CONNS  $4: read-ahead KiB for both devices (0: leave the default)
# $5: max_sectors_kb for both (0: default)  $6: I/O scheduler for both (-: default)
MIB=${1:-128} RUNS=${2:-3} CONNS=${3:-4} RA=${4:-0} MAXKB=${5:-0} SCHED=${6:--}
H=/tmp/bhome
BUSE=/bin/buse
OPTS=nodiscard,lazy_itable_init=0,lazy_journal_init=0
SIZE=$(((MIB + MIB / 2 + 256) * 1048576))
PID=

log() { echo "guest: $*"; }

# queue DEV: the block queue settings that shape the requests, and set the read-ahead.
queue() {
  d=${1#/dev/}
  [ "$RA" = 0 ] || blockdev --setra $((RA * 2)) "$1"
  q=/sys/block/$d/queue
  [ "$MAXKB" = 0 ] || echo "$MAXKB" >"$q/max_sectors_kb"
  [ "$SCHED" = - ] || echo "$SCHED" >"$q/scheduler"
  log "$d: read_ahead_kb $(cat $q/read_ahead_kb) max_sectors_kb $(cat $q/max_sectors_kb)" \
    "max_hw_sectors_kb $(cat $q/max_hw_sectors_kb) nr_requests $(cat $q/nr_requests)" \
    "scheduler $(cat $q/scheduler)"
}

# secs: seconds since boot, 10 ms resolution (busybox date has no %N).
secs() { cut -d' ' -f1 /proc/uptime; }
# busy: "user+sys jiffies of the whole guest" (with secs: how loaded both vCPUs were).
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
pct() { awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" -v n="$(nproc)" \
  'BEGIN { printf "%.0f%%", (d - c) / ((b - a) * 100 * n) * 100 }'; }
mbps() { awk -v m="$MIB" -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", m / (b - a) }'; }

setup_loop() {
  truncate -s $SIZE /tmp/plain.img
  /sbin/mke2fs -q -t ext4 -F -E $OPTS /tmp/plain.img || return 1
  mkdir -p /mnt/loop && mount -t ext4 -o loop /tmp/plain.img /mnt/loop || return 1
  queue "$(grep ' /mnt/loop ' /proc/mounts | cut -d' ' -f1)"
}

setup_buse() {
  i=0
  $BUSE layer create --home $H --base-size $SIZE l1 >/dev/null || return 1
  mkdir -p /mnt/buse
  $BUSE attach --home $H --mode kernel --no-dm --connections "$CONNS" --mount /mnt/buse l1 \
    >/tmp/battach.out 2>/tmp/battach.err &
  PID=$!
  while [ ! -s /tmp/battach.out ] && [ $i -lt 600 ]; do
    kill -0 $PID 2>/dev/null || break
    sleep 0.1; i=$((i + 1))
  done
  grep -q ' /mnt/buse ' /proc/mounts || { cat /tmp/battach.err; return 1; }
  queue "$(head -n1 /tmp/battach.out)"
}

write_run() { # NAME RUN
  rm -f /mnt/$1/f.*
  fstrim /mnt/$1 2>/dev/null
  cat /tmp/src >/dev/null
  sync
  a=$(secs) c=$(busy)
  dd if=/tmp/src of=/mnt/$1/f.$2 bs=1M conv=fsync 2>/dev/null || { log "$1: write failed"; return 1; }
  b=$(secs) d=$(busy)
  echo "BENCH $1.write $(mbps "$a" "$b") cpu $(pct "$a" "$b" "$c" "$d")"
}

read_run() { # NAME RUN
  sync
  echo 3 >/proc/sys/vm/drop_caches
  a=$(secs) c=$(busy)
  dd if=/mnt/$1/f.$2 of=/dev/null bs=1M 2>/dev/null || { log "$1: read failed"; return 1; }
  b=$(secs) d=$(busy)
  echo "BENCH $1.read $(mbps "$a" "$b") cpu $(pct "$a" "$b" "$c" "$d")"
}

bench() {
  # the source, the image and the store all live in /tmp (tmpfs: half the RAM by default)
  mount -o remount,size=90% /tmp
  dd if=/dev/urandom of=/tmp/src bs=1M count="$MIB" 2>/dev/null
  setup_loop || return 1
  setup_buse || return 1
  r=0
  while [ $r -lt "$RUNS" ]; do
    if [ $((r % 2)) -eq 0 ]; then x=buse y=loop; else x=loop y=buse; fi
    write_run $x $r && write_run $y $r && read_run $x $r && read_run $y $r || return 1
    r=$((r + 1))
  done
}

log "bench: $MIB MiB, $RUNS runs, $CONNS connections, read-ahead $RA KiB, $(nproc) CPUs"
bench
rc=$?
umount /mnt/loop 2>/dev/null
[ -z "$PID" ] || { kill -TERM $PID; wait $PID; }
echo "BENCH done $rc"
