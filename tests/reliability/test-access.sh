#!/usr/bin/env bash
# Access: the plugin socket is 0600 root; the state records (where NBD unix sockets and
# nbdfuse mounts live) are 0700 directories; the TCP export is read-only and binds loopback
# when no host is given; a non-root user (setpriv nobody) can neither call the API, nor
# connect to an NBD unix socket, nor attach a layer — even with every path above reachable.
source "$(dirname "$0")/../api/lib.sh"
source "$(dirname "$0")/lib.sh"
requires_fuse
requires setpriv ss nbdsh nbdinfo python3
nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
chmod 0755 "$T" # only the modes buse sets protect what it makes below
api_start
api_init
tries=0

assert_eq "$(stat -c '%a %U %F' "$SOCK")" "600 root socket" "plugin socket mode and owner"
create a1
dir=$(get a1)
# every directory buse made: no group/other read or write on state, home, records, fuse
# mounts.  Search (x) is allowed: mnt/ is 0711 like Docker's own layer directories, so a
# userns-remapped container's root can reach its rootfs without listing anyone else's.
bad=$(find "$T/state" "$T/home" -maxdepth 1 -type d -perm /066 -printf '%p %m\n')
assert_eq "$bad" "" "state and home directories open to others"
socks=$(find "$T" -xdev -type s ! -path "$SOCK")
for s in $socks; do
  m=$(stat -c %a "$(dirname "$s")")
  [ "$m" = 700 ] || [ "$(stat -c %a "$s")" = 600 ] || fail "socket $s in a $m directory"
done
ok "$(wc -w <<<"$socks") NBD/other unix sockets in 0700 directories or 0600"
recs=$(find "$T/state" -mindepth 1 -type d ! -perm 0700 ! -path "*/fuse*" -printf '%p %m\n')
assert_eq "$recs" "" "attach records that are not 0700"

# nobody: the API
out=$(nobody curl -sS -m 5 --unix-socket "$SOCK" -X POST http://buse/Plugin.Activate 2>&1) &&
  fail "nobody called Plugin.Activate: $out"
tries=$((tries + 1))
ok "nobody cannot call the API: $out"
out=$(nobody curl -sS -m 5 --unix-socket "$SOCK" -X POST -d '{"ID":"a1"}' \
  http://buse/GraphDriver.Remove 2>&1) && fail "nobody called Remove: $out"
tries=$((tries + 1))
call GraphDriver.Exists '{"ID":"a1"}'
assert_eq "$(jq -r .Exists <<<"$BODY")" true "a1 still exists after nobody's Remove"
# nobody: attach a layer, read the home, or serve it
out=$(nobody "$BUSE" attach --home "$T/home" --state "$T/nobody-state" --ro a1 2>&1) &&
  fail "nobody attached a1: $out"
tries=$((tries + 1))
ok "nobody cannot attach: $(tail -n1 <<<"$out" | cut -c1-100)"
out=$(nobody cat "$T/home/layers/a1.json" 2>&1) && fail "nobody reads layer metadata"
out=$(nobody ls "$dir" 2>&1) && fail "nobody lists a mounted rootfs through $dir's parents"
tries=$((tries + 2))
ok "nobody cannot read the home or reach the mount: $(cut -c1-80 <<<"$out")"
put a1

# nobody: an NBD unix socket of `buse nbd --home` (0600)
api_stop
"$BUSE" nbd --unix "$T/nbd.sock" --home "$T/home" >>"$T/nbd.log" 2>&1 &
npid=$!
cleanup_fn "stop_pid $npid"
wait_for test -S "$T/nbd.sock"
assert_eq "$(stat -c %a "$T/nbd.sock")" 600 "NBD unix socket mode"
nbdinfo "nbd+unix:///a1?socket=$T/nbd.sock" >/dev/null || fail "root nbdinfo"
out=$(nobody nbdinfo "nbd+unix:///a1?socket=$T/nbd.sock" 2>&1) && fail "nobody read an export"
tries=$((tries + 1))
ok "nobody cannot connect to the NBD socket: $(tail -n1 <<<"$out" | cut -c1-100)"
stop_pid "$npid"

# the TCP export: no host given means loopback; read-only
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if "$BUSE" serve --help | grep -q -- '--export'; then
  start_buse serve --home "$T/home" --socket "$SOCK" --state "$T/state" --export ":$port"
  tpid=$BUSE_PID
  how="buse serve --export :$port"
else
  [ -x "$BUILD/tests/tools/ops-serve" ] || fail "no buse serve --export and no ops-serve harness"
  "$BUILD/tests/tools/ops-serve" "$T/home" "$T/ops.sock" ":$port" - >>"$T/ops.log" 2>&1 &
  tpid=$!
  cleanup_fn "stop_pid $tpid"
  how="ops-serve (buse serve has no --export yet)"
fi
wait_for nbdinfo "nbd://127.0.0.1:$port/a1"
listen=$(ss -ltnH "sport = :$port" | awk '{ print $4 }' | sort -u | tr '\n' ' ')
assert_eq "$listen" "127.0.0.1:$port " "TCP export listens on ($how)"
out=$(PATH=/usr/bin:$PATH nbdsh -u "nbd://127.0.0.1:$port/a1" -c '
print(h.is_read_only())
try:
    h.pwrite(b"x" * 4096, 0); print("written")
except nbd.Error as e:
    print("refused", e.errno)' 2>&1) || fail "nbdsh: $out"
case $out in True*"refused EPERM"*) ok "TCP export read-only (write: EPERM)" ;;
  *) fail "write over the TCP export: $out" ;; esac
stop_pid "$tpid"
counts "access checks by nobody=$tries refused=$tries; sockets and dirs checked"
