#!/bin/sh
# Runs inside the QEMU guest (busybox sh) of tests/kernel/run.sh: kernel-mode attach tests.
# Prints "RESULT PASS|FAIL|SKIP name [why]" per test; run.sh counts them.
# $1: space-separated test names to run (default: all).
H=/tmp/home
BUSE=/bin/buse
ALL="netlink-2 netlink-4 ioctl dm restart reload reap"
SEL=${1:-$ALL}
PID=

log() { echo "guest: $*"; }
result() { echo "RESULT $*"; }

# attach OUT ARGS...: buse attach ARGS in the background; waits for the device in OUT.
attach() {
  out=$1; shift
  : >"$out"
  $BUSE attach --home $H --mode kernel "$@" >"$out" 2>"$out.err" &
  PID=$!
  i=0
  while [ ! -s "$out" ] && [ $i -lt 300 ]; do
    kill -0 $PID 2>/dev/null || { cat "$out.err"; return 1; }
    sleep 0.1; i=$((i + 1))
  done
  [ -s "$out" ] || { cat "$out.err"; return 1; }
  DEV=$(head -n1 "$out")
}
stop() { kill -TERM "$1" 2>/dev/null; wait "$1"; }
nbd_of() { # the /dev/nbdN under DEV (itself, or the dm table's device)
  case $1 in
    /dev/nbd*) echo "${1#/dev/}" ;;
    *) ls "/sys/dev/block/$(stat -L -c '%t %T' "$1" | (read -r a b; echo $((0x$a)):$((0x$b))))/slaves" ;;
  esac
}
pid_gone() { [ ! -s /sys/block/$1/pid ]; }

# basic NAME CONNS [extra attach args]: attach, mkfs, mount, write, fsck, detach
basic() {
  name=$1 conns=$2; shift 2
  $BUSE layer create --home $H "$name" || return 1
  attach /tmp/$name.out --connections "$conns" "$@" "$name" || return 1
  nbd=$(nbd_of "$DEV")
  [ -s /sys/block/$nbd/pid ] || { log "no pid for $nbd"; return 1; }
  mkfs.ext4 -q -F -E nodiscard "$DEV" || return 1
  mkdir -p /mnt/$name && mount -t ext4 "$DEV" /mnt/$name || return 1
  dd if=/dev/urandom of=/tmp/$name.data bs=1M count=16 2>/dev/null
  cp /tmp/$name.data /mnt/$name/data && sync || return 1
  umount /mnt/$name || return 1
  e2fsck -fn "$DEV" >/tmp/$name.fsck 2>&1 || { cat /tmp/$name.fsck; return 1; }
  mount -t ext4 -o ro "$DEV" /mnt/$name && cmp /tmp/$name.data /mnt/$name/data || return 1
  umount /mnt/$name
  stop $PID || { cat /tmp/$name.out.err; return 1; }
  pid_gone "$nbd" || { log "$nbd still has a pid after detach"; return 1; }
  log "$name: $DEV ($nbd) with $conns connections ok"
}

t_netlink_2() { basic k2 2 --no-dm; }
t_netlink_4() { basic k4 4 --no-dm; }
t_ioctl() { BUSE_NBD_IOCTL=1 basic kio 2 --no-dm; }

t_dm() {
  [ -e /dev/mapper/control ] || { echo "no device-mapper"; return 77; }
  basic kdm 2 || return 1
  attach /tmp/kdm2.out kdm || return 1
  case $DEV in /dev/mapper/buse-kdm) ;; *) log "dm device is $DEV"; return 1 ;; esac
  mount -t ext4 "$DEV" /mnt/kdm || return 1
  kill -USR1 $PID; sleep 1
  grep -q "I/O suspended" /tmp/kdm2.out.err || { cat /tmp/kdm2.out.err; return 1; }
  (dd if=/dev/zero of=/mnt/kdm/held bs=4k count=1 conv=fsync 2>/dev/null; echo done >/tmp/kdm.dd) &
  sleep 2
  [ ! -e /tmp/kdm.dd ] || { log "write completed while suspended"; return 1; }
  kill -USR2 $PID
  i=0; while [ ! -e /tmp/kdm.dd ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  [ -e /tmp/kdm.dd ] || { log "write did not complete after resume"; return 1; }
  umount /mnt/kdm && stop $PID || return 1
  [ ! -e /dev/mapper/buse-kdm ] || { log "dm device left"; return 1; }
  log "dm: suspend held a write, resume released it"
}

# writer DIR: files of 256 KiB with fsync, each logged once durable; stops on /tmp/stop
writer() {
  i=0
  while [ ! -e /tmp/stop ]; do
    i=$((i + 1))
    yes "block $i" | head -c 262144 >/tmp/w.src.$$
    dd if=/tmp/w.src.$$ of="$1/f$i" bs=64k conv=fsync 2>/tmp/w.err || { echo "$i" >/tmp/w.fail; return 1; }
    echo "$i" >>/tmp/w.log
  done
}

restart_under_io() { # NAME ENV QUIET: kill -9 buse under a writer, reattach, verify
  name=$1 env=$2 quiet=${3:-0}
  rm -f /tmp/stop /tmp/w.fail /tmp/w.log
  $BUSE layer create --home $H "$name" || return 1
  # the request timeout is also how long I/O in flight on a dead connection waits to be
  # requeued onto the new ones: keep it short here
  attach /tmp/$name.out --timeout 8 "$name" || return 1
  mkdir -p /mnt/$name
  mount -t ext4 "$DEV" /mnt/$name || { e2fsck -fn "$DEV"; blockdev --getsize64 "$DEV"; dmesg | tail; return 1; }
  mkdir /mnt/$name/w
  writer /mnt/$name/w &
  wp=$!
  sleep 3
  if [ "$quiet" = 1 ]; then touch /tmp/stop; wait $wp; fi # reload: no I/O in flight
  kill -9 $PID; wait $PID 2>/dev/null
  log "$name: buse killed after $(wc -l </tmp/w.log) files"
  sleep 1
  env $env $BUSE attach --home $H --mode kernel --reattach --timeout 8 "$name" \
    >/tmp/$name.re 2>/tmp/$name.re.err &
  PID=$!
  if [ "$quiet" = 1 ]; then
    i=0; while [ ! -s /tmp/$name.re ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    rm -f /tmp/stop; writer /mnt/$name/w & wp=$!
  fi
  sleep 4
  touch /tmp/stop; wait $wp
  [ ! -e /tmp/w.fail ] || { log "writer failed at $(cat /tmp/w.fail): $(cat /tmp/w.err)"; cat /tmp/$name.re.err; return 1; }
  n=$(sort -n /tmp/w.log | tail -n1)
  [ -s /tmp/$name.re ] || { cat /tmp/$name.re.err; return 1; }
  i=1
  while [ $i -le $n ]; do
    yes "block $i" | head -c 262144 | cmp - /mnt/$name/w/f$i || { log "f$i differs"; return 1; }
    i=$((i + 1))
  done
  umount /mnt/$name || return 1
  e2fsck -fn "$DEV" >/tmp/$name.fsck 2>&1 || { cat /tmp/$name.fsck; return 1; }
  nbd=$(nbd_of "$DEV")
  stop $PID || { cat /tmp/$name.re.err; return 1; }
  pid_gone "$nbd" || { log "$nbd still has a pid"; return 1; }
  log "$name: writer saw no error across the restart, $n files verified ($(cat /tmp/$name.re))"
}

t_restart() { restart_under_io kre BUSE_KDEV_RESTART=1; }
t_reload() {
  [ -e /dev/mapper/control ] || { echo "no device-mapper"; return 77; }
  restart_under_io krl BUSE_KDEV_NO_RECONFIGURE=1 1 || return 1
  grep -q "moving buse-krl to a new device" /tmp/krl.re.err || { cat /tmp/krl.re.err; return 1; }
}

t_reap() { # kill -9 under a mounted dm device; --reap undoes the mount, dm table and nbd
  $BUSE layer create --home $H krp || return 1
  attach /tmp/krp.out --timeout 5 krp || return 1
  nbd=$(nbd_of "$DEV")
  mkdir -p /mnt/krp && mount -t ext4 "$DEV" /mnt/krp || return 1
  kill -9 $PID; wait $PID 2>/dev/null
  $BUSE attach --home $H --reap 2>/tmp/krp.reap || { cat /tmp/krp.reap; return 1; }
  cat /tmp/krp.reap
  grep -q "layer krp" /tmp/krp.reap || { log "reap did not name the layer"; return 1; }
  ! grep -q ' /mnt/krp ' /proc/mounts || { log "still mounted"; return 1; }
  [ ! -e /dev/mapper/buse-krp ] || { log "dm device left"; return 1; }
  pid_gone "$nbd" || { log "$nbd still connected"; return 1; }
  [ -z "$(ls $H/kdev)" ] || { log "records left: $(ls $H/kdev)"; return 1; }
  log "reap: mount, dm table and $nbd of a killed run undone"
}

$BUSE layer create --home $H --base-size 256M base >/dev/null 2>&1 ||
  log "store: $($BUSE layer create --home $H --base-size 256M base 2>&1)"
for t in $SEL; do
  fn=t_$(echo "$t" | tr - _)
  log "--- $t"
  start=$(date +%s)
  out=$($fn 2>&1); rc=$?
  # a failed test may leave its mount and its buse attach behind: clear them for the next
  for m in $(grep ' /mnt/' /proc/mounts | cut -d' ' -f2); do umount "$m" 2>/dev/null; done
  for p in $(pidof buse); do kill "$p"; done
  sleep 0.5
  echo "$out" | sed 's/^/  | /'
  case $rc in
    0) result PASS "$t" "$(($(date +%s) - start))s" ;;
    77) result SKIP "$t" "$(echo "$out" | tail -n1)" ;;
    *) result FAIL "$t" ;;
  esac
done
