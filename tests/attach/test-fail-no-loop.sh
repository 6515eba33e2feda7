#!/usr/bin/env bash
# fuse mode when no loop device is free (a fake losetup, via $BUSE_LOSETUP): a clear error
# naming the layer, nbdfuse stopped, its FUSE mount gone, no record left.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_fuse
requires mkfs.ext4
scratch
make_image "$T/img" 64M
cat >"$T/losetup" <<'EOS'
#!/bin/sh
echo "losetup: cannot find an unused loop device" >&2
exit 1
EOS
chmod +x "$T/losetup"
rc=0
BUSE_LOSETUP=$T/losetup "$BUSE" attach --file "$T/img" --state "$T/state" --mode fuse noloop1 \
  >"$T/out" 2>"$T/err" || rc=$?
cat "$T/err"
[ "$rc" -ne 0 ] || fail "attach succeeded without a loop device"
grep -q "layer noloop1" "$T/err" || fail "error does not name the layer"
grep -q "unused loop device" "$T/err" || fail "error does not carry losetup's reason"
ok "error: $(tail -n1 "$T/err")"
leftovers "$T" || fail "leftovers"
assert_eq "$(ls -A "$T/state")" "" "records left in the state dir"
