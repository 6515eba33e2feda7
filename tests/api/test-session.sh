#!/usr/bin/env bash
# A new Init means a new dockerd: the references the last one held no longer block Remove
# (or docker rm would fail forever after a dockerd crash), their mounts stay usable until
# then, and a Get takes them up again.  Within one session Remove of a mounted layer fails.
source "$(dirname "$0")/lib.sh"
requires_fuse
api_start
api_init

create l1
create l2
d1=$(get l1)
echo one >"$d1/f"
d2=$(get l2)
err_call GraphDriver.Remove '{"ID":"l1"}' "l1.*mounted"

api_init # dockerd restarted
mountpoint -q "$d1" || fail "a mount of the last session went away at Init"
ok "mounts of the last session stay"
ok_call GraphDriver.Remove '{"ID":"l1"}'
mountpoint -q "$d1" && fail "removed layer still mounted"
ok "Remove of a layer held only by the last session unmounts and removes it"
assert_eq "$(get l2)" "$d2" "Get takes up a mount of the last session"
put l2
mountpoint -q "$d2" && fail "still mounted after the Put of the new session"
put l2 # the last session's Put, late: harmless
ok "a late Put of the last session is harmless"
[ -z "$(leftovers)" ] || fail "left behind: $(leftovers)"
