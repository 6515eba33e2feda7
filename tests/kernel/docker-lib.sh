# shellcheck shell=bash
# Helpers of the kernel tier's docker scripts (docker.sh, docker-bench.sh), which run in the
# guest in the host's root (hostroot.sh): daemons started and stopped by pid, each dockerd
# NAME with its own containerd, data root $S/NAME and exec root /run/bt-NAME; buse serve on
# /run/docker/plugins/buse.sock (the guest is private: the plain name buse is ours).
S=/var/lib/bt # everything these scripts write (the scratch disk)
SOCK=/run/docker/plugins/buse.sock
STATE=$S/buse-state
BUSE_INST=${BUSE_INST:-docker} # the dockerd buse serves
export DOCKER_BUILDKIT=0
declare -A CTRD_PID=() DOCKERD_PID=()
BUSE_PID=
mkdir -p $S

log() { echo "guest: $*"; }
result() { echo "RESULT $*"; }
now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { print b - a }'; }
# docker ARGS: Debian's 20.10 client, every call bounded
docker() { timeout 180 /usr/bin/docker "$@"; }
# wait_until SECS CMD...: retry CMD every 0.2 s
wait_until() {
  local end=$(($(date +%s) + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt $end ] || return 1
    sleep 0.2
  done
}
stop_pid() { # PID [SECS]: TERM, wait, KILL
  kill -0 "$1" 2>/dev/null || return 0
  kill -TERM "$1"
  wait_until "${2:-30}" eval "! kill -0 $1" || kill -KILL "$1"
  wait "$1" 2>/dev/null
  return 0
}

# stall_watch: the first time the kernel says an NBD request timed out (no reply for 30 s),
# write what every thread of every buse process is doing (kernel stacks) to $S/stall.txt,
# shown at the end
stall_watch() {
  local t
  until dmesg | grep -q 'Connection timed out'; do sleep 1; done
  {
    echo "stall at $(now) s: $(dmesg | grep -m1 'Connection timed out')"
    for t in $(for p in $(pidof buse); do echo /proc/$p/task/*; done); do
      echo "-- thread ${t##*/} of $(awk '/^Tgid:/ { print $2 }' $t/status) $(cat $t/comm)" \
        "state $(awk '{print $3}' $t/stat) wchan $(cat $t/wchan)"
      cat $t/stack
    done
    ps -eo pid,stat,wchan:30,args | awk '$2 ~ /D/' | cut -c1-160
  } >$S/stall.txt 2>&1
}

# start_buse: buse serve for dockerd $BUSE_INST (its home is that data root's buse/), on the
# socket dockerd looks for a plugin named buse in
start_buse() {
  local HOME_B=$S/$BUSE_INST/buse
  mkdir -p "$HOME_B" "$STATE" /run/docker/plugins
  rm -f $SOCK
  "$BUSE" --debug=kdev serve --home "$HOME_B" --socket $SOCK --state "$STATE" >>$S/buse.log 2>&1 &
  BUSE_PID=$!
  wait_until 60 curl -sf --unix-socket $SOCK -X POST http://buse/Plugin.Activate ||
    { tail -n 20 $S/buse.log; return 1; }
}

# start_containerd NAME: a containerd of its own for dockerd NAME (data root $S/NAME, exec
# root /run/bt-NAME)
start_containerd() {
  local n=$1 root=$S/$1 exec=/run/bt-$1
  mkdir -p "$root" "$exec"
  cat >$S/$n-containerd.toml <<EOT
version = 2
root = "$root/containerd"
state = "$exec/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$exec/containerd.sock"
[ttrpc]
  address = "$exec/containerd.sock.ttrpc"
EOT
  containerd --config $S/$n-containerd.toml >>$S/$n-containerd.log 2>&1 &
  CTRD_PID[$n]=$!
  wait_until 60 test -S "$exec/containerd.sock" || { tail -n 20 $S/$n-containerd.log; return 1; }
}

# use NAME: the docker client talks to dockerd NAME
use() { export DOCKER_HOST=unix:///run/bt-$1/docker.sock; }

# start_dockerd NAME DRIVER [ARGS]: dockerd NAME on DRIVER (buse: in kernel mode), on its own
# containerd, with private roots; log $S/NAME-dockerd.log.  Makes NAME the current one (use).
start_dockerd() {
  local n=$1 drv=$2 root=$S/$1 exec=/run/bt-$1
  shift 2
  [ "$drv" != buse ] || set -- --experimental --storage-opt buse.attach=kernel "$@"
  echo '{}' >$S/$n-daemon.json
  use "$n"
  dockerd --storage-driver "$drv" --data-root "$root" --exec-root "$exec" -H "$DOCKER_HOST" \
    --pidfile $S/$n.pid --config-file $S/$n-daemon.json --containerd "$exec/containerd.sock" \
    --iptables=false --ip-masq=false --bridge=none --userland-proxy=false --debug "$@" \
    >>$S/$n-dockerd.log 2>&1 &
  DOCKERD_PID[$n]=$!
  wait_until 120 docker version || { grep -E 'level=(error|fatal)' $S/$n-dockerd.log | tail; return 1; }
}

# reap_dockerd NAME: what a stopped dockerd with a plugin driver leaves (its data root
# bind-mounted on itself, nsfs under the exec root)
reap_dockerd() {
  local m
  for m in $(awk -v r="$S/$1" -v e="/run/bt-$1" '$2 == r || index($2, e "/") == 1 { print $2 }' \
    /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
}

stop_dockerd() { # NAME
  [ -z "${DOCKERD_PID[$1]:-}" ] || stop_pid "${DOCKERD_PID[$1]}" 90
  DOCKERD_PID[$1]=
  reap_dockerd "$1"
}

# stop_all: every dockerd, containerd and buse serve this script started
stop_all() {
  local n
  for n in "${!DOCKERD_PID[@]}"; do stop_dockerd "$n"; done
  for n in "${!CTRD_PID[@]}"; do stop_pid "${CTRD_PID[$n]}"; done
  [ -z "$BUSE_PID" ] || stop_pid $BUSE_PID
}

# prefetch FILE...: read the binaries once, in large sequential 9p reads, so that starting
# them is not a page fault (one small 9p read) at a time
prefetch() {
  local t0 f
  t0=$(now)
  for f in "$@"; do cat "$(type -P "$f")" >/dev/null; done
  log "prefetched $* in $(since "$t0") s"
}

