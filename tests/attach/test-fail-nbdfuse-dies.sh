#!/usr/bin/env bash
# The connection under a mounted layer dies (its nbdfuse is killed): buse attach notices,
# reports the layer, unmounts and detaches, exits 1, and leaves nothing behind.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_fuse
requires mkfs.ext4
scratch
export BUSE_FUSE_HELPER=nbdfuse # the helper path (the default is our own FUSE server)
make_image "$T/img" 64M
mkdir "$T/mnt"
attach_bg a --file "$T/img" --state "$T/state" --mode fuse --mount "$T/mnt" dies1
dev=$(attach_wait a)
echo hello >"$T/mnt/f" && sync -f "$T/mnt"
pid=$(cat "$T"/state/dies1.*/nbdfuse.pid)
kill -9 "$pid"
for ((i = 0; i < 100; i++)); do kill -0 "$ATTACH_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$ATTACH_PID" 2>/dev/null && fail "buse attach still running 10 s after nbdfuse died"
rc=0; wait "$ATTACH_PID" || rc=$?
cat "$T/a.err"
[ "$rc" -eq 1 ] || fail "exit status $rc, want 1"
grep -q "layer dies1" "$T/a.err" || fail "error does not name the layer"
grep -q "nbdfuse was killed" "$T/a.err" || fail "error does not say what happened"
ok "error: $(grep -m1 'layer dies1' "$T/a.err")"
mountpoint -q "$T/mnt" && fail "layer still mounted"
# (the loop device name may already serve someone else: look for our backing file)
for ((i = 0; i < 50; i++)); do leftovers "$T" >/dev/null && break; sleep 0.1; done
leftovers "$T" || fail "leftovers ($dev)"
ok "nothing left behind"
