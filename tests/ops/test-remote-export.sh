#!/usr/bin/env bash
# The remote export (export.c, through the ops-serve harness; `buse serve --export` when it
# has the flag): nbdcopy and qemu-img read nbd://127.0.0.1:PORT/ID equal to `buse export`;
# a write over it is refused with EPERM; a layer open for writing is not exported; with no
# --export, `buse serve` listens on no TCP port.
source "$(dirname "$0")/lib.sh"
requires nbdcopy qemu-img nbdsh ss
scratch
H=$T/home
scan_store "$H"
"$BUSE" export --home "$H" l2 "$T/want.img" || fail "buse export"
port=$(free_port)
ops_serve_start "$H" "tcp://127.0.0.1:$port" -

nbdcopy "nbd://127.0.0.1:$port/l2" "$T/nbdcopy.img" || fail "nbdcopy over TCP"
cmp "$T/nbdcopy.img" "$T/want.img" || fail "nbdcopy read differs from buse export"
ok "nbdcopy nbd://127.0.0.1:$port/l2 equals buse export"
qemu-img convert -f raw -O raw "nbd://127.0.0.1:$port/l2" "$T/qemu.img" || fail "qemu-img convert"
cmp "$T/qemu.img" "$T/want.img" || fail "qemu-img read differs"
ok "qemu-img convert equals buse export"

out=$(PATH=/usr/bin:$PATH nbdsh -u "nbd://127.0.0.1:$port/l2" -c '
print(h.is_read_only())
try:
    h.pwrite(b"x" * 4096, 0)
    print("written")
except nbd.Error as e:
    print("refused", e.errno)
' 2>&1) || fail "nbdsh: $out"
case $out in True*"refused EPERM"*) ok "export is read-only, a write gets EPERM" ;;
  *) fail "write over the remote export: $out" ;; esac

# l2 open for writing on the local socket: not exported while it is
PATH=/usr/bin:$PATH nbdsh -u "nbd+unix:///l2?socket=$T/sock" \
  -c 'import time; h.pwrite(b"y" * 4096, 1 << 20); time.sleep(4)' &
holder=$!
sleep 1
! nbdinfo "nbd://127.0.0.1:$port/l2" >"$T/info" 2>&1 || fail "a layer open for writing was exported"
ok "layer open for writing refused: $(head -c 120 "$T/info" | tr '\n' ' ')"
wait $holder || fail "local writer"
nbdinfo "nbd://127.0.0.1:$port/l1" >/dev/null || fail "l1 not exported"
stop_pid "$OPS_PID"
"$BUSE" export --home "$H" l2 "$T/want.img" || fail "buse export after the local write"

# the flag is off by default: buse serve opens no TCP listener
if "$BUSE" serve --help | grep -q -- '--export'; then
  requires_root
  mkdir -p "$T/state"
  start_buse serve --home "$H" --socket "$T/serve.sock" --state "$T/state"
  wait_for test -S "$T/serve.sock"
  curl -sf --unix-socket "$T/serve.sock" -X POST http://buse/GraphDriver.Exists -d '{"ID":"l1"}' >/dev/null
  ! ss -ltnp | grep -q "pid=$BUSE_PID," || fail "buse serve listens on TCP without --export"
  ok "no TCP listener without --export"
  stop_pid "$BUSE_PID"
  port=$(free_port)
  start_buse serve --home "$H" --socket "$T/serve.sock" --state "$T/state" --export "tcp://127.0.0.1:$port"
  wait_for test -S "$T/serve.sock"
  curl -sf --unix-socket "$T/serve.sock" -X POST http://buse/GraphDriver.Exists -d '{"ID":"l1"}' >/dev/null
  wait_for nbdinfo "nbd://127.0.0.1:$port/l2"
  nbdcopy "nbd://127.0.0.1:$port/l2" "$T/serve.img" || fail "nbdcopy from buse serve --export"
  cmp "$T/serve.img" "$T/want.img" || fail "buse serve --export read differs"
  ok "buse serve --export serves the same bytes"
else
  echo "note: buse serve has no --export yet (the lead wires export.c); checked through ops-serve"
fi
