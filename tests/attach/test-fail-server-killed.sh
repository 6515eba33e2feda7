#!/usr/bin/env bash
# The server dies under a mounted layer (buse attach is SIGKILLed): I/O on the mount fails
# instead of hanging, and `buse attach --reap` names the layer and removes every leftover
# (the mount, the loop device, the FUSE mount, nbdfuse, the record).
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_fuse
requires mkfs.ext4
scratch
make_image "$T/img" 64M
mkdir "$T/mnt"
attach_bg a --file "$T/img" --state "$T/state" --mode fuse --mount "$T/mnt" killed1
dev=$(attach_wait a)
kill -9 "$ATTACH_PID"
wait "$ATTACH_PID" 2>/dev/null || true
if timeout 20 dd if=/dev/urandom of="$T/mnt/f" bs=1M count=4 conv=fsync status=none 2>"$T/dd.err"
then fail "write with fsync succeeded with the server dead"; fi
ok "I/O fails with the server dead: $(head -n1 "$T/dd.err")"
"$BUSE" attach --reap --state "$T/state" 2>"$T/reap.err" || true
cat "$T/reap.err"
grep -q "layer killed1" "$T/reap.err" || fail "reap does not name the layer"
mountpoint -q "$T/mnt" && fail "layer still mounted"
# (the loop device name may already serve someone else: look for our backing file)
for ((i = 0; i < 50; i++)); do leftovers "$T" >/dev/null && break; sleep 0.1; done
leftovers "$T" || fail "leftovers ($dev)"
assert_eq "$(ls -A "$T/state")" "" "records left in the state dir"
