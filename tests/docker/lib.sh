# shellcheck shell=bash
# Helpers for the docker end-to-end tests: a private `buse serve`, private dockerds (their own
# containerd, data root, exec root and socket under $T), a busybox image made offline, a local
# registry, and a cleanup that leaves no process, mount or spec file behind.
#   source "$(dirname "$0")/lib.sh"      (it sources ../functions.sh)
# Nothing here ever stops a process it did not start: every pid is recorded at start.
# shellcheck disable=SC2034
source "$(dirname "${BASH_SOURCE[0]}")/../functions.sh"

DOCKER_CLI=/usr/bin/docker # the 20.10 client; /usr/local/bin/docker is a newer one
declare -A DOCKERD_PID=() CONTAINERD_PID=() DOCKERD_SOCK=() DOCKERD_ROOT=() DOCKERD_EXEC=()
declare -A DOCKERD_ARGS=()
BUSE_PID='' REGISTRY_PID='' BUSE_SPEC=''

# docker_requires: skip unless root and dockerd 20.10, containerd, runc are installed.
docker_requires() {
  requires_root
  requires dockerd containerd runc containerd-shim-runc-v2 findmnt curl
  [ -x "$DOCKER_CLI" ] || skip "$DOCKER_CLI (docker.io) not installed"
  [ -x "$BUSE" ] || [ "${DOCKER_TEST_DRIVER:-buse}" != buse ] || fail "$BUSE not built"
}

# docker_scratch: $T (short path: unix socket paths are limited to 108 bytes) and the final
# cleanups: unmount whatever is left under $T, then remove it.
docker_scratch() {
  scratch
  cleanup_fn "reap_mounts '$T'; reap_loops '$T'"
  BUSE_SOCK=$T/buse.sock
  claim_plugin_name
  export BUSE_DRIVER BUSE_SOCK
}

# claim_plugin_name: pick the plugin (and storage driver) name and create its spec file
# /etc/docker/plugins/NAME.spec -> $BUSE_SOCK atomically (noclobber), so two tests running at
# once never share a name: $BUSE_DRIVER if set, else buse-t<pid>[-n].  Never plain "buse":
# the demo, an installed buse or another script may own that name at any moment (legacy
# discovery also prefers /run/docker/plugins/buse.sock to any spec file).
claim_plugin_name() {
  local name i
  mkdir -p /etc/docker/plugins
  for ((i = 0; i < 100; i++)); do
    case $i in 0) name=${BUSE_DRIVER:-buse-t$$} ;; *) name=buse-t$$-$i ;; esac
    if (set -C; echo "unix://$BUSE_SOCK" >"/etc/docker/plugins/$name.spec") 2>/dev/null; then
      BUSE_DRIVER=$name BUSE_SPEC=/etc/docker/plugins/$name.spec
      cleanup_fn "rm -f '$BUSE_SPEC'"
      return 0
    fi
  done
  fail "no free plugin name in /etc/docker/plugins"
}

# reap_mounts DIR: unmount every mount at or under DIR, deepest first.  Prints what it had to
# unmount; returns 1 if anything was left.
reap_mounts() {
  local dir=$1 m left=0
  for m in $(findmnt -rn -o TARGET | grep -E "^$dir(/|$)" | awk '{ print length, $0 }' |
    sort -rn | cut -d' ' -f2-); do
    echo "reap: unmounting $m"
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || left=1
  done
  return $left
}

# loops_under DIR: loop devices whose backing file is under DIR, one per line.
loops_under() { losetup -l -n -O NAME,BACK-FILE 2>/dev/null | awk -v d="$1/" 'index($2, d) == 1 { print $1 }'; }
# reap_loops DIR: detach them (buse should have; this is only the test's own cleanup).
reap_loops() {
  local l
  for l in $(loops_under "$1"); do echo "reap: detaching $l"; losetup -d "$l" || true; done
}

# mounts_under DIR: the mount points at or under DIR, one per line.
mounts_under() { findmnt -rn -o TARGET | grep -E "^$1(/|$)" || true; }

# start_buse_daemon [SERVE-ARGS]: `buse serve` on $BUSE_SOCK with home $BUSE_HOME (default the
# data root's driver dir of dockerd "d1"), announced to dockerd by the spec file that
# docker_scratch claimed.
# shellcheck disable=SC2120
start_buse_daemon() {
  BUSE_HOME=${BUSE_HOME:-$T/d1/root/$BUSE_DRIVER}
  BUSE_STATE=${BUSE_STATE:-$T/buse-state}
  mkdir -p "$BUSE_HOME" "$BUSE_STATE"
  rm -f "$BUSE_SOCK"
  "$BUSE" ${BUSE_FLAGS:---debug=gd,layers,kdev} serve --home "$BUSE_HOME" --socket "$BUSE_SOCK" \
    --state "$BUSE_STATE" "$@" >>"$T/buse.log" 2>&1 &
  BUSE_PID=$!
  cleanup_fn "stop_buse_daemon"
  local i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$BUSE_PID" 2>/dev/null || { tail -n 20 "$T/buse.log"; fail "buse serve exited"; }
    curl -sf --unix-socket "$BUSE_SOCK" -X POST http://buse/Plugin.Activate 2>/dev/null |
      grep -q GraphDriver && return 0
    sleep 0.1
  done
  tail -n 20 "$T/buse.log"
  fail "buse serve did not answer Plugin.Activate on $BUSE_SOCK"
}

# stop_buse_daemon: TERM buse serve (it must unmount and detach everything it has).
stop_buse_daemon() {
  [ -n "$BUSE_PID" ] || return 0
  stop_pid "$BUSE_PID"
  BUSE_PID=''
}

# A containerd config private to dockerd NAME.
_containerd_config() { # name
  local n=$1 root=${DOCKERD_ROOT[$1]} exec=${DOCKERD_EXEC[$1]}
  cat <<EOT
version = 2
root = "$root/containerd"
state = "$exec/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$exec/containerd.sock"
[ttrpc]
  address = "$exec/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOT
}

# start_dockerd NAME DRIVER [DOCKERD-ARGS]: a private containerd + dockerd; data root
# $T/NAME/root, exec root $T/NAME/exec, socket $T/NAME/docker.sock, logs $T/NAME/*.log.
# Makes NAME the current dockerd (see use_dockerd).
start_dockerd() {
  local n=$1 driver=$2 d=$T/$1
  shift 2
  mkdir -p "$d/root" "$d/exec"
  DOCKERD_ROOT[$n]=$d/root DOCKERD_EXEC[$n]=$d/exec DOCKERD_SOCK[$n]=$d/docker.sock
  DOCKERD_ARGS[$n]="--storage-driver $driver $*"
  echo '{}' >"$d/daemon.json"
  _containerd_config "$n" >"$d/containerd.toml"
  [ -n "${CONTAINERD_PID[$n]:-}" ] || cleanup_fn "stop_dockerd $n; reap_mounts '$d'"
  containerd --config "$d/containerd.toml" >>"$d/containerd.log" 2>&1 &
  CONTAINERD_PID[$n]=$!
  wait_for test -S "$d/exec/containerd.sock"
  _run_dockerd "$n"
}

_run_dockerd() { # name
  local n=$1 d=$T/$1
  # shellcheck disable=SC2086
  dockerd --experimental ${DOCKERD_ARGS[$n]} --data-root "$d/root" --exec-root "$d/exec" \
    -H "unix://$d/docker.sock" --pidfile "$d/dockerd.pid" --config-file "$d/daemon.json" \
    --containerd "$d/exec/containerd.sock" --iptables=false --ip-masq=false --bridge=none \
    --userland-proxy=false --debug >>"$d/dockerd.log" 2>&1 &
  DOCKERD_PID[$n]=$!
  use_dockerd "$n"
  local i
  for ((i = 0; i < 600; i++)); do
    kill -0 "${DOCKERD_PID[$n]}" 2>/dev/null ||
      { grep -E 'level=(error|fatal)' "$d/dockerd.log" | tail -n 10; fail "dockerd $n exited"; }
    timeout 10 "$DOCKER_CLI" -H "unix://$d/docker.sock" version >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  tail -n 20 "$d/dockerd.log"
  fail "dockerd $n did not come up"
}

# restart_dockerd NAME: stop dockerd NAME (containers stop with it) and start it again on the
# same containerd and roots.
restart_dockerd() {
  local n=$1
  stop_pid_slow "${DOCKERD_PID[$n]}"
  reap_dockerd_mounts "$n"
  _run_dockerd "$n"
}

# stop_dockerd NAME: remove every container, stop dockerd and its containerd, unmount what
# they leave (the data root bind-mounted on itself, nsfs under the exec root).
stop_dockerd() {
  local n=$1 ids
  [ -n "${DOCKERD_PID[$n]:-}" ] || return 0
  if kill -0 "${DOCKERD_PID[$n]}" 2>/dev/null; then
    ids=$(DOCKER_TIMEOUT=30 dk "$n" ps -aq 2>/dev/null) || true
    [ -z "$ids" ] || DOCKER_TIMEOUT=60 dk "$n" rm -f $ids >/dev/null 2>&1 || true
    stop_pid_slow "${DOCKERD_PID[$n]}"
  fi
  [ -z "${CONTAINERD_PID[$n]:-}" ] || stop_pid "${CONTAINERD_PID[$n]}"
  DOCKERD_PID[$n]='' CONTAINERD_PID[$n]=''
  reap_dockerd_mounts "$n"
}

reap_dockerd_mounts() { # name
  reap_mounts "${DOCKERD_EXEC[$1]}" >/dev/null || true
  reap_mounts "${DOCKERD_ROOT[$1]}" >/dev/null || true
}

# stop_pid_slow PID: like stop_pid but waits up to 60 s (dockerd stops its containers first).
stop_pid_slow() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.1
  done
  echo "warning: pid $pid ignored TERM for 60 s, killing it"
  kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; return 0
}

# use_dockerd NAME: make `docker` talk to dockerd NAME.
use_dockerd() { export DOCKER_HOST=unix://${DOCKERD_SOCK[$1]}; }
# docker ARGS: the 20.10 client against the current dockerd.  Every call is bounded
# (DOCKER_TIMEOUT, default 300 s), so a hung call fails the test and the cleanup still runs
# (the runner's own timeout ends in SIGKILL, which leaves everything behind).
docker() { timeout "${DOCKER_TIMEOUT:-300}" "$DOCKER_CLI" "$@"; }
# dk NAME ARGS: the client against dockerd NAME.
dk() {
  local n=$1
  shift
  DOCKER_HOST=unix://${DOCKERD_SOCK[$n]} timeout "${DOCKER_TIMEOUT:-300}" "$DOCKER_CLI" "$@"
}

# busybox_tar: path of the busybox rootfs tarball (made once per test).
busybox_tar() {
  [ -f "$T/busybox.tar" ] || bash "$TOP/tests/images/busybox.sh" "$T/busybox.tar" ||
    skip "cannot make the busybox image (busybox-static missing)"
  echo "$T/busybox.tar"
}

# make_busybox_image NAME [DOCKERD]: import the busybox rootfs as image NAME.
make_busybox_image() {
  local name=$1 n=${2:-} tar
  tar=$(busybox_tar)
  if [ -n "$n" ]; then
    dk "$n" import -c 'CMD ["/bin/sh"]' "$tar" "$name" >/dev/null
  else
    docker import -c 'CMD ["/bin/sh"]' "$tar" "$name" >/dev/null
  fi || fail "docker import $name"
}

# start_registry: docker-registry on 127.0.0.1:$REGISTRY_PORT, storage under $T/registry.
start_registry() {
  requires docker-registry
  REGISTRY_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$T/registry"
  cat >"$T/registry.yml" <<EOT
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $T/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGISTRY_PORT
EOT
  docker-registry serve "$T/registry.yml" >>"$T/registry.log" 2>&1 &
  REGISTRY_PID=$!
  cleanup_fn "stop_pid $REGISTRY_PID"
  wait_for curl -sf "http://127.0.0.1:$REGISTRY_PORT/v2/"
  REGISTRY=127.0.0.1:$REGISTRY_PORT
}

# show_logs: the tails of every log, for a failing test.
show_logs() {
  local f
  for f in "$T"/buse.log "$T"/*/dockerd.log; do
    [ -f "$f" ] || continue
    echo "---- $f"
    grep -vE 'level=debug' "$f" | tail -n 25
  done
}

# docker_setup: the usual start of a test: scratch dir, buse serve, dockerd "d1" on it.
# DOCKER_TEST_DRIVER=vfs|overlay2 runs the same test on a builtin driver instead (to check a
# test itself); BUSE_HOME is then that driver's directory.
docker_setup() {
  local drv want=${DOCKER_TEST_DRIVER:-buse}
  docker_requires
  docker_scratch
  cleanup_fn '[ $rc -eq 0 ] || [ $rc -eq 77 ] || show_logs'
  if [ "$want" = buse ]; then
    start_buse_daemon
    want=$BUSE_DRIVER
  else
    BUSE_HOME=$T/d1/root/$want
  fi
  start_dockerd d1 "$want"
  drv=$(docker info --format '{{.Driver}}')
  assert_eq "$drv" "$want" "dockerd storage driver"
}

# on_buse: true when the test runs against buse (not a DOCKER_TEST_DRIVER builtin).
on_buse() { [ "${DOCKER_TEST_DRIVER:-buse}" = buse ]; }
