#!/usr/bin/env bash
# buse nbd on TCP and a unix socket at once; the unix socket is mode 0600; SIGTERM stops it
# cleanly (exit 0, socket removed) and SIGINT too; --help documents every option.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires nbdinfo nbdsh python3
requires_nbdsh
scratch
truncate -s 4M "$T/a.img"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BUSE" nbd --unix "$T/sock" --tcp "127.0.0.1:$port" a=$T/a.img >>"$T/buse.log" 2>&1 &
pid=$!
cleanup_fn "stop_pid $pid"
wait_for test -S "$T/sock"
assert_eq "$(stat -c %a "$T/sock")" 600 "unix socket mode"
nbdsh -u "nbd://127.0.0.1:$port/a" -c 'h.pwrite(b"tcp!" * 1024, 0); h.flush()'
assert_eq "$(head -c 4 "$T/a.img")" "tcp!" "write over tcp"
nbdinfo --size "$(nbd_uri a)" >/dev/null || fail "unix socket"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
assert_eq "$rc" 0 "exit status after SIGTERM"
[ ! -e "$T/sock" ] || fail "socket left behind"
ok "socket removed"
"$BUSE" nbd --unix "$T/sock" a=$T/a.img >>"$T/buse.log" 2>&1 &
pid=$!
cleanup_fn "stop_pid $pid"
wait_for test -S "$T/sock"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
assert_eq "$rc" 0 "exit status after SIGINT"
help=$("$BUSE" nbd --help)
for o in --unix --tcp --read-only --home --workers --max-requests --max-payload --help; do
  grep -q -- "$o" <<<"$help" || fail "--help does not mention $o"
done
ok "--help documents every option"
if "$BUSE" nbd a=$T/a.img 2>/dev/null; then fail "no listener accepted"; fi
ok "a listener is required"
