#!/usr/bin/env bash
# `buse serve` restarted without a new Init keeps serving: layers and their files are there,
# a layer dockerd still holds (Get without Put) is mounted again at the same Dir, and its
# later Put unmounts it.  Also after a crash (KILL): the stale mount, loop device and nbdfuse
# are reaped and the held layer mounted again.  Nothing is left behind at the end.
source "$(dirname "$0")/lib.sh"
requires_fuse
api_start
api_init

create l1
create_rw c1 l1
d1=$(get l1)
echo kept >"$d1/file"
dc=$(get c1)
echo container >"$dc/cfile"
put c1

api_restart
ok_call GraphDriver.Status '{}'
ok "Status answers after a restart, without Init"
mountpoint -q "$d1" || fail "held layer not mounted again after restart"
assert_eq "$(cat "$d1/file")" kept "held layer's file after restart"
ok_call GraphDriver.Exists '{"ID":"c1"}'
assert_eq "$(jq -r .Exists <<<"$BODY")" true "other layer exists after restart"
dc=$(get c1)
assert_eq "$(cat "$dc/cfile")" container "other layer's file after restart"
put c1
assert_eq "$(get l1)" "$d1" "Get after restart gives the same Dir"
echo more >"$d1/more"
put l1
mountpoint -q "$d1" || fail "unmounted while dockerd still holds one reference"
put l1
mountpoint -q "$d1" && fail "still mounted after the last Put"
[ -z "$(leftovers)" ] || fail "left behind: $(leftovers)"
ok "the reference held across the restart is released by Put"

# crash: KILL while mounted
get l1 >/dev/null
kill -KILL "$BUSE_PID"
wait "$BUSE_PID" 2>/dev/null || true
start_buse "${BUSE_ARGS[@]}"
wait_for curl -sf --unix-socket "$SOCK" -X POST http://plugin/Plugin.Activate
mountpoint -q "$d1" || fail "held layer not mounted again after a crash"
assert_eq "$(cat "$d1/more")" more "file after a crash"
echo after-crash >"$d1/after"
put l1
[ -z "$(leftovers)" ] || fail "left behind after crash recovery: $(leftovers)"
ok "crash leftovers reaped"
d1=$(get l1)
assert_eq "$(cat "$d1/after")" after-crash "write after the crash kept"
put l1
