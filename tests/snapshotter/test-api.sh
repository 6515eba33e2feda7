#!/usr/bin/env bash
# The snapshots API straight over gRPC (no containerd): the rules and error codes of
# containerd's snapshotters (snapshots/storage, snapshots/testsuite), data through the
# mounts, and records exact after kill -9.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_snap
scratch
start_snap --lazy all

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

# Under --lazy all, Prepare makes the layer and the record only: no device, no mount until
# the first Mounts, which returns the path Prepare named.
expect_status 0 Prepare "$($PB prepare a2 c1)" "prepare a child"
src2=$(source_of "$LAST")
assert_unmounted "$src2" "a prepared child"
expect_status 0 Mounts "$($PB key a2)" "mounts of the child"
assert_eq "$(source_of "$LAST")" "$src2" "Mounts returns the path Prepare returned"
assert_mounted "$src2" "the child after Mounts"
assert_eq "$(cat "$src2/f1")" layer1 "the child reads its parent"
expect_status 0 Mounts "$($PB key a2)" "mounts again"
assert_eq "$(grep -c " ${src2%/rootfs}/" /proc/mounts)" 2 "one mount (fs and its rootfs bind) after two Mounts"

# A snapshot never mounted: Usage reads its ext4 unmounted, Commit gives a usable parent,
# Remove does not mount it.
expect_status 0 Prepare "$($PB prepare n1 c1)" "prepare, never mounted"
nsrc=$(source_of "$LAST")
expect_status 0 Usage "$($PB key n1)" "usage of a never-mounted snapshot"
inodes=$(printf '%s\n' "$LAST" | $PB decode usage | python3 -c 'import json,sys; print(json.load(sys.stdin)["inodes"])')
[ "$inodes" -gt 12 ] || fail "inodes of a never-mounted snapshot: $inodes"
ok "inodes of a never-mounted snapshot: $inodes"
expect_status 0 Commit "$($PB commit cn n1)" "commit of a never-mounted snapshot"
assert_unmounted "$nsrc" "the never-mounted snapshot after commit"
expect_status 0 Prepare "$($PB prepare n2 cn)" "prepare on the never-mounted parent"
expect_status 0 Mounts "$($PB key n2)" "mounts on the never-mounted parent"
nsrc2=$(source_of "$LAST")
assert_eq "$(cat "$nsrc2/f1")" layer1 "a child of a commit that was never mounted reads the grandparent"
[ -d "$nsrc2/d" ] || fail "no d in the child of a never-mounted commit"
echo n2 >"$nsrc2/n2"
expect_status 0 Prepare "$($PB prepare n3 cn)" "prepare to remove"
expect_status 0 Remove "$($PB key n3)" "remove of a never-mounted snapshot"
grep -q "remove n3" "$T/snap.log" || fail "no remove of n3 in the log"
! grep -q "layer $(basename "${nsrc%/rootfs}") attached" "$T/snap.log" ||
  fail "the never-mounted snapshot was mounted: $(grep "$(basename "${nsrc%/rootfs}")" "$T/snap.log")"
ok "nothing of the never-mounted snapshot was ever mounted"
for k in n2 cn; do expect_status 0 Remove "$($PB key "$k")" "remove $k"; done

# The callers that use Prepare's mounts without Mounts get them mounted at once: dockerd's
# init layer and classic builder (a 64-hex key); its container layer over "<id>-init" not.
hex=$(printf '%064d' 7 | tr 0 a)
expect_status 0 Prepare "$($PB prepare "m/1/$hex-init-key" c1)" "prepare of an init layer"
assert_mounted "$(source_of "$LAST")" "an init layer at once"
expect_status 0 Commit "$($PB commit "m/2/$hex-init" "m/1/$hex-init-key")" "commit the init layer"
expect_status 0 Prepare "$($PB prepare "m/3/$hex" "m/2/$hex-init")" "prepare of a container layer"
assert_unmounted "$(source_of "$LAST")" "a container layer over an init layer"
expect_status 0 Prepare "$($PB prepare "m/4/${hex/a/b}" c1)" "prepare of a builder layer"
assert_mounted "$(source_of "$LAST")" "a 64-hex key over an image at once"
for k in "m/4/${hex/a/b}" "m/3/$hex" "m/2/$hex-init"; do expect_status 0 Remove "$($PB key "$k")" "remove $k"; done
rm "$src2/f1"
echo layer2 >"$src2/f2"
expect_status 0 View "$($PB view v1 c1)" "view"
vsrc=$(printf '%s\n' "$LAST" | $PB decode mounts | python3 -c 'import json,sys; m=json.load(sys.stdin)[0]; assert m["options"]==["rbind","ro"], m; print(m["source"])')
assert_eq "$(cat "$vsrc/f1")" layer1 "the view reads its parent"
expect_status 9 Commit "$($PB commit c3 v1)" "commit of a view"
expect_status 9 Remove "$($PB key c1)" "remove of a snapshot with children"
expect_status 0 Commit "$($PB commit c2 a2)" "commit the child"
expect_status 0 Prepare "$($PB prepare a3 c2)" "prepare a grandchild"
expect_status 0 Mounts "$($PB key a3)" "mounts of the grandchild"
src3=$(source_of "$LAST")
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
expect_status 0 Prepare "$($PB prepare lazy c2)" "prepare, not mounted before the kill"
lsrc=$(source_of "$LAST")
expect_status 0 List "" "list before kill"
before=$(printf '%s\n' "$LAST" | $PB decode list | python3 -c 'import json,sys; print(json.dumps(sorted((i for l in sys.stdin for i in json.loads(l)), key=lambda i: i["name"])))')
echo synced >"$src3/f3"
sync
kill9_snap
# A new record is written and synced in one journal commit; a crash before it reached the
# disk can leave the file empty: an unfinished Prepare, dropped at start.
[ -d "$T/home/snapshots" ] || fail "no record directory $T/home/snapshots"
: >"$T/home/snapshots/snap-0123456789abcdef01234567.json"
start_snap --lazy all
[ ! -e "$T/home/snapshots/snap-0123456789abcdef01234567.json" ] || fail "an empty record was kept"
ok "an empty record (an unfinished Prepare) dropped at start"
expect_status 0 List "" "list after kill -9"
after=$(printf '%s\n' "$LAST" | $PB decode list | python3 -c 'import json,sys; print(json.dumps(sorted((i for l in sys.stdin for i in json.loads(l)), key=lambda i: i["name"])))')
assert_eq "$after" "$before" "records after kill -9"
assert_mounted "$src3" "a mounted snapshot, mounted again at restart"
assert_unmounted "$lsrc" "a never-mounted snapshot after restart"
expect_status 0 Mounts "$($PB key a3)" "mounts after restart"
assert_eq "$(source_of "$LAST")" "$src3" "the same path after restart"
assert_eq "$(cat "$src3/f3")" synced "active snapshot data after kill -9"
# lazy was never mounted, so nothing of it was lost: it is not marked, it commits.
expect_status 0 Mounts "$($PB key lazy)" "mounts after restart of a never-mounted snapshot"
assert_eq "$(cat "$(source_of "$LAST")/f2")" layer2 "it reads its parent"
expect_status 0 Commit "$($PB commit lazyc lazy)" "commit of a snapshot not mounted at the kill -9"
# a3 was mounted when the snapshotter died: writes made through it after that may be lost (an
# unpack's are dropped with the dead device's mounts), so Commit refuses it, also after a
# second restart; an active snapshot prepared after the crash commits.
expect_status 9 Commit "$($PB commit a3c a3)" "commit of a snapshot mounted at the kill -9"
grep -q 'a3 was mounted when' <<<"$LAST" || fail "the refusal does not say why: $LAST"
stop_snap_pid "$SNAP_PID"
start_snap
expect_status 9 Commit "$($PB commit a3c a3)" "the same after a clean restart"
expect_status 0 Prepare "$($PB prepare a4 c1)" "prepare a4 after the crash"
assert_mounted "$(source_of "$LAST")" "under the default --lazy docker, any other key at once"
stop_snap_pid "$SNAP_PID" # a clean stop: nothing is marked
start_snap
expect_status 0 Commit "$($PB commit c4 a4)" "commit of a4 after a clean restart"
expect_status 0 Remove "$($PB key c4)" "remove c4"

# Removed while someone else still mounts it (containerd's differ removes a View while its own
# mount of our bind is there): the device stays for a later try, the snapshotter lives on
# (a failed detach used to free the device and keep a pointer to it: the next Remove crashed).
expect_status 0 Prepare "$($PB prepare "default/1/extract-9 sha256:busy")" "prepare busy"
bsrc=$(source_of "$LAST")
mkdir -p "$T/other"
mount --bind "$bsrc" "$T/other" || fail "bind $bsrc"
cleanup_fn "umount '$T/other' 2>/dev/null || true"
expect_status 9 Remove "$($PB key "default/1/extract-9 sha256:busy")" "remove while mounted elsewhere"
grep -q "still mounted on $T/other" <<<"$LAST" || fail "the refusal does not say where: $LAST"
expect_status 0 Remove "$($PB key "default/1/extract-9 sha256:busy")" "remove again: the record goes"
expect_status 0 Cleanup "" "cleanup while still mounted elsewhere"
bid=$(basename "${bsrc%/rootfs}")
[ -e "$T/home/layers/$bid.json" ] || fail "the busy layer $bid went while its device is in use"
umount "$T/other"
expect_status 0 Cleanup "" "cleanup once the other mount is gone"
[ ! -e "$T/home/layers/$bid.json" ] || fail "Cleanup left the layer $bid"
assert_unmounted "$bsrc" "the busy snapshot after Cleanup"
kill -0 "$SNAP_PID" || fail "the snapshotter died"

# Remove leaves first, then Cleanup: nothing left in the store.
for k in lazyc a3 v1 c2 c1; do expect_status 0 Remove "$($PB key "$k")" "remove $k"; done
expect_status 5 Remove "$($PB key c1)" "remove again"
expect_status 0 Cleanup "" "cleanup"
assert_eq "$(ls "$T/home/layers" | wc -l)" 0 "no layers left"
assert_eq "$(ls "$T/home/snapshots" | wc -l)" 0 "no records left"
stop_snap_pid "$SNAP_PID"
ok "stopped cleanly, nothing mounted"
