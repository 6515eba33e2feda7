#!/usr/bin/env bash
# fuse mode makes its loop device with the loop ioctls, not losetup: with a losetup in PATH
# that only fails, attach still works; the device uses direct I/O over the record's
# fuse/disk, the record names it, and detach leaves no loop device, mount or nbdfuse.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_fuse
requires mkfs.ext4
scratch
make_image "$T/img" 64M
mkdir "$T/bin" "$T/mnt"
cat >"$T/bin/losetup" <<'EOS'
#!/bin/sh
echo "losetup must not be run" >&2
exit 1
EOS
chmod +x "$T/bin/losetup"
PATH=$T/bin:$PATH attach_bg a --file "$T/img" --state "$T/state" --mode fuse --mount "$T/mnt" io1
dev=$(attach_wait a)
case $dev in /dev/loop*) ok "attached as $dev without losetup" ;; *) fail "device '$dev'" ;; esac
sys=/sys/block/${dev#/dev/}/loop
rec=$(ls -d "$T"/state/io1.*)
assert_eq "$(cat "$sys/backing_file")" "$(realpath "$rec")/fuse/disk" "backing file"
assert_eq "$(cat "$sys/dio")" 1 "direct I/O"
assert_eq "$(cat "$rec/loop")" "$dev" "device in the record"
echo data >"$T/mnt/f" && sync -f "$T/mnt" || fail "write through $dev"
stop_pid "$ATTACH_PID"
wait "$ATTACH_PID" 2>/dev/null || true
leftovers "$T" || fail "leftovers after detach"
ok "nothing left behind"
