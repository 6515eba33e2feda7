#!/usr/bin/env bash
# Metrics (metrics.c, through the ops-serve harness): /metrics is Prometheus text; writes and
# reads through a counting export raise its counters, bytes and the latency histogram; remote
# export reads are counted too; gauges show the layers.
source "$(dirname "$0")/lib.sh"
requires nbdcopy curl
scratch
H=$T/home
scan_store "$H"
port=$(free_port) mport=$(free_port)
ops_serve_start "$H" "tcp://127.0.0.1:$port" "127.0.0.1:$mport"
m() { curl -sf "http://127.0.0.1:$mport/metrics"; }
val() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

m >"$T/m0" || fail "curl /metrics"
grep -q '^# TYPE buse_nbd_requests_total counter' "$T/m0" || fail "no requests counter"
assert_eq "$(val buse_layers "$T/m0")" 2 "buse_layers gauge"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/nope")" = 404 ] || fail "404"

head -c 4M /dev/urandom | nbdcopy - "nbd+unix:///l2?socket=$T/sock" || fail "write into l2"
m >"$T/m1"
w='buse_nbd_requests_total{export="l2",op="write"}'
b='buse_nbd_bytes_total{export="l2",op="write"}'
[ "$(val "$w" "$T/m1")" -gt 0 ] || fail "write count did not grow: $(grep l2 "$T/m1")"
[ "$(val "$b" "$T/m1")" -ge $((4 << 20)) ] || fail "write bytes: $(val "$b" "$T/m1")"
ok "after a 4 MiB write: $(val "$w" "$T/m1") writes, $(val "$b" "$T/m1") bytes"
c='buse_nbd_request_duration_seconds_count{op="write"}'
[ "$(val "$c" "$T/m1")" -ge "$(val "$w" "$T/m1")" ] || fail "histogram count"
inf='buse_nbd_request_duration_seconds_bucket{op="write",le="+Inf"}'
assert_eq "$(val "$inf" "$T/m1")" "$(val "$c" "$T/m1")" "histogram +Inf bucket = count"

head -c 1M /dev/urandom | nbdcopy - "nbd+unix:///l2?socket=$T/sock" || fail "second write"
m >"$T/m2"
[ "$(val "$b" "$T/m2")" -gt "$(val "$b" "$T/m1")" ] || fail "bytes did not grow"
nbdcopy "nbd://127.0.0.1:$port/l1" "$T/l1.img" || fail "remote read"
m >"$T/m3"
r='buse_nbd_bytes_total{export="l1",op="read"}'
[ "$(val "$r" "$T/m3")" -gt 0 ] || fail "remote export reads not counted"
ok "counters grow; remote reads counted ($(val "$r" "$T/m3") bytes)"
