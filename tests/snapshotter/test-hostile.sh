#!/usr/bin/env bash
# Hostile input on the snapshotter socket: raw garbage (not HTTP/2, and HTTP/2 then junk),
# truncated, malformed and oversized messages, unknown methods, hostile keys (.., NUL, bad
# UTF-8, huge).  Each gets a clear status, the daemon stays up, nothing is written outside
# its home.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_snap
scratch
start_snap
outside() { find "$T" -path "$T/home" -prune -o -path "$T/snap.log" -prune -o -print | sort; }
ls -la /tmp >"$T/tmp.before"
before=$(outside)

# Raw bytes, no gRPC at all: the connection is dropped, the server lives on.
python3 - "$T/snap.sock" <<'PY'
import os, socket, sys
junk = [os.urandom(4096), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(2048),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x04\x00\x00\x00\x00\x00\x01" + b"\xff" * 64,
        b"", b"PRI * HTTP/2.0\r\n"]
for j in junk:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(j)
    s.settimeout(2)
    try:
        s.recv(65536)
    except OSError:
        pass
    s.close()
print("sent %d junk connections" % len(junk))
PY
expect_status 0 List "" "alive after raw junk"

# Unknown methods.
expect_status 12 Nope "$($PB key x)" "unknown method of the service"
out=$(ASAN_OPTIONS=detect_leaks=0 "$SNAPCALL" "$T/snap.sock" /x.Y/Z "")
assert_eq "$(status_of "$out")" 12 "unknown service"

# Malformed and truncated messages.
expect_status 3 Prepare ffffffff "garbage bytes"
expect_status 3 Prepare 10ff "a varint where a string goes"
expect_status 3 Prepare none "no message at all"
msg=$($PB prepare 'default/1/a-long-enough-key sha256:0123' a=b)
for cut in 3 6 10 20 30; do
  expect_status 3 Prepare "${msg:0:$((cut * 2))}" "truncated to $cut bytes"
done
expect_status 3 Update "1203$(printf 'ff%.0s' 1 2 3)" "Update with a broken nested Info"
expect_status 3 Commit "$($PB commit a 'hex:ff')" "a key that is not UTF-8"
expect_status 3 Prepare "$($PB prepare 'hex:6b00657a')" "a key with a NUL byte"
expect_status 3 Prepare "$($PB prepare k 'hex:00')" "a parent with a NUL byte"
expect_status 3 Prepare "$($PB prepare k2 'hex:613d62' 'hex:6c00=1')" "a label key with a NUL byte"
expect_status 3 Prepare "$($PB prepare "$(head -c 5000 /dev/zero | tr '\0' k)")" "a 5000-byte key"
expect_status 3 Prepare "$($PB prepare k3 "l=$(head -c 5000 /dev/zero | tr '\0' v)")" "a 5000-byte label"
expect_status 8 Prepare "zeros:5000000" "a 5 MB message"
expect_status 0 List "" "alive after bad messages"
assert_eq "$(ls "$T/home/snapshots" | wc -l)" 0 "no record from any of them"

# Keys that look like paths are opaque names: they work and write nothing outside home.
for k in "../../../../tmp/buse-escape-$$" "/etc/passwd" ".." "a/../../b c" "snap-x.json"; do
  expect_status 0 Prepare "$($PB prepare "$k")" "prepare key '$k'"
  src=$(printf '%s\n' "$LAST" | $PB decode mounts | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["source"])')
  case $src in "$T/home/mnt/snap-"*/rootfs) ;; *) fail "mount of '$k' at $src" ;; esac
  expect_status 0 Commit "$($PB commit "$k/c" "$k")" "commit key '$k'"
  expect_status 0 Stat "$($PB key "$k/c")" "stat '$k/c'"
done
[ ! -e "/tmp/buse-escape-$$" ] || fail "/tmp/buse-escape-$$ was created"
expect_status 0 List "" "list"
assert_eq "$(printf '%s\n' "$LAST" | $PB decode list | python3 -c 'import json,sys; print(sum(len(json.loads(l)) for l in sys.stdin))')" 5 "five snapshots"
assert_eq "$(outside)" "$before" "nothing written outside the home"
ls -la /tmp | diff - "$T/tmp.before" | grep -q buse-escape && fail "something escaped into /tmp"
kill -0 "$SNAP_PID" || fail "the snapshotter died"
stop_snap_pid "$SNAP_PID"
ok "stopped cleanly"
