#!/usr/bin/env bash
# buse nbd under valgrind (memcheck, --leak-check=full --error-exitcode=1) for a short
# session — nbdinfo, a small nbdcopy each way with 4 connections, a raw client dropping
# mid-request — then SIGTERM: no memory errors, no leaks.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires valgrind nbdinfo nbdcopy python3
grep -qa __asan_init "$BUSE" && skip "an AddressSanitizer build cannot run under valgrind"
scratch
sparse_file "$T/src.img" 32
truncate -s 32M "$T/a.img"
valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
  --error-exitcode=1 --log-file="$T/vg.log" "$BUSE" nbd --unix "$T/sock" --workers 2 a=$T/a.img \
  >>"$T/buse.log" 2>&1 &
pid=$!
cleanup_fn "stop_pid $pid"
for ((i = 0; i < 600; i++)); do [ -S "$T/sock" ] && break; sleep 0.1; done
[ -S "$T/sock" ] || fail "server did not start under valgrind"
nbdinfo --json "$(nbd_uri a)" >/dev/null
nbdinfo --map "$(nbd_uri a)" >/dev/null
nbdcopy --connections=4 "$T/src.img" "$(nbd_uri a)"
nbdcopy --connections=4 "$(nbd_uri a)" "$T/out.img"
cmp "$T/src.img" "$T/out.img" || fail "copy differs"
python3 - "$T/sock" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.recv(18)
s.sendall(struct.pack(">I", 3) + struct.pack(">QII", 0x49484156454F5054, 7, 7) + b"\0\0\0\1a\0\0")
s.recv(4096)
s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, 1, 0, 65536) + b"x" * 100)
s.close()
PY
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
cat "$T/vg.log"
assert_eq "$rc" 0 "exit status under valgrind"
grep -q "ERROR SUMMARY: 0 errors" "$T/vg.log" || fail "valgrind errors"
ok "no valgrind errors or leaks"
