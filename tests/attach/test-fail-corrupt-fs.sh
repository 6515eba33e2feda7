#!/usr/bin/env bash
# Mounting a layer whose filesystem is corrupt fails with an error naming the layer, and the
# device, nbdfuse and FUSE mount are all undone.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_fuse
requires mkfs.ext4
scratch
make_image "$T/img" 64M
# overwrite the primary superblock (offset 1024) with garbage
dd if=/dev/urandom of="$T/img" bs=1024 seek=1 count=1 conv=notrunc status=none
mkdir "$T/mnt"
rc=0
"$BUSE" attach --file "$T/img" --state "$T/state" --mode fuse --mount "$T/mnt" corrupt1 \
  >"$T/out" 2>"$T/err" || rc=$?
cat "$T/err"
[ "$rc" -ne 0 ] || fail "mounted a corrupt filesystem"
grep -q "layer corrupt1" "$T/err" || fail "error does not name the layer"
grep -q "mount" "$T/err" || fail "error does not say mount failed"
ok "error: $(tail -n1 "$T/err")"
mountpoint -q "$T/mnt" && fail "still mounted"
leftovers "$T" || fail "leftovers"
assert_eq "$(ls -A "$T/state")" "" "records left in the state dir"
