#!/usr/bin/env bash
# demo.sh start|stop|status — `make demo` / `make demo-stop`: a `buse serve` on the standard
# plugin socket and a private dockerd (its own containerd, data root, exec root and socket) that
# uses it, with a busybox image imported and one container run.  Every pid goes to the state
# dir, so `stop` ends only what `start` began; a second `start` reuses a running demo.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUSE=${BUSE:-$TOP/buse}
STATE=${DEMO_STATE:-/run/buse-demo}            # pids, sockets, exec root
DATA=${DEMO_DATA:-/var/lib/buse-demo}          # docker data root; buse home is $DATA/buse
LOGS=${DEMO_LOGS:-/var/log/buse-demo}
SOCK=$STATE/docker.sock
PLUGIN_SOCK=/run/docker/plugins/buse.sock
DOCKER_CLI=/usr/bin/docker
IMAGE=busybox:buse

die() { echo "demo: $*" >&2; exit 1; }
alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }
dk() { "$DOCKER_CLI" -H "unix://$SOCK" "$@"; }

# wait_until SECONDS CMD...: retry CMD every 0.1 s.
wait_until() {
  local n=$(($1 * 10)) i
  shift
  for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# spawn NAME CMD...: run CMD detached (it outlives make), log and pid by NAME.
spawn() {
  local name=$1
  shift
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/$name.pid"
}

buse_up() { curl -sf --unix-socket "$PLUGIN_SOCK" -X POST http://buse/Plugin.Activate | grep -q GraphDriver; }

start_buse() {
  alive buse && return 0
  [ ! -S "$PLUGIN_SOCK" ] || ! buse_up ||
    die "another buse already answers on $PLUGIN_SOCK (not started by the demo)"
  rm -f "$PLUGIN_SOCK"
  mkdir -p "$DATA/buse" /run/docker/plugins
  spawn buse "$BUSE" serve --home "$DATA/buse" --socket "$PLUGIN_SOCK" --state "$STATE/buse"
  wait_until 30 buse_up || { tail -n 20 "$LOGS/buse.log"; die "buse serve did not start"; }
}

start_docker() {
  alive dockerd && return 0
  mkdir -p "$STATE/exec"
  cat >"$STATE/containerd.toml" <<EOT
version = 2
root = "$DATA/containerd"
state = "$STATE/exec/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$STATE/containerd.sock"
[ttrpc]
  address = "$STATE/containerd.sock.ttrpc"
EOT
  alive containerd || spawn containerd containerd --config "$STATE/containerd.toml"
  wait_until 30 test -S "$STATE/containerd.sock" || die "containerd did not start"
  echo '{}' >"$STATE/daemon.json"
  spawn dockerd dockerd --experimental --storage-driver buse --data-root "$DATA" \
    --exec-root "$STATE/exec" -H "unix://$SOCK" --pidfile "$STATE/dockerd.pidfile" \
    --config-file "$STATE/daemon.json" --containerd "$STATE/containerd.sock" \
    --iptables=false --ip-masq=false --bridge=none --userland-proxy=false
  wait_until 60 dk version || { tail -n 20 "$LOGS/dockerd.log"; die "dockerd did not start"; }
}

start() {
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  [ -x "$BUSE" ] || die "$BUSE not built (run make)"
  for c in dockerd containerd runc curl; do command -v $c >/dev/null || die "$c missing (make deps)"; done
  mkdir -p "$STATE" "$DATA" "$LOGS"
  if alive buse && alive dockerd && dk version >/dev/null 2>&1; then
    echo "demo: already running, reusing it"
  fi
  start_buse
  start_docker
  if ! dk image inspect "$IMAGE" >/dev/null 2>&1; then
    bash "$TOP/tests/images/busybox.sh" "$STATE/busybox.tar"
    dk import -c 'CMD ["/bin/sh"]' "$STATE/busybox.tar" "$IMAGE" >/dev/null
    rm -f "$STATE/busybox.tar"
  fi
  dk run --rm --network none "$IMAGE" echo hello from buse
  dk info --format 'storage driver: {{.Driver}}  {{range .DriverStatus}}{{index . 0}}={{index . 1}} {{end}}'
  cat <<EOT

buse demo is running (logs in $LOGS, state in $STATE).
  export DOCKER_HOST=unix://$SOCK
  $DOCKER_CLI run --rm -it --network none $IMAGE sh
Stop it with: make demo-stop
EOT
}

# stop_pid NAME SECONDS: TERM the pid recorded for NAME, wait, KILL if it will not go.
stop_pid() {
  local name=$1 secs=$2 pid
  [ -f "$STATE/$name.pid" ] || return 0
  pid=$(cat "$STATE/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait_until "$secs" eval "! kill -0 $pid" || { echo "demo: killing $name"; kill -KILL "$pid"; sleep 0.5; }
  fi
  rm -f "$STATE/$name.pid"
}

# Unmount everything at or under DIR, deepest first.
unmount_under() {
  local m
  for m in $(findmnt -rn -o TARGET | grep -E "^$1(/|$)" | awk '{ print length, $0 }' |
    sort -rn | cut -d' ' -f2-); do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
}

stop() {
  [ -d "$STATE" ] || { echo "demo: not running"; return 0; }
  stop_pid dockerd 60
  stop_pid containerd 20
  stop_pid buse 30
  unmount_under "$STATE"
  unmount_under "$DATA"
  [ -S "$PLUGIN_SOCK" ] && ! buse_up && rm -f "$PLUGIN_SOCK"
  rm -rf "$STATE"
  echo "demo: stopped (images and containers stay in $DATA; remove it to start afresh)"
}

status() {
  local n
  for n in buse containerd dockerd; do
    if alive $n; then echo "$n: running (pid $(cat "$STATE/$n.pid"))"; else echo "$n: stopped"; fi
  done
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
