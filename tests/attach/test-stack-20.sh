#!/usr/bin/env bash
# 20 stacks attached and mounted at once (one buse attach, fuse mode), each written to, then
# all detached: no loop device, FUSE mount or nbdfuse process is left, every filesystem clean.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_fuse
requires e2fsck
scratch
H=$T/home
"$BUSE" layer create --home "$H" --base-size 512M img || fail "layer create img"
ids=()
for i in $(seq 1 20); do
  "$BUSE" layer create --home "$H" --parent img "c$i" || fail "layer create c$i"
  ids+=("c$i")
done
mkdir "$T/m"
start=$SECONDS
attach_bg a --home "$H" --mode fuse --mount "$T/m" "${ids[@]}"
attach_wait a >/dev/null
for ((j = 0; j < 100; j++)); do [ "$(wc -l <"$T/a.out")" -eq 20 ] && break; sleep 0.1; done
assert_eq "$(sort -u "$T/a.out" | grep -c '^/dev/loop')" 20 "distinct loop devices"
ok "20 attached and mounted in $((SECONDS - start)) s"
for i in $(seq 1 20); do
  head -c 1M /dev/urandom >"$T/m/c$i/rootfs/f" && echo "c$i" >"$T/m/c$i/rootfs/id"
done
for i in $(seq 1 20); do sync -f "$T/m/c$i/rootfs"; done
for i in $(seq 1 20); do
  assert_eq "$(cat "$T/m/c$i/rootfs/id")" "c$i" "c$i sees its own file" >/dev/null
done
ok "each stack holds its own files"
assert_eq "$(grep -c " $T/m/c" /proc/self/mountinfo)" 20 "ext4 mounts"
stop_pid "$ATTACH_PID"
wait "$ATTACH_PID" || fail "buse attach exited with an error: $(cat "$T/a.err")"
leftovers "$T" || fail "leftovers after detaching 20 stacks"
ok "no loop device, FUSE mount or nbdfuse left"
assert_eq "$(ls -A "$H/kdev")" "" "records left"
attach_bg fsck --home "$H" --mode fuse --ro c1 c20
attach_wait fsck >/dev/null
for ((j = 0; j < 100; j++)); do [ "$(wc -l <"$T/fsck.out")" -eq 2 ] && break; sleep 0.1; done
while read -r dev; do e2fsck -fn "$dev" >/dev/null 2>&1 || fail "e2fsck -fn $dev"; done <"$T/fsck.out"
ok "e2fsck -fn clean on c1 and c20"
