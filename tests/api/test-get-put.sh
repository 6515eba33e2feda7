#!/usr/bin/env bash
# Create, Get, write a file, Put, Get again sees it; Dir is the same path every time; Get is
# refcounted with Put; the last Put leaves no mount, loop device or nbdfuse behind.
source "$(dirname "$0")/lib.sh"
requires_fuse
api_start
api_init '["buse.attach=fuse"]'

create img1
ok_call GraphDriver.Exists '{"ID":"img1"}'
assert_eq "$(jq -c . <<<"$BODY")" '{"Exists":true}' "Exists after Create"
dir=$(get img1)
assert_eq "$dir" "$T/home/mnt/img1/rootfs" "Dir"
[ -z "$(ls -A "$dir")" ] || fail "a new layer is not empty: $(ls -A "$dir")"
ok "a new layer is empty (no lost+found)"
assert_eq "$(stat -c '%a %u %g' "$dir")" "755 0 0" "rootfs mode and owner"
echo hello >"$dir/greeting"
mkdir -p "$dir/etc" && echo x >"$dir/etc/conf"

dir2=$(get img1)
assert_eq "$dir2" "$dir" "second Get, same Dir"
put img1
mountpoint -q "$dir" || fail "unmounted while one Get is still held"
ok "still mounted after one of two Puts"
put img1
mountpoint -q "$dir" && fail "still mounted after the last Put"
[ -z "$(leftovers)" ] || fail "left behind after the last Put: $(leftovers)"
ok "nothing left after the last Put"

dir=$(get img1)
assert_eq "$(cat "$dir/greeting")" hello "file survives Put/Get"
assert_eq "$(cat "$dir/etc/conf")" x "nested file survives Put/Get"
ok_call GraphDriver.GetMetadata '{"ID":"img1"}'
jq -e '.Metadata | type == "object" and all(.[]; type == "string") and (.Device | startswith("/dev/"))' \
  <<<"$BODY" >/dev/null || fail "GetMetadata: $BODY"
ok "GetMetadata while mounted: $BODY"
put img1

ok_call GraphDriver.CreateReadWrite '{"ID":"ctr1","Parent":"img1","MountLabel":"","StorageOpt":{}}'
dir=$(get ctr1)
assert_eq "$(cat "$dir/greeting")" hello "container sees its image's file"
echo changed >"$dir/greeting"
put ctr1
dir=$(get img1)
assert_eq "$(cat "$dir/greeting")" hello "image unchanged by its container"
put img1

ok_call GraphDriver.Remove '{"ID":"ctr1"}'
ok_call GraphDriver.Exists '{"ID":"ctr1"}'
assert_eq "$(jq -c . <<<"$BODY")" '{"Exists":false}' "Exists after Remove"
[ ! -e "$T/home/mnt/ctr1" ] || fail "mount dir of a removed layer remains"
ok_call GraphDriver.Cleanup '{}'
assert_eq "$BODY" '{}' "Cleanup reply"
