#!/usr/bin/env bash
# demo28.sh start|stop|status — `make demo`: today's Docker on buse.  `buse snapshotter`, a
# private containerd that loads it as [proxy_plugins.buse], and a private dockerd on that
# containerd with the containerd image store and `--storage-driver buse`; a busybox image
# imported and one container run.  A host with Docker >= 28 installed uses its own dockerd and
# containerd binaries; elsewhere (Debian 12) Docker 28.5.2 and containerd 2.1.9 are fetched
# from Debian's unstable suite into a cache and run from there (tests/docker28/fetch.sh: never
# installed).  Every pid goes to the state dir, so `stop` ends only what `start` began; a
# second `start` reuses a running demo.  The graph driver demo (dockerd 20.10 --experimental)
# is tests/demo.sh, `make demo-graphdriver`.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUSE=${BUSE:-$TOP/buse}
STATE=${DEMO_STATE:-/run/buse-demo28}   # pids, sockets, exec roots
DATA=${DEMO_DATA:-/var/lib/buse-demo28} # containerd root, docker data root, buse's home
LOGS=${DEMO_LOGS:-/var/log/buse-demo28}
SOCK=$STATE/docker.sock
SNAP_SOCK=$STATE/snapshotter.sock
IMAGE=busybox:buse

die() { echo "demo: $*" >&2; exit 1; }
alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

wait_until() { # SECONDS CMD...
  local n=$(($1 * 10)) i
  shift
  for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

spawn() { # NAME CMD...: detached (it outlives make), log and pid by NAME
  local name=$1
  shift
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/$name.pid"
}

# The binaries: dockerd >= 28 and its containerd from the host when it has them, else sid's.
find_docker() {
  local v out d
  DOCKERD=$(command -v dockerd || true) CONTAINERD=$(command -v containerd || true)
  CLI=/usr/local/bin/docker BIN=''
  [ -x "$CLI" ] || CLI=$(command -v docker || true)
  v=$("${DOCKERD:-false}" --version 2>/dev/null | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p')
  if [ "${v:-0}" -ge 28 ] && [ -n "$CONTAINERD" ]; then
    return 0
  fi
  echo "demo: this host has ${v:+Docker $v}${v:-no dockerd}, not 28 or newer: fetching Docker 28 and containerd 2 (cached)"
  out=$(bash "$TOP/tests/docker28/fetch.sh" 2>"$LOGS/fetch.log") ||
    { tail -n 20 "$LOGS/fetch.log" >&2; die "could not fetch Docker 28 (tests/docker28/fetch.sh; log $LOGS/fetch.log)"; }
  for d in $out; do
    case ${d##*/} in
      docker.io-*) DOCKERD=$d/usr/sbin/dockerd BIN+=$d/usr/sbin:$d/usr/bin: ;;
      containerd-*) CONTAINERD=$d/usr/bin/containerd BIN+=$d/usr/bin: ;;
      docker-cli-*) CLI=$d/usr/bin/docker ;;
    esac
  done
  [ -x "$DOCKERD" ] && [ -x "$CONTAINERD" ] && [ -x "$CLI" ] || die "fetch.sh gave no dockerd/containerd/docker"
}

dk() { "$CLI" -H "unix://$SOCK" "$@"; }

start_snapshotter() {
  alive snapshotter && return 0
  rm -f "$SNAP_SOCK"
  spawn snapshotter "$BUSE" snapshotter --home "$DATA/buse" --socket "$SNAP_SOCK"
  wait_until 30 test -S "$SNAP_SOCK" || { tail -n 20 "$LOGS/snapshotter.log"; die "buse snapshotter did not start"; }
}

start_containerd() {
  alive containerd && return 0
  cat >"$STATE/containerd.toml" <<EOT
version = 3
root = "$DATA/containerd"
state = "$STATE/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime"]
[grpc]
  address = "$STATE/containerd.sock"
[ttrpc]
  address = "$STATE/containerd.sock.ttrpc"
[proxy_plugins]
  [proxy_plugins.buse]
    type = "snapshot"
    address = "$SNAP_SOCK"
EOT
  spawn containerd env PATH="$BIN$PATH" "$CONTAINERD" --config "$STATE/containerd.toml"
  wait_until 30 test -S "$STATE/containerd.sock" || { tail -n 20 "$LOGS/containerd.log"; die "containerd did not start"; }
}

start_dockerd() {
  alive dockerd && return 0
  mkdir -p "$STATE/exec"
  echo '{"features": {"containerd-snapshotter": true}}' >"$STATE/daemon.json"
  spawn dockerd env PATH="$BIN$PATH" "$DOCKERD" --storage-driver buse --data-root "$DATA/docker" \
    --exec-root "$STATE/exec" -H "unix://$SOCK" --pidfile "$STATE/dockerd.pidfile" \
    --config-file "$STATE/daemon.json" --containerd "$STATE/containerd.sock" \
    --containerd-namespace buse-demo --containerd-plugins-namespace buse-demo-plugins \
    --iptables=false --ip6tables=false --ip-masq=false --bridge=none --userland-proxy=false
  wait_until 60 dk version || { tail -n 20 "$LOGS/dockerd.log"; die "dockerd did not start"; }
}

start() {
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  [ -x "$BUSE" ] || die "$BUSE not built (run make)"
  command -v runc >/dev/null || die "runc missing (make deps)"
  mkdir -p "$STATE" "$DATA" "$LOGS"
  find_docker
  if alive snapshotter && alive dockerd && dk version >/dev/null 2>&1; then
    echo "demo: already running, reusing it"
  fi
  start_snapshotter
  start_containerd
  start_dockerd
  if ! dk image inspect "$IMAGE" >/dev/null 2>&1; then
    bash "$TOP/tests/images/busybox.sh" "$STATE/busybox.tar"
    dk import -c 'CMD ["/bin/sh"]' "$STATE/busybox.tar" "$IMAGE" >/dev/null
    rm -f "$STATE/busybox.tar"
  fi
  dk run --rm --network none "$IMAGE" echo hello from buse
  dk info --format 'Docker {{.ServerVersion}}, storage driver: {{.Driver}} {{range .DriverStatus}}{{index . 0}}={{index . 1}} {{end}}'
  cat <<EOT

buse demo is running: Docker on containerd with buse as its snapshotter
(logs in $LOGS, state in $STATE, data in $DATA).
  export DOCKER_HOST=unix://$SOCK
  $CLI run --rm -it --network none $IMAGE sh
  ctr --address $STATE/containerd.sock -n buse-demo snapshots --snapshotter buse ls
Stop it with: make demo-stop
EOT
}

stop_pid() { # NAME SECONDS: TERM the pid recorded for NAME, wait, KILL if it will not go
  local name=$1 secs=$2 pid
  [ -f "$STATE/$name.pid" ] || return 0
  pid=$(cat "$STATE/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait_until "$secs" eval "! kill -0 $pid" || { echo "demo: killing $name"; kill -KILL "$pid"; sleep 0.5; }
  fi
  rm -f "$STATE/$name.pid"
}

unmount_under() { # DIR: everything mounted at or under it, deepest first
  local m
  for m in $(findmnt -rn -o TARGET | grep -E "^$1(/|$)" | awk '{ print length, $0 }' |
    sort -rn | cut -d' ' -f2-); do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
}

stop() {
  [ -d "$STATE" ] || { echo "demo: not running"; return 0; }
  stop_pid dockerd 60
  stop_pid containerd 30
  stop_pid snapshotter 60
  unmount_under "$STATE"
  unmount_under "$DATA"
  rm -rf "$STATE"
  echo "demo: stopped (images and containers stay in $DATA; remove it to start afresh)"
}

status() {
  local n
  for n in snapshotter containerd dockerd; do
    if alive $n; then echo "$n: running (pid $(cat "$STATE/$n.pid"))"; else echo "$n: stopped"; fi
  done
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
