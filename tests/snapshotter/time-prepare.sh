#!/usr/bin/env bash
# time-prepare.sh [GIB...] (N=calls per size, default 20): the latency of Prepare of a child of a committed snapshot whose
# layer holds GIB GiB of data (default: 1 10), median and range of 20 calls (the sizes alternating), as the
# snapshotter's client sees it (snapcall's SNAPCALL_TIME: the call alone, no process
# start-up).  Not a test (a timing, never an assertion): run it by hand as root after
# `make`; BUSE=PATH times another build.  The store is made with a 12 GiB base so that
# 10 GiB of files fit.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_snap
scratch
"$BUSE" layer create probe --home "$T/home" --base-size 12G >/dev/null
"$BUSE" layer rm probe --home "$T/home" >/dev/null
start_snap --lazy all # a plain key is deferred as dockerd's container layers are

# mounts_of KEY: the source Mounts returns
mounts_of() {
  expect_status 0 Mounts "$($PB key "$1")" "mounts $1" >/dev/null
  printf '%s\n' "$LAST" | $PB decode mounts | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["source"])'
}

median() { sort -n | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "median %.2f ms (min %.2f, max %.2f, n %d)\n", m, v[1], v[NR], NR}'; }

[ $# -gt 0 ] || set -- 1 10
for gib in "$@"; do
  expect_status 0 Prepare "$($PB prepare "fill-$gib")" "prepare fill-$gib" >/dev/null
  src=$(mounts_of "fill-$gib")
  # 1 GiB files of random bytes (one made, copied: urandom is slow), flushed
  head -c 1G /dev/urandom >"$src/f0"
  for ((i = 1; i < gib; i++)); do cp "$src/f0" "$src/f$i"; done
  sync -f "$src/f0"
  expect_status 0 Commit "$($PB commit "big-$gib" "fill-$gib")" "commit big-$gib" >/dev/null
  expect_status 0 Usage "$($PB key "big-$gib")" "usage" >/dev/null
  echo "big-$gib: $(du -sh "$T/home/diffs" | cut -f1) of diffs so far"
done
sync
sleep 10 # the host's writeback of the fills done
# The sizes alternate (ABAB), so a disturbance of the shared machine hits them alike.
for i in $(seq ${N:-20}); do
  for gib in "$@"; do
    out=$(SNAPCALL_TIME=1 snapcall Prepare "$($PB prepare "child-$gib-$i" "big-$gib")")
    [ "$(status_of "$out")" = 0 ] || fail "prepare child-$gib-$i: $out"
    printf '%s\n' "$out" | sed -n 's/^time_ms //p' >>"$T/times-$gib"
    expect_status 0 Remove "$($PB key "child-$gib-$i")" "remove" >/dev/null
  done
done
for gib in "$@"; do
  echo "Prepare of a child of a $gib GiB committed snapshot: $(median <"$T/times-$gib")"
done
stop_snap_pid "$SNAP_PID"
