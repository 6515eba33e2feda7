#!/usr/bin/env bash
# Calls in parallel (containerd unpacks layers and starts containers concurrently): eight
# clients each make a chain prepare -> mounts -> commit -> child -> commit (that one never
# mounted) and remove it again, while another lists; every call succeeds, the records are
# consistent, nothing is left.  Then parallel Mounts of one never-mounted snapshot (the
# first one mounts it lazily): one path, one mount.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_snap
scratch
start_snap --lazy all

worker() {
  local w=$1 i out
  for i in 1 2 3; do
    for step in "Prepare $($PB prepare "w$w/a$i")" "Mounts $($PB key "w$w/a$i")" "Commit $($PB commit "w$w/c$i" "w$w/a$i")" \
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
ok "8 parallel clients x 21 calls, lists meanwhile: $(cat "$T/lister.out")"
expect_status 0 Prepare "$($PB prepare race)" "prepare race"
src=$(source_of "$LAST")
assert_unmounted "$src" "race after prepare"
pids=()
for w in 1 2 3 4 5 6; do snapcall Mounts "$($PB key race)" >"$T/m$w.out" 2>&1 & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || fail "a parallel Mounts failed"; done
for w in 1 2 3 4 5 6; do
  [ "$(status_of "$(cat "$T/m$w.out")")" = 0 ] || fail "Mounts $w: $(cat "$T/m$w.out")"
  assert_eq "$(source_of "$(cat "$T/m$w.out")")" "$src" "parallel Mounts $w: the path"
done
assert_eq "$(grep -c " ${src%/rootfs}/" /proc/mounts)" 2 "one mount (fs and its rootfs bind) after 6 parallel Mounts"
assert_eq "$(grep -c "layer $(basename "${src%/rootfs}") attached" "$T/snap.log")" 1 "one device attached"
expect_status 0 Remove "$($PB key race)" "remove race"
expect_status 0 List "" "list at the end"
assert_eq "$(printf '%s\n' "$LAST" | grep -c '^msg ')" 0 "no snapshot left"
expect_status 0 Cleanup "" "cleanup"
assert_eq "$(ls "$T/home/layers" | wc -l)" 0 "no layer left"
stop_snap_pid "$SNAP_PID"
ok "stopped cleanly"
