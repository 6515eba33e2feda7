#!/usr/bin/env bash
# Plugin.Activate, Capabilities and Init answer with dockerd's exact shapes; calls that need
# Init fail with an Err until it comes; unknown paths are 404 and wrong methods 405.
source "$(dirname "$0")/lib.sh"
BUSE_ARGS=(--debug=gd serve --socket "$SOCK" --state "$T/state") # no --home: wait for Init
api_start

[ "$(stat -c %a "$SOCK")" = 600 ] || fail "socket mode $(stat -c %a "$SOCK")"
ok "socket mode 0600"

ok_call Plugin.Activate ""
assert_eq "$(jq -c . <<<"$BODY")" '{"Implements":["GraphDriver","VolumeDriver"]}' "Activate"
ok_call GraphDriver.Capabilities '{}'
assert_eq "$(jq -c . <<<"$BODY")" '{"Capabilities":{"ReproducesExactDiffs":false}}' "Capabilities"

err_call GraphDriver.Exists '{"ID":"x"}' "not initialised"
err_call GraphDriver.Status '{}' "Init"

call GraphDriver.Nope '{}'
assert_eq "$CODE" 404 "unknown endpoint status"
jq -e '.Err | test("GraphDriver.Nope")' <<<"$BODY" >/dev/null || fail "404 body $BODY"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://plugin/GraphDriver.Status)
assert_eq "$CODE" 405 "GET instead of POST"

api_init
assert_eq "$BODY" '{}' "Init reply"
ok_call GraphDriver.Status '{}'
jq -e '.Status | type == "array" and length > 0 and all(type == "array" and length == 2 and all(type == "string"))' \
  <<<"$BODY" >/dev/null || fail "Status shape: $BODY"
jq -e --arg h "$T/home" '.Status | any(.[1] == $h)' <<<"$BODY" >/dev/null || fail "Status lacks home: $BODY"
ok "Status is a list of pairs: $BODY"
# dockerd's Host header is empty; a missing one must work too
out=$(curl -sf --unix-socket "$SOCK" -H 'Host;' -X POST http://plugin/Plugin.Activate)
assert_eq "$out" '{"Implements":["GraphDriver","VolumeDriver"]}' "Activate with an empty Host"
# --no-volumes: only the graphdriver API
stop_pid "$BUSE_PID"
BUSE_ARGS=(serve --socket "$SOCK" --state "$T/state2" --no-volumes)
api_start
ok_call Plugin.Activate ""
assert_eq "$(jq -c . <<<"$BODY")" '{"Implements":["GraphDriver"]}' "Activate with --no-volumes"
call VolumeDriver.List '{}'
jq -e '.Err | test("no volumes")' <<<"$BODY" >/dev/null || fail "VolumeDriver.List with --no-volumes: $BODY"
ok "VolumeDriver.* with --no-volumes: $(jq -r .Err <<<"$BODY")"
