#!/usr/bin/env bash
# kill -9 of `buse serve` at ROUNDS random points of a large ApplyDiff (curl, as dockerd sends
# it: chunked), then a restart and what dockerd does next: Remove of the interrupted layer
# (dockerd's cleanup of a failed ApplyDiff), then Create + ApplyDiff again.  After each
# restart buse fsck is clean and nothing is mounted; the Remove succeeds (the interrupted
# layer goes: absent); the retried ApplyDiff succeeds and every file verifies by checksum;
# no mount, loop device or nbdfuse process is left.
source "$(dirname "$0")/../api/lib.sh"
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bigtar.sh"
requires_fuse
ROUNDS=${ROUNDS:-20} MB=${MB:-200}
make_big_tar "$T/big.tar" "$MB"
api_start
api_init
start=$SECONDS
create r0
apply_diff r0 "" "$T/big.tar"
[ "$CODE" = 200 ] || fail "clean ApplyDiff: $BODY"
took=$((SECONDS - start))
d=$(get r0)
(cd "$d" && md5sum -c --quiet manifest.md5) || fail "clean ApplyDiff: checksums"
put r0
ok "clean ApplyDiff + verify: ${took}s"
restart() {
  BUSE_ARGS=(--debug=gd serve --home "$T/home" --socket "$SOCK" --state "$T/state")
  start_buse "${BUSE_ARGS[@]}"
  wait_for curl -sf --unix-socket "$SOCK" -X POST http://plugin/Plugin.Activate
}
kills=0 finished=0 problems=() nfiles=$(grep -c . <(tar -xOf "$T/big.tar" ./manifest.md5))
for ((k = 1; k <= ROUNDS; k++)); do
  create "r$k"
  curl -sS -m 600 --unix-socket "$SOCK" -H 'Host:' -H 'Content-Type:' -H 'Transfer-Encoding: chunked' \
    -X POST --data-binary "@$T/big.tar" -o /dev/null -w '%{http_code}' \
    "http://plugin/GraphDriver.ApplyDiff?id=r$k&parent=" >"$T/code.$k" 2>/dev/null &
  cpid=$!
  sleep "$(awk -v s="$RANDOM" -v t="$took" 'BEGIN { printf "%.2f", 0.2 + (s / 32767) * t }')"
  if ! kill9 "$BUSE_PID"; then
    printf '%s\n' "${problems[@]}"
    fail "round $k: buse serve SIGKILLed during ApplyDiff cannot exit (above)"
  fi
  kills=$((kills + 1))
  wait $cpid 2>/dev/null || true
  [ "$(cat "$T/code.$k")" != 200 ] || finished=$((finished + 1))
  restart
  "$BUSE" fsck --home "$T/home" --tmpdir "$T" "r$k" >"$T/fsck.$k" 2>&1 ||
    { cat "$T/fsck.$k"; fail "round $k: buse fsck r$k after the crash"; }
  st=$(kernel_state "$T")
  [ "$st" = "mounts=0 loops=0 nbdfuse=0" ] ||
    problems+=("round $k: after the restart, with no Get outstanding: $st")
  call GraphDriver.Remove "{\"ID\":\"r$k\"}"
  [ "$CODE" = 200 ] || problems+=("round $k: Remove of the interrupted layer: HTTP $CODE $BODY")
  call GraphDriver.Exists "{\"ID\":\"r$k\"}"
  if [ "$(jq -r .Exists <<<"$BODY")" = true ]; then k2=r$k.retry; else k2=r$k; fi
  create "$k2"
  apply_diff "$k2" "" "$T/big.tar"
  [ "$CODE" = 200 ] || fail "round $k: retried ApplyDiff: $BODY"
  d=$(get "$k2")
  (cd "$d" && md5sum -c --quiet manifest.md5) || fail "round $k: retried ApplyDiff: checksums"
  put "$k2"
  ok_call GraphDriver.Remove "{\"ID\":\"$k2\"}"
done
"$BUSE" fsck --home "$T/home" --tmpdir "$T" >"$T/fsck.end" 2>&1 || { cat "$T/fsck.end"; fail "final fsck"; }
api_stop
assert_eq "$(kernel_state "$T")" "mounts=0 loops=0 nbdfuse=0" "after buse stopped"
if [ ${#problems[@]} -gt 0 ]; then
  printf '%s\n' "${problems[@]}"
  fail "${#problems[@]} problems in $ROUNDS rounds (interrupted ApplyDiff keeps a reference)"
fi
counts "kills=$kills (ApplyDiff done before the kill: $finished) retried=$ROUNDS files-verified=$((ROUNDS * nfiles)) data-lost=0 tar=${MB}MiB fsck-clean=$((ROUNDS + 1))"
