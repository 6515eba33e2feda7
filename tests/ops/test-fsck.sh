#!/usr/bin/env bash
# buse fsck: a sound store passes (structure and e2fsck of every layer); a corrupted map is
# found and the error names the diff and every layer whose chain holds it; a damaged
# filesystem (superblock overwritten through NBD) is found by e2fsck and names its layer only.
source "$(dirname "$0")/lib.sh"
scratch
H=$T/home
scan_store "$H"

"$BUSE" fsck --home "$H" >"$T/out" 2>&1 || { cat "$T/out"; fail "fsck of a sound store"; }
grep -q 'layer l2: filesystem clean' "$T/out" || fail "fsck did not check l2's filesystem"
ok "sound store passes"

# l1's top diff holds the filesystem; l2 stacks on it.
d1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["top"])' "$H/layers/l1.json")
cp "$H/diffs/$d1/map" "$T/map.good"
printf '\377\377\377\377' | dd of="$H/diffs/$d1/map" bs=1 seek=100 conv=notrunc status=none
rc=0; "$BUSE" fsck --home "$H" >"$T/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || { cat "$T/out"; fail "fsck passed a corrupted map"; }
grep -q "diff $d1: map: invalid entry at block 400" "$T/out" || { cat "$T/out"; fail "no map error for $d1"; }
grep -q '^layer l1: BAD' "$T/out" || { cat "$T/out"; fail "l1 not named"; }
grep -q '^layer l2: BAD' "$T/out" || { cat "$T/out"; fail "l2 not named"; }
ok "corrupted map found: $(grep -c BAD "$T/out") layers named, exit $rc"
rc=0; "$BUSE" fsck --home "$H" --no-e2fsck l2 >"$T/out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q '^layer l2: BAD' "$T/out" || { cat "$T/out"; fail "fsck l2"; }
cp "$T/map.good" "$H/diffs/$d1/map"

# A damaged filesystem in l2 only: its superblock overwritten.
nbd_home_start "$H"
head -c 1024 /dev/urandom >"$T/junk"
PATH=/usr/bin:$PATH nbdsh -u "$(uri l2)" -c "h.pwrite(open('$T/junk','rb').read(), 1024); h.flush()" ||
  fail "write junk into l2"
stop_pid "$BUSE_PID"
rc=0; "$BUSE" fsck --home "$H" >"$T/out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { cat "$T/out"; fail "fsck passed a damaged filesystem"; }
grep -q '^layer l2: e2fsck -fn found errors' "$T/out" || { cat "$T/out"; fail "l2 not named"; }
grep -q '^layer l1: filesystem clean' "$T/out" || { cat "$T/out"; fail "l1 should be clean"; }
ok "damaged filesystem found in l2, l1 clean"
! "$BUSE" fsck --home "$H" nosuch >/dev/null 2>&1 || fail "fsck of a missing layer"
