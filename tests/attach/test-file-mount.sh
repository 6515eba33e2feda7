#!/usr/bin/env bash
# fuse mode on a plain file: attach, mount, write, unmount/detach on SIGTERM; the filesystem
# is clean afterwards, the data is in the file, and nothing is left behind.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_fuse
requires mkfs.ext4 e2fsck
scratch
make_image "$T/img" 256M
mkdir "$T/mnt"
attach_bg a --file "$T/img" --state "$T/state" --mode fuse --mount "$T/mnt" img1
dev=$(attach_wait a)
case $dev in /dev/loop*) ok "attached as $dev" ;; *) fail "device '$dev'" ;; esac
mountpoint -q "$T/mnt" || fail "not mounted"
dd if=/dev/urandom of="$T/mnt/data" bs=1M count=20 status=none conv=fsync
sum=$(md5sum <"$T/mnt/data")
mkdir -p "$T/mnt/d/e" && echo hello >"$T/mnt/d/e/f"
stop_pid "$ATTACH_PID"
wait "$ATTACH_PID" 2>/dev/null || true
leftovers "$T" || fail "leftovers after detach"
ok "nothing left behind"
e2fsck -fn "$T/img" >/dev/null || fail "e2fsck after detach"
ok "e2fsck -fn clean"
assert_eq "$(debugfs -R 'cat /d/e/f' "$T/img" 2>/dev/null)" hello "file content in the image"
assert_eq "$(debugfs -R 'cat /data' "$T/img" 2>/dev/null | md5sum)" "$sum" "20 MiB file checksum"
