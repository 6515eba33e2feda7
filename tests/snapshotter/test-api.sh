#!/usr/bin/env bash
# The snapshots API straight over gRPC (no containerd): the rules and error codes of
# containerd's snapshotters (snapshots/storage, snapshots/testsuite), data through the
# mounts, and records exact after kill -9.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_snap
scratch
start_snap

# codes: 0 OK, 3 InvalidArgument, 5 NotFound, 6 AlreadyExists, 9 FailedPrecondition
expect_status 0 Prepare "$($PB prepare 'default/1/extract-1 sha256:aa' a=1)" "prepare"
src=$(printf '%s\n' "$LAST" | $PB decode mounts | python3 -c 'import json,sys; m=json.load(sys.stdin)[0]; assert m["type"]=="bind" and m["options"]==["rbind","rw"], m; print(m["source"])')
case $src in "$T/home/mnt/"*/rootfs) ok "mount source $src" ;; *) fail "mount source $src" ;; esac
[ ! -e "$src/lost+found" ] || fail "lost+found in the rootfs"
echo layer1 >"$src/f1"
mkdir "$src/d"
expect_status 6 Prepare "$($PB prepare 'default/1/extract-1 sha256:aa')" "prepare again"
expect_status 5 Prepare "$($PB prepare k2 nosuch)" "prepare on a missing parent"
expect_status 3 Prepare "$($PB prepare k2 'default/1/extract-1 sha256:aa')" "prepare on an active parent"
expect_status 3 Prepare "$($PB prepare '')" "prepare with an empty key"
expect_status 5 Mounts "$($PB key nosuch)" "mounts of a missing key"
expect_status 5 Commit "$($PB commit c1 nosuch)" "commit of a missing key"
expect_status 0 Commit "$($PB commit c1 'default/1/extract-1 sha256:aa' containerd.io/snapshot.ref=x)" "commit"
expect_status 5 Stat "$($PB key 'default/1/extract-1 sha256:aa')" "the key is gone after commit"
expect_status 6 Commit "$($PB commit c1 c1)" "commit onto an existing name"
expect_status 9 Mounts "$($PB key c1)" "mounts of a committed snapshot"
expect_status 0 Stat "$($PB key c1)" "stat"
info=$(printf '%s\n' "$LAST" | $PB decode info)
assert_eq "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["kind"], d["parent"] or "-", d["labels"])' "$info")" \
  "committed - {'containerd.io/snapshot.ref': 'x'}" "committed info (labels replaced, not inherited)"

expect_status 0 Prepare "$($PB prepare a2 c1)" "prepare a child"
src2=$(printf '%s\n' "$LAST" | $PB decode mounts | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["source"])')
assert_eq "$(cat "$src2/f1")" layer1 "the child reads its parent"
rm "$src2/f1"
echo layer2 >"$src2/f2"
expect_status 0 View "$($PB view v1 c1)" "view"
vsrc=$(printf '%s\n' "$LAST" | $PB decode mounts | python3 -c 'import json,sys; m=json.load(sys.stdin)[0]; assert m["options"]==["rbind","ro"], m; print(m["source"])')
assert_eq "$(cat "$vsrc/f1")" layer1 "the view reads its parent"
expect_status 9 Commit "$($PB commit c3 v1)" "commit of a view"
expect_status 9 Remove "$($PB key c1)" "remove of a snapshot with children"
expect_status 0 Commit "$($PB commit c2 a2)" "commit the child"
expect_status 0 Prepare "$($PB prepare a3 c2)" "prepare a grandchild"
src3=$(printf '%s\n' "$LAST" | $PB decode mounts | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["source"])')
[ ! -e "$src3/f1" ] && [ "$(cat "$src3/f2")" = layer2 ] || fail "grandchild content"
ok "grandchild sees the delete and the add"

# Update: labels only; a mask path other than labels is InvalidArgument.
expect_status 0 Update "$($PB update c2 --path labels.l l=2)" "update a label"
assert_eq "$(printf '%s\n' "$LAST" | $PB decode info | python3 -c 'import json,sys; print(json.load(sys.stdin)["labels"]["l"])')" 2 "label set"
expect_status 3 Update "$($PB update c2 --path kind)" "update of an immutable field"
expect_status 5 Update "$($PB update nosuch l=1)" "update of a missing snapshot"

# List, with filters.
expect_status 0 List "" "list"
names=$(printf '%s\n' "$LAST" | $PB decode list | python3 -c 'import json,sys; print(" ".join(sorted(i["name"] for l in sys.stdin for i in json.loads(l))))')
assert_eq "$names" "a3 c1 c2 v1" "list names"
expect_status 0 List "$($PB list 'kind==committed')" "list committed"
assert_eq "$(printf '%s\n' "$LAST" | $PB decode list | python3 -c 'import json,sys; print(" ".join(sorted(i["name"] for l in sys.stdin for i in json.loads(l))))')" "c1 c2" "filter kind==committed"
expect_status 0 List "$($PB list 'parent==c1' 'labels.l==2')" "list parent==c1 or labels.l==2"
assert_eq "$(printf '%s\n' "$LAST" | $PB decode list | python3 -c 'import json,sys; print(" ".join(sorted(i["name"] for l in sys.stdin for i in json.loads(l))))')" "c2 v1" "filters OR'd"
expect_status 3 List "$($PB list 'kind=="x')" "a bad filter"

# Usage: the snapshot's own bytes; inodes from its ext4.
expect_status 0 Usage "$($PB key a3)" "usage"
expect_status 5 Usage "$($PB key nosuch)" "usage of a missing key"

# Records exact after kill -9; an active snapshot's data (synced) kept, mounted again.
expect_status 0 List "" "list before kill"
before=$(printf '%s\n' "$LAST" | $PB decode list | python3 -c 'import json,sys; print(json.dumps(sorted((i for l in sys.stdin for i in json.loads(l)), key=lambda i: i["name"])))')
echo synced >"$src3/f3"
sync
kill9_snap
start_snap
expect_status 0 List "" "list after kill -9"
after=$(printf '%s\n' "$LAST" | $PB decode list | python3 -c 'import json,sys; print(json.dumps(sorted((i for l in sys.stdin for i in json.loads(l)), key=lambda i: i["name"])))')
assert_eq "$after" "$before" "records after kill -9"
expect_status 0 Mounts "$($PB key a3)" "mounts after restart"
assert_eq "$(cat "$src3/f3")" synced "active snapshot data after kill -9"

# Remove leaves first, then Cleanup: nothing left in the store.
for k in a3 v1 c2 c1; do expect_status 0 Remove "$($PB key "$k")" "remove $k"; done
expect_status 5 Remove "$($PB key c1)" "remove again"
expect_status 0 Cleanup "" "cleanup"
assert_eq "$(ls "$T/home/layers" | wc -l)" 0 "no layers left"
assert_eq "$(ls "$T/home/snapshots" | wc -l)" 0 "no records left"
stop_snap_pid "$SNAP_PID"
ok "stopped cleanly, nothing mounted"
