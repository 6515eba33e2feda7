#!/usr/bin/env bash
# The data path of this machine (no kernel NBD): buse nbd serving a file -> nbdfuse (4
# connections) -> losetup --direct-io=on -> mkfs.ext4 -> mount -> 100 MiB of files -> umount
# -> e2fsck -fn clean -> remount and verify every byte.  Teardown leaves no loop device, FUSE
# mount or process behind (checked).
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_fuse
requires mkfs.ext4 e2fsck fusermount3
scratch
truncate -s 1G "$T/disk.img"
mkdir -p "$T/fuse" "$T/mnt" "$T/ref"
nbd_start d=$T/disk.img
nbdfuse "$T/fuse/disk" "$(nbd_uri d)" >>"$T/nbdfuse.log" 2>&1 & # stays in the foreground
fpid=$!
cleanup_fn "fusermount3 -u '$T/fuse' 2>/dev/null; stop_pid $fpid"
wait_for test -f "$T/fuse/disk"
loop=$(losetup --find --show --direct-io=on "$T/fuse/disk")
cleanup_fn "losetup -d $loop 2>/dev/null"
ok "attached $loop"
mkfs.ext4 -q -F "$loop"
mount "$loop" "$T/mnt"
cleanup_fn "umount '$T/mnt' 2>/dev/null"
for i in $(seq 1 100); do
  head -c 1M /dev/urandom >"$T/ref/f$i"
done
mkdir -p "$T/ref/dir/sub" && echo hello >"$T/ref/dir/sub/small"
cp -a "$T/ref" "$T/mnt/ref"
sync -f "$T/mnt"
umount "$T/mnt"
e2fsck -fn "$loop" || fail "e2fsck found problems"
ok "e2fsck -fn clean"
mount "$loop" "$T/mnt"
diff -r "$T/ref" "$T/mnt/ref" || fail "files differ after remount"
ok "100 MiB of files verified after remount"
umount "$T/mnt"
losetup -d "$loop"
# The loop device goes away once nobody holds it open (udev may still be probing it).
wait_for sh -c "! losetup -j '$T/fuse/disk' | grep -q ."
wait_for fusermount3 -u "$T/fuse"
for ((i = 0; i < 100; i++)); do kill -0 "$fpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$fpid" 2>/dev/null && fail "nbdfuse still running"
stop_pid "$BUSE_PID"
losetup -a | grep -q "$T" && fail "loop device left"
grep -q "$T" /proc/mounts && fail "mount left"
kill -0 "$BUSE_PID" 2>/dev/null && fail "buse still running"
ok "no loop device, mount or process left"
