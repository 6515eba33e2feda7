#!/usr/bin/env bash
# fuse mode without nbdfuse in PATH: a clear error naming the layer and nbdfuse, exit 1,
# and nothing left behind (no FUSE mount, no loop device, no record).
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_fuse
requires mkfs.ext4
scratch
export BUSE_FUSE_HELPER=nbdfuse # the helper path (the default is our own FUSE server)
make_image "$T/img" 64M
mkdir "$T/bin"
ln -s "$(command -v losetup)" "$T/bin/losetup"
rc=0
PATH=$T/bin "$BUSE" attach --file "$T/img" --state "$T/state" --mode fuse nofuse1 \
  >"$T/out" 2>"$T/err" || rc=$?
cat "$T/err"
[ "$rc" -ne 0 ] || fail "attach succeeded without nbdfuse"
grep -q "layer nofuse1" "$T/err" || fail "error does not name the layer"
grep -q "nbdfuse not found" "$T/err" || fail "error does not say nbdfuse is missing"
ok "error: $(tail -n1 "$T/err")"
[ ! -s "$T/out" ] || fail "printed a device: $(cat "$T/out")"
leftovers "$T" || fail "leftovers"
assert_eq "$(ls -A "$T/state")" "" "records left in the state dir"
