#!/usr/bin/env bash
# The base: a fresh 10 GiB base passes e2fsck -fn, costs under 200 MiB of host disk, and holds
# an empty rootfs/ owned 0:0 with mode 0755 (checked on a read-only loop mount of its data).
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires e2fsck mount losetup
scratch
H=$T/home

"$BUSE" layer create a --home "$H" || fail "create a layer (and the store)"
base=$(lpy -c 'import json,sys; print(json.load(open(sys.argv[1]))["base"])' "$H/store.json")
data=$H/diffs/$base/data
[ -f "$data" ] || fail "no base data file"
assert_eq "$(stat -c %s "$data")" $((10 << 30)) "base virtual size"
e2fsck -fn "$data" >"$T/fsck.log" 2>&1 || { cat "$T/fsck.log"; fail "e2fsck -fn on the base"; }
ok "e2fsck -fn clean"
kib=$(du -k -s "$H/diffs/$base" | cut -f1)
echo "base of a 10 GiB layer uses $((kib / 1024)) MiB ($kib KiB) on the host"
[ "$kib" -lt $((200 * 1024)) ] || fail "base uses $kib KiB, want < 200 MiB"
ok "base under 200 MiB"

requires_root
[ -e /dev/loop-control ] || skip "no loop devices"
mkdir "$T/mnt"
mount -o ro,loop,noload -t ext4 "$data" "$T/mnt" || skip "cannot loop-mount here"
cleanup_fn "umount '$T/mnt' 2>/dev/null"
assert_eq "$(stat -c '%a %u %g' "$T/mnt/rootfs")" "755 0 0" "rootfs/ mode and owner"
assert_eq "$(ls -A "$T/mnt/rootfs" | wc -l)" 0 "entries in rootfs/"
umount "$T/mnt"
