#!/usr/bin/env bash
# A 5-layer stack attached and mounted (fuse mode): every layer's files are visible in the
# top one, writes land only in the top diff (the lower diffs' data and map files keep their
# checksums), and after unmount and detach the filesystem is clean (e2fsck -fn).
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_fuse
requires e2fsck md5sum python3
scratch
H=$T/home
mkdir "$T/m"

# attach_run ID CMD...: attach ID mounted on $T/m, run CMD, unmount and detach.
attach_run() {
  local id=$1; shift
  attach_bg "$id" --home "$H" --mode fuse --mount "$T/m" "$id"
  attach_wait "$id" >/dev/null
  "$@"
  stop_pid "$ATTACH_PID"
  wait "$ATTACH_PID" || fail "buse attach $id exited with an error: $(cat "$T/$id.err")"
}
write_layer() {
  mkdir -p "$T/m/rootfs/l$1"
  head -c 3M /dev/urandom >"$T/m/rootfs/l$1/data"
  echo "layer $1" >"$T/m/rootfs/l$1/name"
  md5sum <"$T/m/rootfs/l$1/data" >"$T/sum$1"
  sync -f "$T/m/rootfs"
}

parent=()
for i in 1 2 3 4; do
  "$BUSE" layer create --home "$H" --base-size 256M "${parent[@]}" "L$i" || fail "layer create L$i"
  attach_run "L$i" write_layer "$i"
  parent=(--parent "L$i")
done
"$BUSE" layer create --home "$H" --parent L4 L5 || fail "layer create L5"
top=$("$BUSE" inspect --home "$H" L5 | python3 -c 'import json,sys; print(json.load(sys.stdin)["top_diff"])')
(cd "$H/diffs" && find . -path "./$top" -prune -o \( -name data -o -name map \) -print0 |
  sort -z | xargs -0 md5sum) >"$T/lower.before"
assert_eq "$(wc -l <"$T/lower.before")" 10 "data and map files of the 5 lower diffs"

check_and_write() {
  for i in 1 2 3 4; do
    [ "$(cat "$T/m/rootfs/l$i/name")" = "layer $i" ] || fail "l$i/name not visible in L5"
    [ "$(md5sum <"$T/m/rootfs/l$i/data")" = "$(cat "$T/sum$i")" ] || fail "l$i/data differs in L5"
  done
  ok "files of all 4 lower layers visible in L5"
  write_layer 5
  dd if=/dev/urandom of="$T/m/rootfs/l1/data" bs=4k count=10 seek=5 conv=notrunc,fsync status=none
  md5sum <"$T/m/rootfs/l1/data" >"$T/sum1"
  rm -r "$T/m/rootfs/l2"
  sync -f "$T/m/rootfs"
}
attach_run L5 check_and_write

(cd "$H/diffs" && find . -path "./$top" -prune -o \( -name data -o -name map \) -print0 |
  sort -z | xargs -0 md5sum) >"$T/lower.after"
diff "$T/lower.before" "$T/lower.after" || fail "a lower diff changed"
ok "lower diffs unchanged (data and map checksums)"
owned=$("$BUSE" inspect --home "$H" L5 | python3 -c 'import json,sys; print(json.load(sys.stdin)["owned_bytes"])')
[ "$owned" -gt 3000000 ] || fail "top diff owns only $owned bytes"
ok "top diff owns $owned bytes"

attach_bg fsck --home "$H" --mode fuse L5
dev=$(attach_wait fsck)
e2fsck -fn "$dev" >"$T/fsck.log" 2>&1 || { cat "$T/fsck.log"; fail "e2fsck -fn $dev"; }
ok "e2fsck -fn clean"
stop_pid "$ATTACH_PID"

verify() {
  [ "$(md5sum <"$T/m/rootfs/l1/data")" = "$(cat "$T/sum1")" ] || fail "l1/data after rewrite"
  [ "$(md5sum <"$T/m/rootfs/l5/data")" = "$(cat "$T/sum5")" ] || fail "l5/data"
  [ ! -e "$T/m/rootfs/l2" ] || fail "deleted l2 is back"
  ok "L5's changes persist across detach"
}
attach_run L5 verify
leftovers "$T" || fail "leftovers"
