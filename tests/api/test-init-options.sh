#!/usr/bin/env bash
# Init validates its Opts: an unknown key or a bad value fails with an Err naming it; good
# options are accepted and shown by Status; the Init is remembered across a restart.
source "$(dirname "$0")/lib.sh"
BUSE_ARGS=(--debug=gd serve --socket "$SOCK" --state "$T/state")
api_start

err_call GraphDriver.Init "{\"Home\":\"$T/home\",\"Opts\":[\"buse.nosuchopt=1\"]}" "nosuchopt"
err_call GraphDriver.Init "{\"Home\":\"$T/home\",\"Opts\":[\"buse.basesize=lots\"]}" "basesize"
err_call GraphDriver.Init "{\"Home\":\"$T/home\",\"Opts\":[\"buse.fs=xfs\"]}" "buse.fs.*xfs"
err_call GraphDriver.Init "{\"Home\":\"$T/home\",\"Opts\":[\"buse.attach=magic\"]}" "attach"
err_call GraphDriver.Init "{\"Home\":\"$T/home\",\"Opts\":[\"buse.blocksize=3000\"]}" "blocksize"
err_call GraphDriver.Init '{"Home":"relative/dir","Opts":[]}' "Home"
err_call GraphDriver.Exists '{"ID":"x"}' "not initialised"

api_init '["buse.basesize=2G","buse.attach=fuse","buse.mountopt=noatime"]'
ok_call GraphDriver.Status '{}'
jq -e '.Status | any(.[0] == "Base size" and (.[1] | test("^2")))' <<<"$BODY" >/dev/null ||
  fail "base size not 2G: $BODY"
jq -e '.Status | any(.[0] == "Attach mode" and .[1] == "fuse")' <<<"$BODY" >/dev/null ||
  fail "attach mode: $BODY"
ok "options applied"

api_restart
ok_call GraphDriver.Status '{}'
jq -e '.Status | any(.[0] == "Base size" and (.[1] | test("^2")))' <<<"$BODY" >/dev/null ||
  fail "restart lost the Init: $BODY"
ok "Init remembered across a restart"
