#!/usr/bin/env bash
# After removing every container, image and build cache on the buse dockerd, containerd's
# garbage collector removes every snapshot it no longer knows (List, Remove leaves first,
# Cleanup), and buse's home comes back to its disk use at start (within 4 MiB): nothing
# leaked, no mount or loop device left under it.  The overlayfs dockerd does the same work;
# its snapshot folder must empty too (the reference for what containerd removes).
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/docker/buildlib.sh"
requires setfattr du losetup
d28_setup buse
du_mib() { du -s --block-size=1M "$1" | cut -f1; }
ovl=$C28_ROOT/io.containerd.snapshotter.v1.overlayfs/snapshots
base=$(du_mib "$BU_HOME")
echo "baseline: $base MiB in $BU_HOME ($(find "$BU_HOME" | wc -l) entries)"
busybox_import bb ref bu
make_build_context "$T/ctx"
for n in bu ref; do
  use_dockerd "$n"
  DOCKER_BUILDKIT=0 docker build -q -t built "$T/ctx" >/dev/null || fail "legacy build on $n"
  DOCKER_BUILDKIT=1 docker build --network none -q -t built2 "$T/ctx" >/dev/null ||
    fail "BuildKit build on $n"
  docker run --name c1 --network none built sh -c 'rm /big; dd if=/dev/zero of=/z bs=1M count=20 2>/dev/null'
  docker commit c1 committed >/dev/null
  docker run -d --name c2 --network none committed sleep 600 >/dev/null
done
use_dockerd ref
echo "in use: $(du_mib "$BU_HOME") MiB in $BU_HOME, $(du_mib "$ovl") MiB of overlayfs snapshots"
for n in bu ref; do
  dk "$n" rm -f c1 c2 >/dev/null
  dk "$n" rmi -f built built2 committed bb >/dev/null
  dk "$n" builder prune -af >/dev/null
  assert_eq "$(dk "$n" images -aq | wc -l)" 0 "images left on $n"
done
# containerd collects garbage in the background: wait up to 30 s for it.
snaps() { ctr28 -n "$1" snapshots --snapshotter "$2" ls | tail -n +2 | wc -l; }
for ((i = 0; i < 60; i++)); do
  [ "$(snaps bu "${D28_BU_DRIVER:-buse}")" -eq 0 ] && [ "$(snaps ref overlayfs)" -eq 0 ] && break
  sleep 0.5
done
assert_eq "$(snaps ref overlayfs)" 0 "overlayfs snapshots left in namespace ref"
assert_eq "$(snaps bu "${D28_BU_DRIVER:-buse}")" 0 "snapshots left in namespace bu"
assert_eq "$(find "$ovl" -mindepth 1 -maxdepth 1 | wc -l)" 0 "overlayfs snapshot folders left"
for ((i = 0; i < 60; i++)); do
  after=$(du_mib "$BU_HOME")
  [ $((after - base)) -le 4 ] && break
  sleep 0.5
done
echo "after rm/rmi/prune: $after MiB, $(find "$BU_HOME" | wc -l) entries"
[ $((after - base)) -le 4 ] && [ $((base - after)) -le 4 ] ||
  { find "$BU_HOME" -type f | head -n 40; fail "$BU_HOME uses $after MiB, baseline $base MiB"; }
ok "disk use back to baseline ($base -> $after MiB)"
assert_eq "$(mounts_under "$BU_HOME")" "" "mounts under $BU_HOME"
assert_eq "$(loops_under "$T")" "" "loop devices on files under $T"
