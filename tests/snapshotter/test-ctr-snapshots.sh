#!/usr/bin/env bash
# containerd 1.6 (Debian 12) with buse as proxy snapshotter "buse": `ctr snapshots`
# prepare/view/mounts/commit/info/label/usage/ls/rm with the right errors, and containerd's
# garbage collector removing what ctr rm dropped (Remove leaves first, then Cleanup).
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_snap
requires_containerd
scratch
start_snap
start_containerd

out=$(snaps prepare --mounts base-key)
src=$(python3 -c 'import json,sys; m=json.loads(sys.argv[1])[0]; assert m["Type"]=="bind" and m["Options"]==["rbind","rw"], m; print(m["Source"])' "$out")
case $src in "$T/home/mnt/snap-"*/rootfs) ok "prepare: bind of $src" ;; *) fail "prepare mounts: $out" ;; esac
assert_eq "$(findmnt -n -o FSTYPE --target "$src")" ext4 "the snapshot is ext4"
[ ! -e "$src/lost+found" ] || fail "lost+found in the snapshot"
echo base >"$src/f"
assert_eq "$(snaps mounts /target base-key)" "mount -t bind $src /target -o rbind,rw" "ctr snapshots mounts"
snaps commit base base-key
ok "commit"
snaps info base | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["Kind"]=="Committed", d' || fail "info base"
ok "info: committed"
out=$(snaps mounts /t base-key 2>&1) && fail "mounts of a committed key: $out"
ok "mounts after commit fails: $out"

snaps view --mounts v1 base >"$T/view.json"
vsrc=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))[0]; assert m["Options"]==["rbind","ro"], m; print(m["Source"])' "$T/view.json")
assert_eq "$(cat "$vsrc/f")" base "the view reads its parent"
snaps prepare a1 base >/dev/null
out=$(snaps prepare a1 base 2>&1) && fail "prepare of an existing key: $out"
grep -q 'already exists' <<<"$out" || fail "prepare again: $out"
ok "prepare again: $out"
out=$(snaps commit c2 v1 2>&1) && fail "commit of a view: $out"
grep -q 'not active' <<<"$out" || fail "commit of a view: $out"
ok "commit of a view: $out"
out=$(snaps prepare a2 nosuch 2>&1) && fail "prepare on a missing parent: $out"
grep -q 'not found' <<<"$out" || fail "prepare on a missing parent: $out"
ok "prepare on a missing parent: $out"

snaps label a1 l=1 >/dev/null
snaps info a1 | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["Labels"]["l"]=="1" and d["Parent"]=="base" and d["Kind"]=="Active", d' ||
  fail "label not in info"
ok "label reaches Stat"
snaps usage a1 | grep -q '^a1 ' || fail "usage a1"
ok "usage: $(snaps usage a1 | tail -n1)"
assert_eq "$(snaps ls | awk 'NR>1 {print $1 "/" $NF}' | sort | tr '\n' ' ')" "a1/Active base/Committed v1/View " "ls"

out=$(snaps rm base 2>&1) && fail "rm of a parent: $out"
ok "rm of a parent fails: $out"
snaps rm a1 v1 base
assert_eq "$(snaps ls | wc -l)" 1 "ls after rm (header only)"
# containerd's GC removes them from buse, children first, then calls Cleanup.
for i in $(seq 300); do [ -z "$(ls "$T/home/snapshots")" ] && break; sleep 0.1; done
assert_eq "$(ls "$T/home/snapshots" | wc -l)" 0 "records gone after containerd's GC"
assert_eq "$(ls "$T/home/layers" | wc -l)" 0 "layers gone after containerd's GC"
wait_for grep -q 'cleanup:' "$T/snap.log" # Cleanup comes after the last Remove
ok "containerd called Cleanup"
stop_containerd
stop_snap_pid "$SNAP_PID"
ok "stopped cleanly, nothing mounted"
