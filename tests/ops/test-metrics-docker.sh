#!/usr/bin/env bash
# `buse serve --metrics HOST:PORT` under dockerd 20.10: /metrics shows the layers and mounts,
# and the write counters and bytes of a container's layer grow after the container writes.
source "$(dirname "$0")/../docker/lib.sh"
"$BUSE" serve --help | grep -q -- '--metrics' || skip "buse serve has no --metrics yet (metrics.c not wired into cli/serve.c)"
requires curl python3
docker_requires
docker_scratch
cleanup_fn '[ $rc -eq 0 ] || [ $rc -eq 77 ] || show_logs'
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_buse_daemon --metrics "127.0.0.1:$mport"
start_dockerd d1 "$BUSE_DRIVER"
make_busybox_image bb
m() { curl -sf "http://127.0.0.1:$mport/metrics"; }
# sum of a counter over every export: sum NAME OP FILE
sum() { awk -v n="$1" -v o="op=\"$2\"" 'index($1, n "{") == 1 && index($1, o) { s += $2 } END { print s + 0 }' "$3"; }

docker run -d --name c1 --network none bb sh -c 'sleep 300' >/dev/null || fail "docker run"
wait_for docker exec c1 true
m >"$T/m0" || fail "curl /metrics"
grep -q '^buse_mounts [1-9]' "$T/m0" || { grep '^buse_' "$T/m0" | head; fail "no mounts gauge"; }
grep -q '^buse_layers [1-9]' "$T/m0" || fail "no layers gauge"
w0=$(sum buse_nbd_bytes_total write "$T/m0")
docker exec c1 dd if=/dev/urandom of=/big bs=1M count=8 conv=fsync 2>/dev/null || fail "write in the container"
m >"$T/m1"
w1=$(sum buse_nbd_bytes_total write "$T/m1")
[ "$w1" -ge $((w0 + (8 << 20))) ] || fail "write bytes grew from $w0 to $w1 only"
n0=$(sum buse_nbd_requests_total write "$T/m0") n1=$(sum buse_nbd_requests_total write "$T/m1")
[ "$n1" -gt "$n0" ] || fail "write requests did not grow ($n0 -> $n1)"
ok "after the container wrote 8 MiB: write bytes $w0 -> $w1, requests $n0 -> $n1"
docker rm -f c1 >/dev/null
