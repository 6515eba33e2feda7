#!/bin/sh
# Runs inside the QEMU guest (busybox sh) of tests/kernel/run.sh when KERNEL_BENCH is set:
# file write and read MB/s on ext4 over /dev/nbdN attached by `buse attach --mode kernel`
# (netlink, CONNS connections, no dm) against ext4 on a loop device over a plain image file of
# the same size and mke2fs options, in one or two variants (STORES) that differ in where the
# layer store and the image live:
#   disk   on an ext4 on the guest's virtio disk /dev/vda (run.sh KERNEL_DISK, a file on the
#          host opened with cache=none), the loop device with --direct-io=on as buse's fuse
#          mode and hosts have it: the comparison a host has.  Keys buse.*, loop.*.
#   tmpfs  in the guest's tmpfs (no O_DIRECT there): a cold loop read is one memory copy,
#          buse's one too (the kernel's receive; buse splices the page cache's pages), plus
#          the NBD client's socket work.  Keys buse-ram.*, loop-ram.*.
# Write: dd bs=1M conv=fsync of MIB MiB of random data (cached in tmpfs), each run a new file
# after the last one was removed and trimmed.  Read: dd bs=1M of it after drop_caches (the
# guest is ours alone: the store's page cache goes too).  The two alternate, run by run.
# Prints "BENCH KEY MB/s" lines.
# $1: MIB  $2: RUNS  $3: CONNS  $4: read-ahead KiB for the loop device (0: leave the default)
# $5: its max_sectors_kb (0: default)  $6: I/O scheduler for both devices (-: default)
# (/dev/nbdN keeps what `buse attach` set: attach/kernel.c raises the driver's 128 KiB
# requests and read-ahead to 1280 KiB and 4 MiB; give loop the same to compare like with like)
# $7: stores, '+'-separated, in this order (default disk+tmpfs; disk needs /dev/vda)
MIB=${1:-128} RUNS=${2:-3} CONNS=${3:-4} RA=${4:-0} MAXKB=${5:-0} SCHED=${6:--}
STORES=${7:-disk+tmpfs}
BUSE=/bin/buse
OPTS=nodiscard,lazy_itable_init=0,lazy_journal_init=0
# 4 KiB blocks on both, as a layer's 10 GiB ext4 has (mke2fs would give these small ones
# 1 KiB blocks, whose 1 KiB-aligned requests no O_DIRECT path can take whole)
BLOCK=4096
SIZE=$(((MIB + MIB / 2 + 256) * 1048576))
PID=

log() { echo "guest: $*"; }

# queue DEV [own]: the block queue settings that shape the requests; set read-ahead and
# request size unless "own" (the device's owner set them).
queue() {
  d=${1#/dev/}
  q=/sys/block/$d/queue
  if [ "${2:-}" != own ]; then
    [ "$RA" = 0 ] || blockdev --setra $((RA * 2)) "$1"
    [ "$MAXKB" = 0 ] || echo "$MAXKB" >"$q/max_sectors_kb"
  fi
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

# setup_loop NAME DIR DIO: ext4 on a loop device over DIR/plain.img, mounted on /mnt/NAME.
setup_loop() {
  truncate -s $SIZE "$2/plain.img"
  /sbin/mke2fs -q -t ext4 -F -b $BLOCK -E $OPTS "$2/plain.img" || return 1
  LOOPDEV=$(/sbin/losetup --direct-io="$3" -f --show "$2/plain.img") || return 1
  mkdir -p /mnt/$1 && mount -t ext4 "$LOOPDEV" /mnt/$1 || return 1
  log "${LOOPDEV#/dev/}: direct-io $(cat /sys/block/${LOOPDEV#/dev/}/loop/dio)"
  queue "$LOOPDEV"
}

# setup_buse NAME HOME: layer l1 in HOME attached in kernel mode, ext4 mounted on /mnt/NAME.
setup_buse() {
  i=0
  $BUSE layer create --home "$2" --base-size $SIZE --mkfs-args "-b $BLOCK" l1 >/dev/null ||
    return 1
  mkdir -p /mnt/$1
  rm -f /tmp/battach.out /tmp/battach.err
  $BUSE attach --home "$2" --mode kernel --no-dm --connections "$CONNS" --mount /mnt/$1 l1 \
    >/tmp/battach.out 2>/tmp/battach.err &
  PID=$!
  while [ ! -s /tmp/battach.out ] && [ $i -lt 600 ]; do
    kill -0 $PID 2>/dev/null || break
    sleep 0.1; i=$((i + 1))
  done
  grep -q " /mnt/$1 " /proc/mounts || { cat /tmp/battach.err; return 1; }
  queue "$(head -n1 /tmp/battach.out)" own
}

teardown() { # BUSE LOOP
  umount /mnt/$2 2>/dev/null
  [ -z "$LOOPDEV" ] || /sbin/losetup -d "$LOOPDEV" 2>/dev/null
  LOOPDEV=
  [ -z "$PID" ] || { kill -TERM $PID; wait $PID; }
  PID=
}

# prof NAME.OP CMD...: run CMD, under perf record when the guest has perf (run.sh
# KERNEL_PERF; KERNEL_APPEND=PERF_HZ=N sets the sampling rate, default 100), then print the
# shares of its top commands and symbols as "PERF NAME.OP  pct  comm [symbol]" lines.
prof() {
  k=$1; shift
  [ -x /bin/perf ] || { "$@"; return; }
  perf record -q -e cpu-clock -F "${PERF_HZ:-100}" -a -o /tmp/perf.data -- "$@" 2>/dev/null
  rc=$?
  perf report -i /tmp/perf.data --stdio --sort comm 2>/dev/null |
    awk -v k="$k" '/^ +[0-9.]+%/ && n < 8 { n++; $1 = $1; print "PERF " k "  " $0 }'
  perf report -i /tmp/perf.data --stdio --sort comm,sym 2>/dev/null |
    awk -v k="$k" '/^ +[0-9.]+%/ && n < 30 { n++; $1 = $1; print "PERF " k "  " $0 }'
  rm -f /tmp/perf.data
  return $rc
}

write_run() { # NAME RUN
  rm -f /mnt/$1/f.*
  fstrim /mnt/$1 2>/dev/null
  cat /tmp/src >/dev/null
  sync
  a=$(secs) c=$(busy)
  prof $1.write dd if=/tmp/src of=/mnt/$1/f.$2 bs=1M conv=fsync 2>/dev/null ||
    { log "$1: write failed"; return 1; }
  b=$(secs) d=$(busy)
  echo "BENCH $1.write $(mbps "$a" "$b") cpu $(pct "$a" "$b" "$c" "$d")"
}

read_run() { # NAME RUN
  sync
  echo 3 >/proc/sys/vm/drop_caches
  a=$(secs) c=$(busy)
  prof $1.read dd if=/mnt/$1/f.$2 of=/dev/null bs=1M 2>/dev/null ||
    { log "$1: read failed"; return 1; }
  b=$(secs) d=$(busy)
  echo "BENCH $1.read $(mbps "$a" "$b") cpu $(pct "$a" "$b" "$c" "$d")"
}

series() { # BUSE LOOP: RUNS rounds, alternating which goes first
  r=0
  while [ $r -lt "$RUNS" ]; do
    if [ $((r % 2)) -eq 0 ]; then x=$1 y=$2; else x=$2 y=$1; fi
    write_run $x $r && write_run $y $r && read_run $x $r && read_run $y $r || return 1
    r=$((r + 1))
  done
}

store() { # disk|tmpfs
  case $1 in
    disk)
      [ -b /dev/vda ] || { log "no /dev/vda (run.sh KERNEL_DISK)"; return 1; }
      /sbin/mke2fs -q -t ext4 -F -E $OPTS /dev/vda || return 1
      mkdir -p /disk && mount -t ext4 /dev/vda /disk || return 1
      log "store disk: ext4 on vda ($(($(cat /sys/block/vda/size) / 2048)) MiB)," \
        "scheduler $(cat /sys/block/vda/queue/scheduler)"
      setup_loop loop /disk on && setup_buse buse /disk/bhome && series buse loop
      rc=$?
      teardown buse loop
      umount /disk
      return $rc ;;
    tmpfs)
      log "store tmpfs"
      setup_loop loop-ram /tmp off && setup_buse buse-ram /tmp/bhome && series buse-ram loop-ram
      rc=$?
      teardown buse-ram loop-ram
      rm -rf /tmp/plain.img /tmp/bhome
      return $rc ;;
  esac
  log "unknown store $1"
  return 1
}

bench() {
  # the source (and the tmpfs store) live in /tmp (tmpfs: half the RAM by default)
  mount -o remount,size=90% /tmp
  dd if=/dev/urandom of=/tmp/src bs=1M count="$MIB" 2>/dev/null
  for s in $(echo "$STORES" | tr + ' '); do
    store "$s" || return 1
  done
}

log "bench: $MIB MiB, $RUNS runs, $CONNS connections, loop read-ahead $RA KiB, stores $STORES," \
  "$(nproc) CPUs"
bench
echo "BENCH done $?"
