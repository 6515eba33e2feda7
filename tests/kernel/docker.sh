#!/usr/bin/env bash
# Runs inside the kernel-tier guest (tests/kernel/run.sh), chrooted by hostroot.sh into the
# host's root (read-only; /var/lib on a scratch disk): Debian's dockerd 20.10 on `buse serve`
# in kernel mode (buse.attach=kernel: netlink NBD, 2 connections, the dm wrapper), as a host
# with the nbd module runs it.  Prints "RESULT PASS|FAIL|SKIP name [why]" per test, as
# guest.sh does; run.sh counts them.
#   docker            import, run (the root is ext4 on /dev/mapper/buse-* over /dev/nbdN),
#                     build (legacy builder, RUN steps), commit of a running container, save
#   docker-restart    a container writes files with fsync while buse serve is killed (-9)
#                     and started again: it adopts the devices (RECONFIGURE, new sockets); the
#                     writer sees no I/O error and every file it wrote verifies
#   docker-dockerd    dockerd restarted: images, a stopped container's changes, new runs
#   docker-multiconn  a layer attached with 4 connections (buse attach) as a container's
#                     volume under dd load, next to its rootfs on buse, no error
#   docker-clean      docker rm and rmi of everything: no nbd device connected, no dm table,
#                     no mount left
#   docker28          dockerd 28.5.2 + containerd 2.1.9 on `buse snapshotter --attach kernel`
#                     (docker28.sh; the 20.10 daemons are stopped first)
# $@: the tests to run (default: all, in that order).  Environment from hostroot.sh: TOP, BUSE,
# RUN (run.sh's directory: busybox.tar).
set -u
ALL="docker docker-dockerd docker-restart docker-multiconn docker-clean docker28"
SEL=${*:-$ALL}

source "$(dirname "$0")/docker-lib.sh"
source "$(dirname "$0")/docker28.sh"
HOME_B=$S/docker/buse
use docker

setup() {
  local t0
  t0=$(now)
  prefetch dockerd containerd docker runc containerd-shim-runc-v2 "$BUSE" mke2fs
  start_buse && log "buse serve up at +$(since "$t0") s" &&
    start_containerd docker && log "containerd up at +$(since "$t0") s" &&
    start_dockerd docker buse && log "dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,) up at" \
    "+$(since "$t0") s" || return 1
  [ "$(docker info --format '{{.Driver}}')" = buse ] || { docker info; return 1; }
  docker import -c 'CMD ["/bin/sh"]' "$RUN/busybox.tar" bb >/dev/null || return 1
  log "busybox imported at +$(since "$t0") s"
}

# nbd_of DEV: the nbdN under DEV (itself, or the device under its dm table)
nbd_of() {
  case $1 in
    /dev/nbd*) echo "${1#/dev/}" ;;
    *) ls "/sys/dev/block/$(($(stat -L -c '0x%t' "$1"))):$(($(stat -L -c '0x%T' "$1")))/slaves" ;;
  esac
}

# root_dev CONTAINER: the device the running container's / is on (its buse layer's)
root_dev() {
  local pid
  pid=$(docker inspect -f '{{.State.Pid}}' "$1") || return 1
  awk '$2 == "/" { print $1 }' "/proc/$pid/mounts"
}

t_docker() {
  local dev nbd out layer
  docker run -d --name c1 bb sh -c 'echo live >/live; sync; touch /ready; exec sleep 600' \
    >/dev/null || return 1
  dev=$(root_dev c1) && nbd=$(nbd_of "$dev") || return 1
  case $dev in /dev/mapper/buse-*) ;; *) log "the container's / is on $dev"; return 1 ;; esac
  [ -s /sys/block/$nbd/pid ] || { log "$nbd is not connected"; return 1; }
  log "run: the container's / is on $dev ($nbd, pid $(cat /sys/block/$nbd/pid))," \
    "dm table: $(dmsetup table "${dev#/dev/mapper/}")"
  # commit of a running container (paused for the commit)
  wait_until 60 docker exec c1 test -e /ready ||
    { log "c1 never became ready: $(docker exec c1 ls / 2>&1 | tr '\n' ' ')"; return 1; }
  docker commit c1 committed >/dev/null || { log "docker commit failed"; return 1; }
  out=$(docker run --rm committed cat /live /etc/motd) || { log "run committed: $out"; return 1; }
  [ "$out" = "$(printf 'live\nbuse test image')" ] || { log "committed image: $out"; return 1; }
  log "commit of a running container: ok"
  # build: a few RUN steps with the legacy builder
  mkdir -p $S/ctx
  cat >$S/ctx/Dockerfile <<'EOT'
FROM bb
RUN echo one >/one && mkdir /d && dd if=/dev/urandom of=/d/r bs=64k count=16 2>/dev/null && md5sum /d/r >/d/r.md5
RUN rm /etc/motd && echo two >>/one
RUN ln -s /one /link
EOT
  docker build -t built $S/ctx >$S/build.out 2>&1 || { tail -n 15 $S/build.out; return 1; }
  out=$(docker run --rm built sh -c 'cat /link; md5sum -c -s /d/r.md5 && echo sum-ok; ls /etc/motd 2>&1')
  case $out in "$(printf 'one\ntwo\nsum-ok\n')"*"No such file"*) ;; *) log "built image: $out"; return 1 ;; esac
  log "build (3 RUN steps): ok"
  # the image under the build is unchanged (its layer is immutable under its children)
  out=$(docker run --rm bb sh -c 'cat /etc/motd; ls /one 2>&1') || true
  case $out in "buse test image"*"No such file"*) ;;
    *) log "bb after the build: $out"; docker run --rm bb ls -la /etc /; return 1 ;; esac
  # save: the committed layer holds /live
  rm -rf $S/save && mkdir -p $S/save
  docker save committed -o $S/save.tar && tar -xf $S/save.tar -C $S/save || return 1
  layer=$(sed 's/.*"Layers":\[\([^]]*\)\].*/\1/' $S/save/manifest.json | tr , '\n' | tail -n1 | tr -d '"')
  tar -tf "$S/save/$layer" | grep -qxE '(\./)?live' || { log "saved layer $layer: no /live"; return 1; }
  log "save: $(($(stat -c %s $S/save.tar) / 1024)) KiB, the committed layer has /live"
  docker rm -f c1 >/dev/null
}

# the writer: files of 256 KiB, each written with fsync, "ok N" once durable; stops on /stop
WRITER='mkdir -p /w; i=0
while [ ! -e /stop ]; do
  i=$((i + 1))
  yes "block $i" | head -c 262144 >/w/src
  dd if=/w/src of=/w/f$i bs=64k conv=fsync 2>/w/err || { echo "FAIL $i"; cat /w/err; exit 1; }
  echo "ok $i"
done'
written() { docker logs wr 2>&1 | grep -c '^ok'; }

t_docker_restart() {
  local n0 n1 n pid i out
  docker run -d --name wr bb sh -c "$WRITER" >/dev/null || return 1
  wait_until 60 eval '[ "$(written)" -ge 3 ]' || { docker logs wr; return 1; }
  n0=$(written)
  kill -9 $BUSE_PID
  wait $BUSE_PID 2>/dev/null
  log "buse serve killed (-9) after $n0 files"
  start_buse || return 1
  grep -q 'adopted' $S/buse.log || { tail -n 20 $S/buse.log; return 1; }
  log "buse serve restarted: $(grep -c adopted $S/buse.log) device(s) adopted"
  # the writer goes on: its I/O on the dead connections is requeued onto the new ones
  wait_until 120 eval '[ "$(written)" -ge $((n0 + 3)) ]' || { docker logs wr | tail; return 1; }
  n1=$(written)
  docker exec wr touch /stop || return 1
  [ "$(docker wait wr)" = 0 ] || { docker logs wr | tail; return 1; }
  ! docker logs wr 2>&1 | grep -q FAIL || { docker logs wr | tail; return 1; }
  n=$(written)
  rm -rf $S/wcopy
  docker cp wr:/w $S/wcopy || return 1
  for ((i = 1; i <= n; i++)); do
    yes "block $i" | head -c 262144 | cmp -s - $S/wcopy/f$i || { log "f$i differs"; return 1; }
  done
  ! dmesg | grep -iE 'nbd.*(error|I/O)|blk_update_request|Buffer I/O' || return 1
  log "writer saw no error across the restart: $n files verified ($n0 before the kill, $n1" \
    "when it was told to stop)"
  docker rm wr >/dev/null
  # new containers on the restarted buse see the images as they were
  out=$(docker run --rm built sh -c 'cat /one; ls /etc/motd 2>&1; rm /one && echo rm-ok' | tr '\n' ' ')
  case $out in "one two "*"No such file"*"rm-ok ") ;; *) log "built after the restart: $out"; return 1 ;; esac
  log "new containers after the restart: ok"
}

t_docker_dockerd() {
  local out
  docker run --name keep bb sh -c 'echo kept >/kept; rm -f /etc/motd' ||
    { log "keep failed"; docker run --rm bb ls -la /etc; return 1; }
  stop_dockerd docker
  # libnetwork's store: dockerd 20.10 keeps a sandbox there for every container run so far and
  # spends some 10 s under TCG removing each as stale when it starts (networking, not storage)
  rm -f $S/docker/network/files/local-kv.db
  start_dockerd docker buse || return 1
  out=$(docker diff keep | sort | tr '\n' ' ')
  [ "$out" = "A /kept C /etc D /etc/motd " ] || { log "docker diff keep: $out"; return 1; }
  out=$(docker run --rm built cat /one | tr '\n' ' ') || return 1
  [ "$out" = "one two " ] || { log "built image after the restart: $out"; return 1; }
  out=$(docker start -a keep && docker cp keep:/kept - | tar -xO) || return 1
  [ "$out" = kept ] || { log "keep after a second start: $out"; return 1; }
  log "dockerd restarted: images and a stopped container's changes are there, runs work"
}

t_docker_multiconn() {
  local mc=$S/mc pid dev socks out
  "$BUSE" layer create --home $mc --base-size 1G vol >/dev/null || return 1
  mkdir -p $S/mcmnt
  "$BUSE" attach --home $mc --mode kernel --connections 4 --mount $S/mcmnt vol >$S/mc.out \
    2>$S/mc.err &
  pid=$!
  wait_until 60 test -s $S/mc.out || { cat $S/mc.err; return 1; }
  dev=$(head -n1 $S/mc.out)
  socks=$(ls -l /proc/$pid/fd | grep -c socket)
  [ "$socks" -ge 4 ] || { log "buse attach holds $socks sockets"; return 1; }
  # the volume (4 connections) and the container's rootfs (the graphdriver's device), at once
  out=$(docker run --rm -v $S/mcmnt:/data bb sh -c '
    dd if=/dev/urandom of=/data/r bs=1M count=16 2>/dev/null && md5sum /data/r >/r.md5 &&
    { dd if=/dev/zero of=/data/z bs=1M count=64 conv=fsync 2>/dev/null & a=$!
      dd if=/dev/zero of=/big bs=1M count=32 conv=fsync 2>/dev/null & b=$!
      wait $a && wait $b; } && md5sum -c -s /r.md5 && cat /data/z | wc -c && wc -c </big') || { log "$out"; return 1; }
  [ "$(echo $out)" = "67108864 33554432" ] || { log "dd in the container: $out"; return 1; }
  sync
  echo 3 >/proc/sys/vm/drop_caches
  md5sum "$S/mcmnt/r" >/dev/null || return 1
  stop_pid $pid || return 1
  ! dmesg | grep -iE 'nbd.*(error|I/O)|blk_update_request|Buffer I/O' || return 1
  log "multi-conn: $dev ($socks sockets) under dd in a container: 80 MiB written, no error"
}

t_docker_clean() {
  local ids left=0 b i
  ids=$(docker ps -aq)
  [ -z "$ids" ] || docker rm -f $ids >/dev/null || return 1
  for ((i = 0; i < 5; i++)); do # children first: each pass removes the leaves
    ids=$(docker images -q | sort -u)
    [ -z "$ids" ] || docker rmi -f $ids >/dev/null 2>&1
  done
  [ -z "$(docker images -q)" ] || { docker images; return 1; }
  for b in /sys/block/nbd*; do
    [ ! -s "$b/pid" ] || { log "${b##*/} still connected (pid $(cat $b/pid))"; left=1; }
  done
  [ -z "$(dmsetup ls 2>/dev/null | grep buse-)" ] || { log "dm: $(dmsetup ls)"; left=1; }
  ! grep -q " $HOME_B/mnt/" /proc/mounts || { grep " $HOME_B/" /proc/mounts; left=1; }
  [ $left = 0 ] || return 1
  log "rm and rmi: no nbd device connected, no dm table, no mount left"
}


# no subshells: the tests start and stop the daemons whose pids this shell keeps
dmesg -C # the attach tests before (guest.sh) leave expected I/O errors (reap after kill -9)
stall_watch &
WATCH_PID=$!
d20=$(echo " $SEL " | sed 's/ docker28 / /g')
if [ -n "${d20// /}" ]; then # dockerd 20.10's tests share one setup
  log "--- docker setup"
  if ! setup >$S/out 2>&1; then
    sed 's/^/  | /' $S/out
    tail -n 5 $S/buse.log $S/docker-dockerd.log 2>/dev/null | sed 's/^/  | /'
    for t in $d20; do result FAIL "$t" "(setup)"; done
    stop_all
    SEL=$(echo " $SEL " | grep -o ' docker28 ' || true)
  else
    cat $S/out
  fi
fi
for t in $SEL; do
  fn=t_$(echo "$t" | tr - _)
  [ "$t" != docker28 ] || stop_all # 2 GiB of guest memory: one Docker at a time
  log "--- $t"
  start=$(date +%s)
  $fn >$S/out 2>&1
  rc=$?
  sed 's/^/  | /' $S/out
  case $rc in
    0) result PASS "$t" "$(($(date +%s) - start))s" ;;
    77) result SKIP "$t" "$(tail -n1 $S/out)" ;;
    *) result FAIL "$t"
       ps -eo pid,stat,wchan:24,args | awk '$2 ~ /D/' | cut -c1-150 | sed 's/^/  | D: /'
       dmesg | tail -n 12 | sed 's/^/  | dmesg: /'
       if [ "$t" = docker28 ]; then
         for f in d28-dockerd d28-containerd d28-snap; do
           grep -vE 'level=debug' $S/$f.log 2>/dev/null | tail -n 8 | sed "s/^/  | $f: /"
         done
       else
         grep -vE 'level=debug' $S/docker-dockerd.log | tail -n 8 | sed 's/^/  | dockerd: /'
         tail -n 8 $S/buse.log | sed 's/^/  | buse: /'
       fi ;;
  esac
done
stop_all
d28_stop
kill $WATCH_PID 2>/dev/null
[ ! -s $S/stall.txt ] || sed 's/^/guest: stall: /' $S/stall.txt
