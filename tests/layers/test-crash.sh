#!/usr/bin/env bash
# kill -9 of `buse nbd --home` in the middle of a write+flush workload, 20 times at random
# points, each round on a new layer stacked on the previous one: every write acknowledged
# before a completed FLUSH reads back after the restart, `buse ls` shows every layer, and
# nothing half-created is visible.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_libnbd_py
scratch
H=$T/home IO=$(dirname "$0")/crash-io.py ROUNDS=${ROUNDS:-20}

for ((k = 0; k < ROUNDS; k++)); do
  parent=()
  [ $k -eq 0 ] || parent=(--parent "crash-$((k - 1))")
  "$BUSE" layer create "crash-$k" "${parent[@]}" --home "$H" || fail "create crash-$k"
  lnbd_start "$H"
  lpy "$IO" write "$(luri crash-$k)" $k "$T/log.$k" &
  wpid=$!
  sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
  kill -KILL "$BUSE_PID"
  wait "$wpid" || true
  wait "$BUSE_PID" 2>/dev/null || true
  lnbd_start "$H"
  lpy "$IO" check "$(luri crash-$k)" $k "$T/log.$k" || fail "round $k: flushed data lost"
  # the deepest ancestor's region still reads through the whole stack
  [ $k -eq 0 ] || lpy "$IO" check "$(luri crash-$k)" 0 "$T/log.0" >/dev/null ||
    fail "round $k: region 0 lost through the stack"
  lnbd_stop
done
ok "$ROUNDS rounds of kill -9: every flushed write survived"

n=$("$BUSE" ls --home "$H" | tail -n +2 | wc -l)
assert_eq "$n" "$ROUNDS" "layers listed by buse ls"
for ((k = 0; k < ROUNDS; k++)); do
  "$BUSE" ls --home "$H" | grep -q "^crash-$k " || fail "crash-$k missing from buse ls"
done
# nothing half-created: no stray temp files, every diff is ready
stray=$(find "$H" -name '*.tmp' -o -name 'mkfs.*' | wc -l)
assert_eq "$stray" 0 "stray temporary files"
bad=$(grep -L '"state": "ready"' "$H"/diffs/*/meta.json | wc -l)
assert_eq "$bad" 0 "diffs not ready"
