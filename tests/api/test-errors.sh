#!/usr/bin/env bash
# Bad requests get {"Err": ...} with a non-200 status, and the message names the problem:
# malformed JSON, a missing or invalid ID, unknown ids, Get of a removed layer, Remove of a
# mounted layer, Create of an existing layer or on a missing parent, bad StorageOpt.
source "$(dirname "$0")/lib.sh"
requires_fuse
api_start
api_init

err_call GraphDriver.Create '{"ID":' "malformed JSON"
err_call GraphDriver.Create '[1,2]' "malformed JSON|not an object"
err_call GraphDriver.Create '{}' "missing ID"
err_call GraphDriver.Get '{"ID":""}' "missing ID"
err_call GraphDriver.Create '{"ID":"../../etc"}' "\.\./\.\./etc"
err_call GraphDriver.Create '{"ID":"a/b"}' "a/b"
err_call GraphDriver.Get '{"ID":"nosuch"}' "nosuch"
err_call GraphDriver.Put '{"ID":"nosuch"}' "nosuch"
err_call GraphDriver.GetMetadata '{"ID":"nosuch"}' "nosuch"
err_call GraphDriver.Changes '{"ID":"nosuch"}' "nosuch"
err_call GraphDriver.DiffSize '{"ID":"nosuch"}' "nosuch"
err_call GraphDriver.Create '{"ID":"orphan","Parent":"noparent"}' "noparent"

create l1
err_call GraphDriver.Create '{"ID":"l1"}' "l1.*exists"
err_call GraphDriver.CreateReadWrite '{"ID":"c1","Parent":"l1","StorageOpt":{"size":"lots"}}' "size"
err_call GraphDriver.CreateReadWrite '{"ID":"c1","Parent":"l1","StorageOpt":{"speed":"fast"}}' "speed"
err_call GraphDriver.Changes '{"ID":"l1","Parent":"nosuchparent"}' "nosuchparent"

get l1 >/dev/null
err_call GraphDriver.Remove '{"ID":"l1"}' "l1.*mounted"
put l1
ok_call GraphDriver.Remove '{"ID":"l1"}'
err_call GraphDriver.Get '{"ID":"l1"}' "l1.*not exist"
ok_call GraphDriver.Remove '{"ID":"l1"}'
ok "Remove of a removed layer is a no-op"

# Diff of an unknown layer fails before any byte: a non-200 with Err, not a broken stream
diff_to nosuch "" "$T/out.tar"
[ "$CODE" != 200 ] || fail "Diff of an unknown layer answered 200"
jq -e '.Err | test("nosuch")' "$T/out.tar" >/dev/null || fail "Diff error body: $(cat "$T/out.tar")"
ok "Diff of an unknown layer: HTTP $CODE $(cat "$T/out.tar")"
apply_diff nosuch "" /dev/null
[ "$CODE" != 200 ] || fail "ApplyDiff to an unknown layer answered 200"
jq -e '.Err | test("nosuch")' <<<"$BODY" >/dev/null || fail "ApplyDiff error body: $BODY"
ok "ApplyDiff to an unknown layer: HTTP $CODE $BODY"
apply_diff "" "" /dev/null
jq -e '.Err | test("id")' <<<"$BODY" >/dev/null || fail "ApplyDiff without id: $BODY"
ok "ApplyDiff without id: $BODY"

# the daemon is still fine
ok_call Plugin.Activate ''
