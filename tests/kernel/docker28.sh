# shellcheck shell=bash
# The kernel tier's Docker 28 test (sourced by docker.sh, in the guest, in the host's root):
# dockerd 28.5.2 and containerd 2.1.9 from sid (unpacked on the host by tests/docker28/fetch.sh
# into /var/cache/buse-test/sid, read here over the 9p share) on `buse snapshotter --attach
# kernel` (netlink NBD, the dm wrapper), with the containerd image store.
#   docker28  import, run (the container's / is ext4 on /dev/mapper/buse-* over a connected
#             /dev/nbdN), commit of a running container, build (legacy builder, RUN steps);
#             then rm and rmi of everything and the daemons stopped: no nbd device connected,
#             no dm table, no mount under the snapshotter's home
# Needs docker-lib.sh (S, log, now, since, wait_until, stop_pid, prefetch) and docker.sh's
# nbd_of.
source "$(dirname "${BASH_SOURCE[0]}")/../docker28/containerd-toml.sh"
D28_CACHE=/var/cache/buse-test/sid
D28=$S/d28 D28_EXEC=/run/bt-d28
D28_SNAP_PID='' D28_CTRD_PID='' D28_DOCKERD_PID=''
# d28 ARGS: the Docker 28 client on dockerd 28
d28() { DOCKER_HOST=unix://$D28_EXEC/docker.sock timeout 180 /usr/local/bin/docker "$@"; }

# d28_bins: D28_BIN (PATH prefix: dockerd 28, containerd 2.1 and its shim), or 77
d28_bins() {
  local d
  D28_BIN=
  for d in "$D28_CACHE"/docker.io-28.5.2* "$D28_CACHE"/containerd-2.1.9*; do
    [ -f "$d/.complete" ] || continue
    case ${d##*/} in
      docker.io-*) D28_BIN+=$d/usr/sbin:$d/usr/bin: ;;
      containerd-*) D28_BIN+=$d/usr/bin: ;;
    esac
  done
  [ -x "${D28_BIN%%:*}/dockerd" ] && [ "$(echo "$D28_BIN" | tr : '\n' | grep -c .)" = 3 ] ||
    { echo "no dockerd 28 / containerd 2.1 in $D28_CACHE (bash tests/docker28/fetch.sh on the host)"; return 77; }
  [ -x /usr/local/bin/docker ] || { echo "no Docker 28 client /usr/local/bin/docker"; return 77; }
}

d28_start() {
  local t0
  t0=$(now)
  mkdir -p $D28/snap $D28/root $D28_EXEC
  prefetch "${D28_BIN%%:*}/dockerd" "$(echo "$D28_BIN" | cut -d: -f3)/containerd" \
    "$(echo "$D28_BIN" | cut -d: -f3)/containerd-shim-runc-v2" /usr/local/bin/docker
  "$BUSE" --debug=kdev snapshotter --attach kernel --home $D28/snap --socket $D28/snap.sock \
    >>$S/d28-snap.log 2>&1 &
  D28_SNAP_PID=$!
  wait_until 60 test -S $D28/snap.sock || { tail -n 20 $S/d28-snap.log; return 1; }
  c28_toml $D28/containerd $D28_EXEC/containerd $D28_EXEC/containerd.sock $D28/opt \
    $D28/snap.sock >$D28/containerd.toml
  PATH=$D28_BIN$PATH containerd --config $D28/containerd.toml >>$S/d28-containerd.log 2>&1 &
  D28_CTRD_PID=$!
  wait_until 90 test -S $D28_EXEC/containerd.sock || { tail -n 20 $S/d28-containerd.log; return 1; }
  log "buse snapshotter and containerd $(PATH=$D28_BIN$PATH containerd --version | cut -d' ' -f3)" \
    "up at +$(since "$t0") s"
  echo '{"features":{"containerd-snapshotter":true}}' >$D28/daemon.json
  PATH=$D28_BIN$PATH dockerd --storage-driver buse --data-root $D28/root --exec-root $D28_EXEC \
    -H unix://$D28_EXEC/docker.sock --pidfile $D28/dockerd.pid --config-file $D28/daemon.json \
    --containerd $D28_EXEC/containerd.sock --containerd-namespace d28 \
    --containerd-plugins-namespace d28-plugins --iptables=false --ip6tables=false \
    --ip-masq=false --bridge=none --userland-proxy=false --debug >>$S/d28-dockerd.log 2>&1 &
  D28_DOCKERD_PID=$!
  wait_until 150 d28 version || { grep -E 'level=(error|fatal)' $S/d28-dockerd.log | tail; return 1; }
  local got
  got=$(d28 info --format '{{.ServerVersion}} {{.Driver}} {{range .DriverStatus}}{{index . 1}} {{end}}')
  case $got in
    *" buse "*io.containerd.snapshotter.v1*) ;;
    *) log "dockerd 28 storage: $got"; return 1 ;;
  esac
  log "dockerd ${got%% *} on the buse snapshotter up at +$(since "$t0") s"
}

# d28_stop: dockerd, containerd, the snapshotter (TERM: it unmounts and detaches what it has)
d28_stop() {
  local m
  [ -z "$D28_DOCKERD_PID" ] || stop_pid "$D28_DOCKERD_PID" 90
  [ -z "$D28_CTRD_PID" ] || stop_pid "$D28_CTRD_PID"
  [ -z "$D28_SNAP_PID" ] || stop_pid "$D28_SNAP_PID" 60
  D28_DOCKERD_PID='' D28_CTRD_PID='' D28_SNAP_PID=''
  for m in $(awk -v r="$D28/root" -v e="$D28_EXEC/" \
    '$2 == r || index($2, e) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
}

# d28_nbd_left: the nbd devices still connected, the buse dm tables, the mounts under the
# snapshotter's home (empty when none)
d28_nbd_left() {
  local b
  for b in /sys/block/nbd*; do [ ! -s "$b/pid" ] || echo "${b##*/} (pid $(cat "$b/pid"))"; done
  dmsetup ls 2>/dev/null | grep buse- || true
  grep " $D28/snap/" /proc/mounts | cut -d' ' -f1,2 || true
}

t_docker28() {
  local rc dev nbd pid out t0 ids i
  d28_bins || return $?
  t0=$(now)
  d28_start || return 1
  # import
  d28 import -c 'CMD ["/bin/sh"]' "$RUN/busybox.tar" bb >/dev/null || return 1
  log "import: ok at +$(since "$t0") s"
  # run: the container's / is the snapshotter's mount of a kernel-mode device
  d28 run -d --name c1 --network none bb sh -c 'echo live >/live; sync; touch /ready; exec sleep 600' \
    >/dev/null || return 1
  pid=$(d28 inspect -f '{{.State.Pid}}' c1) || return 1
  dev=$(awk '$2 == "/" { print $1 }' "/proc/$pid/mounts")
  case $dev in /dev/mapper/buse-* | /dev/nbd*) ;; *) log "the container's / is on $dev"; return 1 ;; esac
  nbd=$(nbd_of "$dev") || return 1
  [ -s /sys/block/$nbd/pid ] || { log "$nbd is not connected"; return 1; }
  # the kernel names the thread that connected the device: one of the snapshotter's
  [ "$(awk '/^Tgid:/ { print $2 }' /proc/"$(cat /sys/block/$nbd/pid)"/status)" = "$D28_SNAP_PID" ] ||
    { log "$nbd is connected to pid $(cat /sys/block/$nbd/pid), not the snapshotter ($D28_SNAP_PID)"; return 1; }
  log "run: the container's / is on $dev ($nbd, connected by the snapshotter) at +$(since "$t0") s"
  # commit of a running container (dockerd pauses it for the commit)
  wait_until 60 d28 exec c1 test -e /ready || { log "c1 never became ready"; return 1; }
  d28 commit c1 committed >/dev/null || { log "docker commit failed"; return 1; }
  out=$(d28 run --rm --network none committed cat /live /etc/motd) || { log "run committed: $out"; return 1; }
  [ "$out" = "$(printf 'live\nbuse test image')" ] || { log "committed image: $out"; return 1; }
  log "commit of a running container: ok at +$(since "$t0") s"
  # build: RUN steps with the legacy builder
  mkdir -p $D28/ctx
  cat >$D28/ctx/Dockerfile <<'EOT'
FROM bb
RUN echo one >/one && mkdir /d && dd if=/dev/urandom of=/d/r bs=64k count=16 2>/dev/null && md5sum /d/r >/d/r.md5
RUN rm /etc/motd && echo two >>/one && ln -s /one /link
EOT
  DOCKER_BUILDKIT=0 d28 build --network none -t built $D28/ctx >$D28/build.out 2>&1 ||
    { tail -n 15 $D28/build.out; return 1; }
  out=$(d28 run --rm --network none built sh -c 'cat /link; md5sum -c -s /d/r.md5 && echo sum-ok; ls /etc/motd 2>&1')
  case $out in "$(printf 'one\ntwo\nsum-ok\n')"*"No such file"*) ;; *) log "built image: $out"; return 1 ;; esac
  log "build (2 RUN steps): ok at +$(since "$t0") s"
  # rm, rmi: nothing of ours stays attached (containerd's GC removes the snapshots later)
  d28 rm -f c1 >/dev/null || return 1
  for ((i = 0; i < 4; i++)); do
    ids=$(d28 images -q | sort -u)
    [ -z "$ids" ] || d28 rmi -f $ids >/dev/null 2>&1
  done
  [ -z "$(d28 images -q)" ] || { d28 images; return 1; }
  wait_until 90 test -z "$(d28_nbd_left)" || { log "after rm and rmi: $(d28_nbd_left | tr '\n' ' ')"; return 1; }
  d28_stop
  out=$(d28_nbd_left)
  [ -z "$out" ] || { log "after the daemons stopped: $(echo "$out" | tr '\n' ' ')"; return 1; }
  ! dmesg | grep -iE 'nbd.*(error|I/O)|blk_update_request|Buffer I/O' || return 1
  log "rm, rmi and stop: no nbd device connected, no dm table, no mount left," \
    "in all $(since "$t0") s"
}
