#!/usr/bin/env bash
# ext4 through the whole stack: a layer served over NBD and exposed with nbdfuse passes
# e2fsck -fn and shows rootfs/ (0755, 0:0); files written through a loop mount of it survive
# a snapshot: the child has them, both filesystems stay clean, the child's changes stay its own.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_fuse
requires e2fsck debugfs fusermount3
scratch
H=$T/home
mkdir "$T/fuse" "$T/mnt"

# fuse_up ID: the layer as the file $T/fuse/disk
# (nbdfuse stays in the foreground; the pid file appears once the file is ready)
fuse_up() {
  rm -f "$T/fuse.pid"
  nbdfuse -C 1 -P "$T/fuse.pid" "$T/fuse/disk" "$(luri "$1")" &
  FUSE_PID=$!
  wait_for test -s "$T/fuse.pid"
}
fuse_down() {
  [ -n "${FUSE_PID:-}" ] || return 0
  fusermount3 -u "$T/fuse" 2>/dev/null || true
  stop_pid "$FUSE_PID" || true # nbdfuse dies of the TERM: wait says 143
  FUSE_PID=
}
cleanup_fn "umount '$T/mnt' 2>/dev/null; fuse_down"

"$BUSE" layer create a --home "$H" --base-size 256M || fail "create a"
lnbd_start "$H"
fuse_up a
e2fsck -fn "$T/fuse/disk" >"$T/fsck" 2>&1 || { cat "$T/fsck"; fail "e2fsck of a fresh layer"; }
debugfs -R 'stat /rootfs' "$T/fuse/disk" 2>/dev/null | grep -q 'Mode:  0755' || fail "rootfs/ mode"
ok "fresh layer: e2fsck clean, rootfs/ 0755"

mount -o loop "$T/fuse/disk" "$T/mnt" || skip "cannot loop-mount the nbdfuse file"
cp -a "$TOP/layers" "$T/mnt/rootfs/src"
dd if=/dev/urandom of="$T/mnt/rootfs/blob" bs=1M count=8 status=none
sum=$(cd "$T/mnt/rootfs" && find . -type f -print0 | sort -z | xargs -0 md5sum)
umount "$T/mnt"
e2fsck -fn "$T/fuse/disk" >"$T/fsck" 2>&1 || { cat "$T/fsck"; fail "e2fsck after writes"; }
fuse_down
lnbd_stop

"$BUSE" layer create b --parent a --home "$H" || fail "snapshot a -> b"
lnbd_start "$H"
fuse_up b
mount -o loop "$T/fuse/disk" "$T/mnt" || fail "mount b"
assert_eq "$(cd "$T/mnt/rootfs" && find . -type f -print0 | sort -z | xargs -0 md5sum)" "$sum" "files in the child"
rm -rf "$T/mnt/rootfs/src"
echo child >"$T/mnt/rootfs/new"
umount "$T/mnt"
e2fsck -fn "$T/fuse/disk" >"$T/fsck" 2>&1 || { cat "$T/fsck"; fail "e2fsck of the child"; }
fuse_down
fuse_up a
e2fsck -fn "$T/fuse/disk" >"$T/fsck" 2>&1 || { cat "$T/fsck"; fail "e2fsck of the parent"; }
debugfs -R 'ls /rootfs' "$T/fuse/disk" 2>/dev/null | grep -q src || fail "the child's delete reached the parent"
! debugfs -R 'ls /rootfs' "$T/fuse/disk" 2>/dev/null | grep -q new || fail "the child's file is in the parent"
ok "parent unchanged by its child"
fuse_down
