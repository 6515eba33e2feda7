#!/usr/bin/env bash
# A Get of a layer whose device died under its mount (here: its FUSE connection aborted) mounts it
# again, with its data, at the same Dir; the held references carry over and the last Put
# leaves nothing behind.
source "$(dirname "$0")/lib.sh"
requires_fuse
api_start
api_init '["buse.attach=fuse"]'

create l1
d=$(get l1)
echo data >"$d/file"
put l1
d=$(get l1)
fmnt=$(echo "$T"/state/kdev/l1.*/fuse)
mountpoint -q "$fmnt" || fail "no FUSE mount found for l1"
fuse_abort "$fmnt" # the FUSE connection our daemon serves l1's device through
cat "$d/file" >/dev/null 2>&1 && ok "(page cache still answers)" || ok "the old mount fails now"
d2=$(get l1)
assert_eq "$d2" "$d" "same Dir after the re-mount"
assert_eq "$(cat "$d2/file")" data "data after the re-mount"
echo more >"$d2/more"
put l1
put l1
[ -z "$(leftovers)" ] || fail "left behind: $(leftovers)"
ok "nothing left after the last Put"
d=$(get l1)
assert_eq "$(cat "$d/more")" more "write after the re-mount kept"
put l1
