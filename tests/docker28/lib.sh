# shellcheck shell=bash
# Helpers for the Docker 28 tests: containerd 2.1.9 and dockerd 28.5.2 unpacked from sid by
# fetch.sh (never installed), run privately under $T; containerd 1.6 (Debian 12's) for ctr-level
# tests; buse's snapshotter; and the differential checks of two dockerds on one containerd (buse
# against containerd's overlayfs snapshotter).
#   source "$(dirname "$0")/lib.sh"     (it sources tests/docker/lib.sh, which sources
#                                        tests/functions.sh)
# From tests/docker/lib.sh this reuses the dockerd bookkeeping (DOCKERD_* arrays, dk, docker,
# use_dockerd, stop_dockerd, stop_pid_slow), reap_mounts/reap_loops/mounts_under, busybox_tar,
# make_busybox_image and start_registry.  Every pid here is one this script started; nothing
# is ever stopped by name.
# shellcheck disable=SC2034
source "$(dirname "${BASH_SOURCE[0]}")/../docker/lib.sh"

D28_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DOCKER_CLI=/usr/local/bin/docker # a Docker 28 client (or sid's docker-cli, see d28_requires)
C28_PID='' C28_SOCK='' C28_ROOT='' C28_STATE='' C28_CONFIG=''
C16_PID='' C16_SOCK=''
SNAP_PID='' SNAP_SOCK='' SNAP_HOME=''
declare -A DOCKERD_NS=()

# d28_requires: root, overlayfs, and the unpacked binaries (fetch.sh downloads them the first
# time; a machine that cannot reach the mirror skips).  Sets D28_BIN (PATH prefix for dockerd
# and containerd), D28_CONTAINERD, D28_CTR, D28_DOCKERD, DOCKER_CLI and BUILDX.
d28_requires() {
  requires_root
  requires runc findmnt curl python3 flock
  grep -qw overlay /proc/filesystems || skip "no overlayfs in this kernel"
  local out d
  out=$(bash "$D28_DIR/fetch.sh" 2>"${T:-/tmp}/fetch.err") ||
    { cat "${T:-/tmp}/fetch.err" >&2; skip "cannot fetch Docker 28 / containerd 2.1 from sid (fetch.sh)"; }
  D28_BIN=''
  for d in $out; do
    case ${d##*/} in
      docker.io-*) D28_DOCKERD=$d/usr/sbin/dockerd D28_BIN+=$d/usr/sbin:$d/usr/bin: ;;
      containerd-*) D28_CONTAINERD=$d/usr/bin/containerd D28_CTR=$d/usr/bin/ctr D28_BIN+=$d/usr/bin: ;;
      docker-buildx-*) BUILDX=$d/usr/libexec/docker/cli-plugins/docker-buildx ;;
      docker-cli-*) DOCKER_CLI=$d/usr/bin/docker ;;
    esac
  done
  [ -x "$D28_DOCKERD" ] && [ -x "$D28_CONTAINERD" ] && [ -x "$BUILDX" ] ||
    fail "fetch.sh printed no dockerd/containerd/buildx: $out"
  [ -x "$DOCKER_CLI" ] || fail "no Docker 28 client ($DOCKER_CLI)"
}

# d28_scratch: $T, a private DOCKER_CONFIG with buildx as its CLI plugin, and the last
# cleanups: unmount whatever is left under $T, detach loops on files under it.
d28_scratch() {
  scratch
  cleanup_fn "reap_mounts '$T' >/dev/null; reap_loops '$T'"
  cleanup_fn '[ $rc -eq 0 ] || [ $rc -eq 77 ] || d28_show_logs'
  export DOCKER_CONFIG=$T/docker-config
  export BUILDX_NO_DEFAULT_ATTESTATIONS=1 # plain images: docker save gives one manifest
  mkdir -p "$DOCKER_CONFIG/cli-plugins"
  ln -sf "$BUILDX" "$DOCKER_CONFIG/cli-plugins/docker-buildx"
}

# --- buse's snapshotter ------------------------------------------------------------------

# snap_requires: skip until `buse snapshotter` exists in this build.
snap_requires() {
  [ -x "$BUSE" ] || skip "$BUSE not built"
  "$BUSE" snapshotter --help >/dev/null 2>&1 ||
    skip "buse has no snapshotter yet ('$BUSE snapshotter --help' fails)"
  requires_fuse
}

# start_snap: `buse snapshotter` in the foreground of a background job, home $SNAP_HOME
# (default $T/snap-home), socket $T/snap.sock, log $T/snap.log.
start_snap() {
  SNAP_HOME=${SNAP_HOME:-$T/snap-home} SNAP_SOCK=$T/snap.sock
  mkdir -p "$SNAP_HOME"
  rm -f "$SNAP_SOCK"
  # shellcheck disable=SC2086
  "$BUSE" ${SNAP_FLAGS--v} snapshotter --home "$SNAP_HOME" --socket "$SNAP_SOCK" >>"$T/snap.log" 2>&1 &
  SNAP_PID=$!
  [ -n "${_snap_cleanup:-}" ] || { cleanup_fn "stop_snap"; _snap_cleanup=1; }
  local i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$SNAP_PID" 2>/dev/null || { tail -n 20 "$T/snap.log"; fail "buse snapshotter exited"; }
    [ -S "$SNAP_SOCK" ] && return 0
    sleep 0.1
  done
  fail "buse snapshotter made no socket $SNAP_SOCK"
}

# stop_snap: TERM it (it must unmount and detach what it has).
stop_snap() {
  [ -n "$SNAP_PID" ] || return 0
  stop_pid "$SNAP_PID"
  SNAP_PID=''
}

# kill9_snap: SIGKILL, as a crash would.
kill9_snap() {
  [ -n "$SNAP_PID" ] || return 0
  kill -KILL "$SNAP_PID" 2>/dev/null || true
  wait "$SNAP_PID" 2>/dev/null || true
  SNAP_PID=''
}

# --- containerd 2.1 ----------------------------------------------------------------------

# The private config (tests/docker28/containerd-toml.sh), everything under $T/c28; buse as a
# proxy snapshotter when $SNAP_SOCK is set.
source "$(dirname "${BASH_SOURCE[0]}")/containerd-toml.sh"
_c28_config() { c28_toml "$C28_ROOT" "$C28_STATE" "$C28_SOCK" "$T/c28/opt" "${SNAP_SOCK:-}"; }

# start_containerd28: containerd 2.1.9 on $T/c28/containerd.sock (buse's snapshotter loaded
# as "buse" if start_snap ran first).  ctr28 ARGS talks to it.
start_containerd28() {
  local d=$T/c28
  C28_ROOT=$d/root C28_STATE=$d/state C28_SOCK=$d/containerd.sock C28_CONFIG=$d/config.toml
  mkdir -p "$C28_ROOT" "$C28_STATE"
  _c28_config >"$C28_CONFIG"
  [ -n "${_c28_cleanup:-}" ] || { cleanup_fn "stop_containerd28"; _c28_cleanup=1; }
  _run_containerd28
}

_run_containerd28() {
  PATH=$D28_BIN$PATH "$D28_CONTAINERD" --config "$C28_CONFIG" >>"$T/c28/containerd.log" 2>&1 &
  C28_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$C28_PID" 2>/dev/null || { tail -n 20 "$T/c28/containerd.log"; fail "containerd 2.1 exited"; }
    [ -S "$C28_SOCK" ] && ctr28 version >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  tail -n 20 "$T/c28/containerd.log"
  fail "containerd 2.1 did not answer on $C28_SOCK"
}

ctr28() { timeout "${DOCKER_TIMEOUT:-300}" "$D28_CTR" --address "$C28_SOCK" "$@"; }

# stop_containerd28: stop it (after every dockerd on it) and unmount what it leaves under
# its root and state (overlay snapshots of running tasks, rootfs of shims).  The shims it
# started outlive it by design; they exit when their task does (stop_dockerd removes the
# containers first).
stop_containerd28() {
  [ -n "$C28_PID" ] || return 0
  stop_pid "$C28_PID"
  C28_PID=''
  reap_mounts "$C28_STATE" >/dev/null || true
  reap_mounts "$C28_ROOT" >/dev/null || true
}

# restart_containerd28 [kill9]: stop (or SIGKILL) and start it again on the same dirs.
restart_containerd28() {
  if [ "${1:-}" = kill9 ]; then
    kill -KILL "$C28_PID" 2>/dev/null || true
    wait "$C28_PID" 2>/dev/null || true
  else
    stop_pid "$C28_PID"
  fi
  rm -f "$C28_SOCK" "$C28_SOCK.ttrpc"
  _run_containerd28
}

# --- containerd 1.6 (Debian 12) for ctr-level tests -------------------------------------

# start_containerd16: /usr/bin/containerd with a version 2 config under $T/c16; buse as a
# proxy snapshotter when $SNAP_SOCK is set.  ctr16 ARGS talks to it.
start_containerd16() {
  local d=$T/c16
  requires containerd ctr
  mkdir -p "$d/root" "$d/state"
  C16_SOCK=$d/containerd.sock
  {
    cat <<EOT
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$C16_SOCK"
[ttrpc]
  address = "$C16_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
EOT
    [ -z "$SNAP_SOCK" ] || printf '[proxy_plugins.buse]\n  type = "snapshot"\n  address = "%s"\n' "$SNAP_SOCK"
  } >"$d/config.toml"
  /usr/bin/containerd --config "$d/config.toml" >>"$d/containerd.log" 2>&1 &
  C16_PID=$!
  cleanup_fn "stop_containerd16"
  local i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$C16_PID" 2>/dev/null || { tail -n 20 "$d/containerd.log"; fail "containerd 1.6 exited"; }
    [ -S "$C16_SOCK" ] && ctr16 version >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "containerd 1.6 did not answer on $C16_SOCK"
}

ctr16() { timeout "${DOCKER_TIMEOUT:-300}" /usr/bin/ctr --address "$C16_SOCK" "$@"; }

stop_containerd16() {
  [ -n "$C16_PID" ] || return 0
  stop_pid "$C16_PID"
  C16_PID=''
  reap_mounts "$T/c16" >/dev/null || true
}

# --- dockerd 28 --------------------------------------------------------------------------

# start_dockerd28 NAME DRIVER [DOCKERD-ARGS]: dockerd 28.5.2 on containerd 2.1 (namespace
# NAME) with the containerd image store and snapshotter DRIVER (overlayfs, buse, ...); data
# root $T/NAME/root, exec root $T/NAME/exec, socket $T/NAME/docker.sock, log
# $T/NAME/dockerd.log.  Makes NAME the current dockerd (use_dockerd NAME; dk NAME ARGS).
start_dockerd28() {
  local n=$1 driver=$2 d=$T/$1
  shift 2
  mkdir -p "$d/root" "$d/exec"
  DOCKERD_ROOT[$n]=$d/root DOCKERD_EXEC[$n]=$d/exec DOCKERD_SOCK[$n]=$d/docker.sock
  DOCKERD_NS[$n]=$n CONTAINERD_PID[$n]='' # the shared containerd is stopped on its own
  DOCKERD_ARGS[$n]="--storage-driver $driver $*"
  echo '{"features":{"containerd-snapshotter":true}}' >"$d/daemon.json"
  [ -n "${DOCKERD_PID[$n]:-}" ] || cleanup_fn "stop_dockerd $n"
  _run_dockerd28 "$n"
  local got
  got=$(dk "$n" info --format '{{.Driver}} {{range .DriverStatus}}{{index . 1}} {{end}}')
  case $got in
    "$driver "*io.containerd.snapshotter.v1*) ;;
    *) fail "dockerd $n: storage '$got', want $driver on io.containerd.snapshotter.v1" ;;
  esac
}

_run_dockerd28() { # name
  local n=$1 d=$T/$1 i
  # shellcheck disable=SC2086
  PATH=$D28_BIN$PATH "$D28_DOCKERD" ${DOCKERD_ARGS[$n]} --data-root "$d/root" \
    --exec-root "$d/exec" -H "unix://$d/docker.sock" --pidfile "$d/dockerd.pid" \
    --config-file "$d/daemon.json" --containerd "$C28_SOCK" --containerd-namespace "$n" \
    --containerd-plugins-namespace "$n-plugins" --iptables=false --ip6tables=false \
    --ip-masq=false --bridge=none --userland-proxy=false ${DOCKERD_DEBUG---debug} \
    >>"$d/dockerd.log" 2>&1 &
  DOCKERD_PID[$n]=$!
  use_dockerd "$n"
  for ((i = 0; i < 600; i++)); do
    kill -0 "${DOCKERD_PID[$n]}" 2>/dev/null ||
      { grep -E 'level=(error|fatal)' "$d/dockerd.log" | tail -n 10; fail "dockerd $n exited"; }
    timeout 10 "$DOCKER_CLI" -H "unix://$d/docker.sock" version >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  tail -n 20 "$d/dockerd.log"
  fail "dockerd $n did not come up"
}

# restart_dockerd28 NAME [kill9]: stop (TERM, containers stop with it) or SIGKILL dockerd
# NAME, unmount what it left, start it again on the same roots and containerd.
restart_dockerd28() {
  local n=$1
  if [ "${2:-}" = kill9 ]; then
    kill -KILL "${DOCKERD_PID[$n]}" 2>/dev/null || true
    wait "${DOCKERD_PID[$n]}" 2>/dev/null || true
  else
    stop_pid_slow "${DOCKERD_PID[$n]}"
  fi
  reap_dockerd_mounts "$n"
  rm -f "${DOCKERD_SOCK[$n]}" "$T/$n/dockerd.pid"
  _run_dockerd28 "$n"
}

# d28_setup [buse]: the usual start: binaries, scratch, containerd 2.1 and the reference
# dockerd "ref" on overlayfs; with "buse" also buse's snapshotter (skips until it exists) and
# dockerd "bu" on it.  The current dockerd is "ref".
# D28_BU_DRIVER=native (or any snapshotter built into containerd) puts "bu" on that instead
# of buse, to check a differential test itself; BU_HOME is then that snapshotter's folder.
d28_setup() {
  local bu=${D28_BU_DRIVER:-buse}
  d28_requires
  [ "${1:-}" != buse ] || [ "$bu" != buse ] || snap_requires
  d28_scratch
  [ "${1:-}" != buse ] || [ "$bu" != buse ] || start_snap
  start_containerd28
  start_dockerd28 ref overlayfs
  if [ "${1:-}" = buse ]; then
    start_dockerd28 bu "$bu"
    if [ "$bu" = buse ]; then BU_HOME=$SNAP_HOME; else BU_HOME=$C28_ROOT/io.containerd.snapshotter.v1.$bu; fi
    use_dockerd ref
  fi
}

# bu_is_buse: true when "bu" runs on buse (not a D28_BU_DRIVER builtin).
bu_is_buse() { [ "${D28_BU_DRIVER:-buse}" = buse ]; }

# d28_show_logs: the tails of every log, for a failing test.
d28_show_logs() {
  local f
  for f in "$T"/snap.log "$T"/c28/containerd.log "$T"/c16/containerd.log "$T"/*/dockerd.log; do
    [ -f "$f" ] || continue
    echo "---- $f"
    grep -vE 'level=debug' "$f" | tail -n 25
  done
  # a failed call can be long before the end (the snapshotter logs at -v in these tests)
  [ -f "$T/snap.log" ] && { echo "---- $T/snap.log: warnings and errors"; grep -E ' (warn|error): ' "$T/snap.log" | tail -n 15; }
  return 0
}

# d28_leftovers: what this test left behind under $T (mounts, loops, live pids it started);
# empty when clean.
d28_leftovers() {
  local p
  mounts_under "$T"
  loops_under "$T"
  for p in "$C28_PID" "$C16_PID" "$SNAP_PID" "${DOCKERD_PID[@]}"; do
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "pid $p"
  done
  # shims containerd started for our containers (their -address names our socket)
  pgrep -f -- "-address $T/" || true
}

# --- differential checks -------------------------------------------------------------------

# busybox_import NAME DOCKERD...: import the busybox rootfs as image NAME on each dockerd.
busybox_import() {
  local img=$1 n
  shift
  for n in "$@"; do make_busybox_image "$img" "$n"; done
}

# save_layers DOCKERD IMAGE OUT: `docker save` IMAGE, extract it into OUT.d, and write OUT:
# one block per layer, in image order: its diff id, then tarlist.py's sorted member lines
# (path, type, mode, owner, size, content hash, link, xattrs; no times).
save_layers() {
  local n=$1 img=$2 out=$3 layer diff
  mkdir -p "$out.d"
  dk "$n" save -o "$out.tar" "$img" || fail "docker save $img on $n"
  tar -C "$out.d" -xf "$out.tar"
  : >"$out"
  python3 "$TOP/tests/docker/tarlist.py" --save-layers "$out.d" | while read -r layer diff; do
    echo "== layer ${D28_CMP_DIFFIDS:+$diff}"
    python3 "$TOP/tests/docker/tarlist.py" "$layer"
  done >>"$out"
  rm -rf "$out.d" "$out.tar"
}

# compare_saved IMAGE [IMAGE-ON-BU]: the layers `docker save` gives on "ref" and on "bu" hold
# the same members with the same content, owners, modes, links and xattrs.  D28_CMP_DIFFIDS=1
# also demands equal diff ids (for imports and loads, where times are the same too).
compare_saved() {
  local a=$1 b=${2:-$1}
  save_layers ref "$a" "$T/save-ref.txt"
  save_layers bu "$b" "$T/save-bu.txt"
  diff -u "$T/save-ref.txt" "$T/save-bu.txt" >"$T/save.diff" ||
    { head -n 60 "$T/save.diff"; fail "docker save of $a: layers differ between overlayfs and ${D28_BU_DRIVER:-buse}"; }
  ok "docker save $a: $(grep -c '^== layer' "$T/save-ref.txt") layers, $(grep -vc '^==' "$T/save-ref.txt") members equal on overlayfs and ${D28_BU_DRIVER:-buse}"
}

# compare_docker_diff CONTAINER-ON-REF CONTAINER-ON-BU: `docker diff` lists the same changes.
compare_docker_diff() {
  local a b
  a=$(dk ref diff "$1" | sort) || fail "docker diff $1 on ref"
  b=$(dk bu diff "$2" | sort) || fail "docker diff $2 on bu"
  [ -n "$a" ] || fail "docker diff $1 on ref is empty: the test changed nothing"
  [ "$a" = "$b" ] || { diff <(echo "$a") <(echo "$b"); fail "docker diff differs"; }
  ok "docker diff equal ($(echo "$a" | wc -l) changes)"
}

# both CMD...: run CMD once with "ref" then with "bu" as the current dockerd.
both() {
  local n
  for n in ref bu; do
    use_dockerd "$n"
    "$@" || fail "on $n: $*"
  done
  use_dockerd ref
}

# run_out DOCKERD IMAGE SCRIPT: the output of sh -c SCRIPT in a new container of IMAGE.
run_out() { dk "$1" run --rm --network none "$2" sh -c "$3"; }

# compare_run IMAGE SCRIPT: the same output from a container on "ref" and on "bu".
compare_run() {
  local a b
  a=$(run_out ref "$1" "$2" 2>&1) || fail "run on ref: $a"
  b=$(run_out bu "$1" "$2" 2>&1) || fail "run on bu: $b"
  [ "$a" = "$b" ] || { diff <(echo "$a") <(echo "$b"); fail "run $1 differs between overlayfs and ${D28_BU_DRIVER:-buse}"; }
  ok "run $1: same output on overlayfs and ${D28_BU_DRIVER:-buse} ($(echo "$a" | wc -l) lines)"
}
