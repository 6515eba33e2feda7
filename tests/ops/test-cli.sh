#!/usr/bin/env bash
# The operator commands answer --help, refuse bad arguments with exit 2, and `buse du`
# accounts space: the child owns what it wrote, shares its parent's diffs and the base, and
# the total counts every diff once.
source "$(dirname "$0")/lib.sh"
scratch
for c in du export fsck gc version; do
  "$BUSE" $c --help >"$T/help" || fail "buse $c --help"
  [ "$c" = version ] || grep -q "usage: buse $c" "$T/help" || fail "buse $c --help text"
  rc=0; "$BUSE" $c --no-such-option >/dev/null 2>&1 || rc=$?
  [ "$c" = version ] || assert_eq "$rc" 2 "buse $c with a bad option"
done
"$BUSE" version | grep -q '^buse [0-9]' || fail "buse version"
ok "help and version"

H=$T/home
scan_store "$H"
nbd_home_start "$H"
head -c 2M /dev/urandom | nbdcopy - "$(uri l2)" || fail "write into l2"
stop_pid "$BUSE_PID"
"$BUSE" du --home "$H" --bytes >"$T/du" || fail "buse du"
cat "$T/du"
read -r _ _ own2 shared2 < <(grep '^l2 ' "$T/du")
read -r _ _ own1 shared1 < <(grep '^l1 ' "$T/du")
[ "$own2" -ge $((2 << 20)) ] || fail "l2 owns $own2 bytes, wrote 2 MiB"
assert_eq "$own1" 0 "l1 owns nothing alone (its diff is shared with l2)"
[ "$shared2" -ge $((3 << 20)) ] && [ "$shared2" = "$shared1" ] || fail "shared: l1 $shared1, l2 $shared2"
total=$(sed -n 's/^total \([0-9]*\) .*/\1/p' "$T/du")
[ "$total" -ge $((own2 + shared2)) ] && [ "$total" -lt $((own2 + shared2 + (1 << 20))) ] ||
  fail "total $total vs owned $own2 + shared $shared2"
ok "du: l2 owns $own2, shares $shared2, total $total"
! "$BUSE" du --home "$T/nothere" 2>/dev/null || fail "du of a missing store"
