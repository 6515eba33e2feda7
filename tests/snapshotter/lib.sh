# Helpers of the snapshotter tests: source after ../functions.sh.
#   start_snap [ARGS]      buse snapshotter on $T/snap.sock, home $T/home (pid SNAP_PID)
#   start_containerd       containerd 1.6 of Debian with a private config using it as
#                          proxy snapshotter "buse" (pid CTRD_PID, socket $CTRD_SOCK)
#   snapcall METHOD BYTES  one raw gRPC call (tests/snapshotter/snapcall.c)
#   pb ARGS                encode/decode messages (tests/snapshotter/pb.py)
SNAPCALL=$BUILD/tests/snapshotter/snapcall
SVC=/containerd.services.snapshots.v1.Snapshots
PB="python3 $TOP/tests/snapshotter/pb.py"

requires_snap() {
  requires_root
  requires_fuse
  requires python3
  [ -x "$SNAPCALL" ] || skip "snapcall not built ($SNAPCALL)"
  "$BUSE" snapshotter --help >/dev/null 2>&1 || skip "$BUSE has no snapshotter command"
}

start_snap() {
  [ -n "${SNAP_LOG_DUMP:-}" ] || { SNAP_LOG_DUMP=1; cleanup_fn 'dump_logs $rc'; }
  "$BUSE" -v snapshotter --home "$T/home" --socket "$T/snap.sock" --attach fuse "$@" \
    >>"$T/snap.log" 2>&1 &
  SNAP_PID=$!
  cleanup_fn "stop_snap_pid $SNAP_PID"
  wait_for snap_ready
}

# The socket answers (a stale socket file of a killed run does not count).
snap_ready() { [ "$(status_of "$(snapcall List "")")" = 0 ]; }

# stop_snap_pid PID: TERM; it must exit 0 (under ASan: no leak) within 60 s and leave
# nothing it mounted mounted.
stop_snap_pid() {
  local i rc=0
  kill -0 "$1" 2>/dev/null || return 0
  kill -TERM "$1"
  for ((i = 0; i < 600; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$1" 2>/dev/null && { kill -KILL "$1"; echo "snapshotter did not stop" >&2; return 1; }
  wait "$1" || rc=$?
  [ "$rc" = 0 ] || { echo "snapshotter exited $rc" >&2; return 1; }
  grep -q " $T/home/mnt/" /proc/mounts && { echo "mounts left under $T/home/mnt" >&2; return 1; }
  return 0
}

# kill -9 the snapshotter and reap what it left (nbdfuse, loops, mounts) like a restart does.
kill9_snap() {
  kill -KILL "$SNAP_PID" 2>/dev/null || true
  wait "$SNAP_PID" 2>/dev/null || true
}

# On failure, the daemons' last words go into the test log.
dump_logs() {
  [ "$1" = 0 ] && return 0
  echo "--- snap.log"; tail -n 40 "$T/snap.log" 2>/dev/null
  [ -f "$T/containerd.log" ] && { echo "--- containerd.log"; tail -n 20 "$T/containerd.log" | cut -c1-400; }
  return 0
}

# source_of OUTPUT: the source of the first mount of a Prepare/View/Mounts reply
source_of() { printf '%s\n' "$1" | $PB decode mounts | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["source"])'; }

# assert_unmounted SRC WHAT: the snapshot of mount source SRC (<home>/mnt/<id>/rootfs) has no
# mount, no directory and no device; assert_mounted SRC WHAT: it is an ext4 mount.
assert_unmounted() {
  local dir=${1%/rootfs} id
  id=$(basename "$dir")
  ! grep -q " $dir/" /proc/mounts || fail "$2: mounted: $(grep " $dir/" /proc/mounts)"
  [ ! -e "$dir" ] || fail "$2: $dir exists"
  ! losetup -l -n -O BACK-FILE | grep -q "$id" || fail "$2: a loop device: $(losetup -l | grep "$id")"
  ! findmnt -rn -o TARGET | grep -q "/kdev/$id\." || fail "$2: a FUSE mount serves it"
  ! pgrep -f "nbdfuse.*$id" >/dev/null || fail "$2: an nbdfuse runs for it"
  ok "$2: not mounted, no device"
}
assert_mounted() {
  assert_eq "$(findmnt -n -o FSTYPE --mountpoint "$1")" ext4 "$2: mounted"
}

# (a test tool: under ASan its exit-time leaks of the gRPC core do not count)
snapcall() { ASAN_OPTIONS=detect_leaks=0 "$SNAPCALL" "$T/snap.sock" "$SVC/$1" "${2:-}"; }

# status_of OUTPUT: the status code of a snapcall
status_of() { printf '%s\n' "$1" | sed -n 's/^status \([0-9]*\).*/\1/p'; }

# expect_status WANT METHOD BYTES WHAT
expect_status() {
  local out
  out=$(snapcall "$2" "$3") || fail "$4: snapcall failed: $out"
  [ "$(status_of "$out")" = "$1" ] || fail "$4: got '$(printf '%s' "$out" | tail -n1)', want status $1"
  ok "$4: status $1"
  LAST=$out
}

# CTRD_GEN=1 (default): Debian 12's containerd 1.6; CTRD_GEN=2: containerd 2.1 unpacked from
# sid into $D28_CACHE by tests/docker28/fetch.sh (skipped when it is not there).
D28_CACHE=${D28_CACHE:-/var/cache/buse-test/sid}
requires_containerd() {
  CTRD_BIN=/usr/bin CTR=ctr
  if [ "${CTRD_GEN:-1}" = 2 ]; then
    local d
    for d in "$D28_CACHE"/containerd-2.1*; do [ -f "$d/.complete" ] && CTRD_BIN=$d/usr/bin; done
    [ "$CTRD_BIN" != /usr/bin ] || skip "no containerd 2.1 unpacked in $D28_CACHE (tests/docker28/fetch.sh)"
    CTR=$CTRD_BIN/ctr
  fi
  requires containerd ctr runc containerd-shim-runc-v2
}

start_containerd() {
  CTRD_SOCK=$T/containerd.sock
  mkdir -p "$T/ctrd"
  if [ "${CTRD_GEN:-1}" = 2 ]; then
    cat >"$T/ctrd/config.toml" <<CONF
version = 3
root = "$T/ctrd/root"
state = "$T/ctrd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images",
  "io.containerd.cri.v1.runtime", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.erofs",
  "io.containerd.differ.v1.erofs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing", "io.containerd.nri.v1.nri"]
CONF
  else
    cat >"$T/ctrd/config.toml" <<CONF
version = 2
root = "$T/ctrd/root"
state = "$T/ctrd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]
[plugins."io.containerd.internal.v1.opt"]
  path = "$T/ctrd/opt"
CONF
  fi
  cat >>"$T/ctrd/config.toml" <<CONF
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[proxy_plugins.buse]
  type = "snapshot"
  address = "$T/snap.sock"
CONF
  PATH=$CTRD_BIN:$PATH "$CTRD_BIN/containerd" --config "$T/ctrd/config.toml" >>"$T/containerd.log" 2>&1 &
  CTRD_PID=$!
  cleanup_fn "stop_containerd"
  wait_for "$CTR" -a "$CTRD_SOCK" version
}

# Stop containerd; unmount what a 2.x leaves (its bind-mounted state dirs), ours only.
stop_containerd() {
  stop_pid "$CTRD_PID"
  local m
  for m in $(awk -v t="$T/ctrd/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

ctrb() { "$CTR" -a "$CTRD_SOCK" -n buse-test "$@"; }
snaps() { ctrb snapshots --snapshotter buse "$@"; }
