#!/usr/bin/env bash
# The FUSE connection under a mounted layer is lost (our own FUSE server's, aborted through
# fusectl as a dead server's would be): buse attach notices, reports the layer, unmounts and
# detaches, exits 1, and leaves nothing behind.  (test-fail-nbdfuse-dies: the same with the
# nbdfuse helper.)
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_fuse
requires mkfs.ext4
scratch
make_image "$T/img" 64M
mkdir "$T/mnt"
attach_bg a --file "$T/img" --state "$T/state" --mode fuse --mount "$T/mnt" lost1
dev=$(attach_wait a)
echo hello >"$T/mnt/f" && sync -f "$T/mnt"
fmnt=$(echo "$T"/state/lost1.*/fuse)
assert_eq "$(findmnt -n -o FSTYPE --mountpoint "$fmnt")" fuse.buse "the file is served by buse itself"
[ ! -e "$T"/state/lost1.*/nbdfuse.pid ] || fail "an nbdfuse was started"
fuse_abort "$fmnt"
for ((i = 0; i < 100; i++)); do kill -0 "$ATTACH_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$ATTACH_PID" 2>/dev/null && fail "buse attach still running 10 s after the connection was lost"
rc=0; wait "$ATTACH_PID" || rc=$?
cat "$T/a.err"
[ "$rc" -eq 1 ] || fail "exit status $rc, want 1"
grep -q "layer lost1" "$T/a.err" || fail "error does not name the layer"
grep -q "FUSE connection was aborted" "$T/a.err" || fail "error does not say what happened"
ok "error: $(grep -m1 'layer lost1' "$T/a.err")"
mountpoint -q "$T/mnt" && fail "layer still mounted"
for ((i = 0; i < 50; i++)); do leftovers "$T" >/dev/null && break; sleep 0.1; done
leftovers "$T" || fail "leftovers ($dev)"
ok "nothing left behind"
