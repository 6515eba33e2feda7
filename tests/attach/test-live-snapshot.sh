#!/usr/bin/env bash
# Live snapshot of a mounted, busy layer: while a writer creates files with fsync, the layer
# is frozen, a child is created on it, and it is thawed.  The child's filesystem is clean
# (e2fsck -fn) and holds every file whose fsync returned before the snapshot; the writer
# never sees an error and the parent keeps going.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_fuse
requires e2fsck
scratch
tool=$BUILD/tests/tools/kdev-snap
[ -x "$tool" ] || skip "$tool not built"
H=$T/home
"$BUSE" layer create --home "$H" --base-size 256M P || fail "layer create P"
mkdir "$T/m"
coproc SNAP { "$tool" "$H" P "$T/m" "$T/state" 2>"$T/snap.err"; }
cleanup_fn "stop_pid $SNAP_PID"
read -r -t 30 line <&"${SNAP[0]}" || fail "kdev-snap did not start: $(cat "$T/snap.err")"
assert_eq "$line" ready "kdev-snap"

mkdir "$T/m/rootfs/w"
content() { head -c 65536 < <(yes "file $1"); }
writer() {
  local i=0
  while [ ! -e "$T/stop" ]; do
    i=$((i + 1))
    content "$i" | dd of="$T/m/rootfs/w/f$i" conv=fsync status=none ||
      { echo "write $i failed" >"$T/writer.err"; return 1; }
    echo "$i" >>"$T/fsynced"
  done
}
writer &
wpid=$!
sleep 2
n=$(tail -n1 "$T/fsynced")
echo "snap C" >&"${SNAP[1]}"
read -r -t 60 line <&"${SNAP[0]}" || fail "no answer to snap"
assert_eq "$line" ok "snapshot of the busy layer"
sleep 1
touch "$T/stop"
wait "$wpid" || fail "writer: $(cat "$T/writer.err")"
total=$(tail -n1 "$T/fsynced")
ok "writer wrote $total files, $n of them fsynced before the snapshot"
[ "$total" -gt "$n" ] || fail "the writer made no progress after the thaw"
echo quit >&"${SNAP[1]}"
wait "$SNAP_PID" || fail "kdev-snap failed: $(cat "$T/snap.err")"
grep frozen "$T/snap.err" || true

attach_bg c --home "$H" --mode fuse --ro C
dev=$(attach_wait c)
e2fsck -fn "$dev" >"$T/fsck.log" 2>&1 || { cat "$T/fsck.log"; fail "e2fsck -fn on the child"; }
ok "child filesystem clean (e2fsck -fn)"
stop_pid "$ATTACH_PID"
attach_bg c2 --home "$H" --mode fuse --ro --mount "$T/m" C
attach_wait c2 >/dev/null
for ((i = 1; i <= n; i++)); do
  [ "$(content "$i" | md5sum)" = "$(md5sum <"$T/m/rootfs/w/f$i")" ] ||
    fail "child: f$i (fsynced before the snapshot) missing or wrong"
done
ok "child holds all $n files fsynced before the snapshot"
stop_pid "$ATTACH_PID"
leftovers "$T" || fail "leftovers"
