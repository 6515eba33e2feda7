#!/usr/bin/env bash
# HTTP fuzzing of the plugin socket (http-fuzz.py): REQUESTS hostile requests (methods,
# paths, JSON, bodies past the cap, lying lengths, broken chunking, giant headers, dropped
# streams), then 300 slow clients.  buse stays up, answers Activate after every 10 inputs,
# its threads and fds stay bounded (connection limit), and a full valid Create/Get/Put/
# Remove works afterwards; nothing is left mounted.
source "$(dirname "$0")/../api/lib.sh"
source "$(dirname "$0")/lib.sh"
requires_fuse
requires python3
REQUESTS=${REQUESTS:-20000}
api_start
api_init
fds() { ls "/proc/$BUSE_PID/fd" | wc -l; }
threads() { awk '/^Threads/ { print $2 }' "/proc/$BUSE_PID/status"; }
fd0=$(fds) th0=$(threads)
python3 "$(dirname "$0")/http-fuzz.py" "$SOCK" "$T/fuzzhomes" "${SEED:-$$}" "$REQUESTS" \
  >"$T/fuzz.out" 2>&1 &
fz=$!
cleanup_fn "kill $fz 2>/dev/null"
maxfd=0 maxth=0
while kill -0 $fz 2>/dev/null; do
  kill -0 "$BUSE_PID" 2>/dev/null || fail "buse serve died under fuzzing"
  f=$(fds 2>/dev/null || echo 0) t=$(threads 2>/dev/null || echo 0)
  [ "$f" -le "$maxfd" ] || maxfd=$f
  [ "$t" -le "$maxth" ] || maxth=$t
  sleep 0.5
done
wait $fz || { cat "$T/fuzz.out"; fail "fuzzer: $(tail -n1 "$T/fuzz.out")"; }
cat "$T/fuzz.out"
ok "buse up; peak fds $maxfd (start $fd0), peak threads $maxth (start $th0)"
[ "$maxfd" -le $((fd0 + 128 + 16)) ] || fail "fds grew past the connection limit: $maxfd"
# a valid session afterwards (Init again: the fuzzer may have sent Cleanup or another Init)
api_init
create ok1
d=$(get ok1)
echo hello >"$d/f"
put ok1
d=$(get ok1)
assert_eq "$(cat "$d/f")" hello "valid Create/Get/Put after fuzzing"
put ok1
ok_call GraphDriver.Remove '{"ID":"ok1"}'
sleep 1
assert_eq "$(( $(fds) <= fd0 + 4 ))" 1 "fds back near the start ($(fds) vs $fd0)"
"$BUSE" fsck --home "$T/home" --no-e2fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out"; fail "fsck"; }
counts "requests=$REQUESTS slow-clients=300 crashes=0 peak-fds=$maxfd peak-threads=$maxth"
