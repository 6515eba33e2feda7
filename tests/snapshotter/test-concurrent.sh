#!/usr/bin/env bash
# Calls in parallel (containerd unpacks layers and starts containers concurrently): eight
# clients each make a chain prepare -> commit -> child -> commit and remove it again, while
# another lists; every call succeeds, the records are consistent, nothing is left.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_snap
scratch
start_snap

worker() {
  local w=$1 i out
  for i in 1 2 3; do
    for step in "Prepare $($PB prepare "w$w/a$i")" "Commit $($PB commit "w$w/c$i" "w$w/a$i")" \
      "Prepare $($PB prepare "w$w/b$i" "w$w/c$i")" "Commit $($PB commit "w$w/d$i" "w$w/b$i")" \
      "Remove $($PB key "w$w/d$i")" "Remove $($PB key "w$w/c$i")"; do
      out=$(snapcall $step)
      [ "$(status_of "$out")" = 0 ] || { echo "worker $w: ${step%% *}: $out"; return 1; }
    done
  done
}
lister() {
  local n=0
  while [ ! -e "$T/done" ]; do
    [ "$(status_of "$(snapcall List "")")" = 0 ] || { echo "list failed"; return 1; }
    n=$((n + 1))
  done
  echo "$n lists"
}
lister >"$T/lister.out" 2>&1 &
lpid=$!
pids=()
for w in 1 2 3 4 5 6 7 8; do worker "$w" >"$T/w$w.out" 2>&1 & pids+=($!); done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
touch "$T/done"
wait "$lpid" || rc=1
cat "$T"/w*.out "$T/lister.out"
[ "$rc" = 0 ] || fail "a parallel call failed"
ok "8 parallel clients x 18 calls, lists meanwhile: $(cat "$T/lister.out")"
expect_status 0 List "" "list at the end"
assert_eq "$(printf '%s\n' "$LAST" | grep -c '^msg ')" 0 "no snapshot left"
expect_status 0 Cleanup "" "cleanup"
assert_eq "$(ls "$T/home/layers" | wc -l)" 0 "no layer left"
stop_snap_pid "$SNAP_PID"
ok "stopped cleanly"
