# shellcheck shell=bash
# Helpers for the graphdriver API tests: a private `buse serve` on $T/buse.sock (home
# $T/home, state $T/state) and curl calls that look like dockerd's (POST, the plugin Accept
# header, no Content-Type, an empty Host).
#   source "$(dirname "$0")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../functions.sh"

requires_root
requires curl jq
scratch
SOCK=$T/buse.sock
BUSE_ARGS=(--debug=gd serve --home "$T/home" --socket "$SOCK" --state "$T/state")

# api_start: start buse serve and wait for its socket; at exit check nothing is left behind.
api_start() {
  start_buse "${BUSE_ARGS[@]}"
  wait_for curl -sf --unix-socket "$SOCK" -X POST http://plugin/Plugin.Activate
  cleanup_fn "check_clean"
}

# api_stop: TERM buse serve and wait for it.
api_stop() { stop_pid "$BUSE_PID"; }

# api_restart: stop and start again (no new Init).
api_restart() {
  api_stop
  start_buse "${BUSE_ARGS[@]}"
  wait_for curl -sf --unix-socket "$SOCK" -X POST http://plugin/Plugin.Activate
}

# call METHOD [JSON]: POST /METHOD; sets CODE and BODY.
call() {
  local out
  out=$(curl -sS --unix-socket "$SOCK" -H 'Host:' -H 'Content-Type:' \
    -H 'Accept: application/vnd.docker.plugins.v1.2+json' -X POST --data-binary "${2-}" \
    -w '\n%{http_code}' "http://plugin/$1") || fail "curl $1 failed"
  CODE=${out##*$'\n'}
  BODY=${out%$'\n'*}
}

# ok_call METHOD [JSON]: the call must answer 200 with a JSON object and no Err.
ok_call() {
  call "$@"
  [ "$CODE" = 200 ] || fail "$1: HTTP $CODE: $BODY"
  jq -e 'type == "object" and (has("Err") | not)' <<<"$BODY" >/dev/null || fail "$1: reply $BODY"
}

# err_call METHOD JSON PATTERN: the call must fail (non-200) with an Err matching PATTERN.
err_call() {
  call "$1" "$2"
  [ "$CODE" != 200 ] || fail "$1 $2: expected an error, got 200: $BODY"
  local e
  e=$(jq -r '.Err // empty' <<<"$BODY")
  [ -n "$e" ] || fail "$1: no Err in $BODY"
  grep -qE -- "$3" <<<"$e" || fail "$1: Err '$e' does not match '$3'"
  ok "$1 fails: $e"
}

# api_init [OPTS-JSON-LIST]
api_init() { ok_call GraphDriver.Init "{\"Home\":\"$T/home\",\"Opts\":${1:-[]},\"UIDMaps\":null,\"GIDMaps\":null}"; }

# get ID: Get and print Dir.
get() { ok_call GraphDriver.Get "{\"ID\":\"$1\",\"MountLabel\":\"\"}"; jq -r .Dir <<<"$BODY"; }
put() { ok_call GraphDriver.Put "{\"ID\":\"$1\"}"; }
create() { ok_call GraphDriver.Create "{\"ID\":\"$1\",\"Parent\":\"${2-}\"}"; }
create_rw() { ok_call GraphDriver.CreateReadWrite "{\"ID\":\"$1\",\"Parent\":\"${2-}\"${3:+,\"StorageOpt\":$3}}"; }

# apply_diff ID PARENT FILE: ApplyDiff with a chunked body; prints the Size.
apply_diff() {
  local out
  out=$(curl -sS --unix-socket "$SOCK" -H 'Host:' -H 'Content-Type:' -H 'Transfer-Encoding: chunked' \
    -X POST --data-binary "@$3" -w '\n%{http_code}' \
    "http://plugin/GraphDriver.ApplyDiff?id=$1&parent=$2") || fail "curl ApplyDiff failed"
  CODE=${out##*$'\n'}
  BODY=${out%$'\n'*}
}

# diff ID PARENT FILE: Diff into FILE; sets CODE.
diff_to() {
  CODE=$(curl -sS --unix-socket "$SOCK" -H 'Host:' -H 'Content-Type:' -X POST \
    --data-binary "{\"ID\":\"$1\",\"Parent\":\"$2\"}" -o "$3" -w '%{http_code}' \
    http://plugin/GraphDriver.Diff) || fail "curl Diff failed"
}

# leftovers: mounts, loop devices and nbdfuse processes that belong to this test.
leftovers() {
  findmnt -rn -o TARGET | grep -F "$T/" || true
  losetup -a | grep -F "$T/" || true
  pgrep -af nbdfuse | grep -F "$T/" || true
}

check_clean() {
  [ -n "${BUSE_PID-}" ] && stop_pid "$BUSE_PID"
  local left m
  left=$(leftovers)
  [ -z "$left" ] && return 0
  echo "FAIL: left behind:"
  echo "$left"
  # undo it so the machine stays clean, then fail
  for m in $(findmnt -rn -o TARGET | grep -F "$T/" | sort -r); do umount -l "$m"; done
  for m in $(losetup -a | grep -F "$T/" | cut -d: -f1); do losetup -d "$m"; done
  exit 1
}
