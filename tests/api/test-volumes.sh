#!/usr/bin/env bash
# VolumeDriver.* as dockerd calls it, without dockerd: Get of a missing volume before Create,
# "Opts": null and {"ro": ""}, one reference per mount ID (a repeat is a no-op, an unknown
# Unmount is not an error), mount IDs kept across a kill -9 of buse (Path answers at once
# after the restart), Remove without Unmount, names refused before any path is built, and
# --export-volumes serving a snapshot read-only over NBD.
source "$(dirname "$0")/lib.sh"
requires nbdcopy debugfs
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BUSE_ARGS=(--debug=vol serve --socket "$SOCK" --state "$T/state" --export-volumes "tcp://127.0.0.1:$PORT")
api_start
vcall() { ok_call "$@"; jq -r '.Err // empty' <<<"$BODY"; }
verr() { # METHOD JSON PATTERN: 200 with an Err matching PATTERN
  call "$1" "$2"
  [ "$CODE" = 200 ] || fail "$1 $2: HTTP $CODE"
  jq -r '.Err // empty' <<<"$BODY" | grep -qE -- "$3" || fail "$1 $2: '$BODY' does not match '$3'"
  ok "$1 $2: $(jq -r .Err <<<"$BODY")"
}
verr VolumeDriver.Get '{"Name":"v1"}' '^no such volume: v1$'
ok_call VolumeDriver.Create '{"Name":"v1","Opts":null}'
ok_call VolumeDriver.Capabilities '{}'
assert_eq "$(jq -c . <<<"$BODY")" '{"Capabilities":{"Scope":"local"}}' "Capabilities"
verr VolumeDriver.Create '{"Name":"v1","Opts":null}' 'volume v1 exists'
for bad in '../x' 'a/../../b' 'a/b' '' '.hidden' "$(printf 'x%.0s' {1..70})"; do
  verr VolumeDriver.Create "{\"Name\":\"$bad\",\"Opts\":null}" 'volume name'
  verr VolumeDriver.Mount "{\"Name\":\"$bad\",\"ID\":\"m\"}" 'volume name'
done
[ ! -e "$T/x" ] && [ ! -e "$T/state/x" ] && [ ! -e "$T/state/volumes/x" ] || fail "a bad name touched the filesystem"
ok_call VolumeDriver.Mount '{"Name":"v1","ID":"m1"}'
mp=$(jq -r .Mountpoint <<<"$BODY")
ok_call VolumeDriver.Mount '{"Name":"v1","ID":"m1"}' # a repeat: no second reference
ok_call VolumeDriver.Mount '{"Name":"v1","ID":"m2"}'
echo data >"$mp/f" && sync -f "$mp/f"
ok_call VolumeDriver.Unmount '{"Name":"v1","ID":"m1"}'
ok_call VolumeDriver.Unmount '{"Name":"v1","ID":"nobody"}'
ok_call VolumeDriver.Path '{"Name":"v1"}'
assert_eq "$(jq -r .Mountpoint <<<"$BODY")" "$mp" "still mounted for m2"
ok_call VolumeDriver.Get '{"Name":"v1"}'
assert_eq "$(jq -r '.Volume.Status.Mounts' <<<"$BODY")" 1 "one mount id holds v1"

# kill -9: the mount id m2 survives, Path answers at once, data intact
kill -KILL "$BUSE_PID"; wait "$BUSE_PID" 2>/dev/null || true
start_buse "${BUSE_ARGS[@]}"
wait_for curl -sf --unix-socket "$SOCK" -X POST http://plugin/Plugin.Activate
ok_call VolumeDriver.Path '{"Name":"v1"}'
assert_eq "$(jq -r .Mountpoint <<<"$BODY")" "$mp" "v1 mounted again after kill -9 (mount id m2 on disk)"
assert_eq "$(cat "$mp/f")" data "v1's data after kill -9"
ok_call VolumeDriver.Create '{"Name":"s1","Opts":{"from":"v1"}}'
ok_call VolumeDriver.Unmount '{"Name":"v1","ID":"m2"}'
ok_call VolumeDriver.Path '{"Name":"v1"}'
assert_eq "$(jq -r .Mountpoint <<<"$BODY")" "" "v1 unmounted with its last id"

# --export-volumes: the unmounted snapshot s1, read-only over NBD
nbdcopy "nbd://127.0.0.1:$PORT/s1" "$T/s1.img" || fail "nbdcopy of s1 from --export-volumes"
assert_eq "$(debugfs -R 'cat /rootfs/f' "$T/s1.img" 2>/dev/null)" data "s1 exported over NBD"
e2fsck -fn "$T/s1.img" >/dev/null 2>&1 || fail "e2fsck of the exported s1"
ok "the exported s1 is fsck-clean"
ok_call VolumeDriver.Mount '{"Name":"s1","ID":"w"}'
out=$(nbdcopy "nbd://127.0.0.1:$PORT/s1" "$T/s1b.img" 2>&1) && fail "a mounted volume was exported"
ok "a mounted volume is not exported ($(tail -n 1 <<<"$out" | cut -c1-80))"

# ro: the data directory is read-only; Remove without Unmount
ok_call VolumeDriver.Create '{"Name":"r1","Opts":{"ro":""}}'
ok_call VolumeDriver.Mount '{"Name":"r1","ID":"x"}'
touch "$(jq -r .Mountpoint <<<"$BODY")/nope" 2>/dev/null && fail "ro volume is writable"
ok "ro volume: read-only"
for v in r1 s1 v1; do ok_call VolumeDriver.Remove "{\"Name\":\"$v\"}"; done
ok_call VolumeDriver.List '{}'
assert_eq "$(jq -c .Volumes <<<"$BODY")" "[]" "no volumes left"
