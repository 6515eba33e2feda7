#!/usr/bin/env bash
# Removing every container, image and build cache brings buse's home back to its disk use
# right after Init (within 4 MiB): no diff, map or metadata is leaked by rm/rmi, and no mount
# or loop device stays behind.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/buildlib.sh"
requires setfattr du losetup
docker_setup
du_home() { du -s --block-size=1M "$BUSE_HOME" | cut -f1; }
base=$(du_home)
entries=$(find "$BUSE_HOME" | wc -l)
echo "baseline: $base MiB, $entries entries in $BUSE_HOME"
make_busybox_image bb
make_build_context "$T/ctx"
DOCKER_BUILDKIT=0 docker build -q -t built "$T/ctx" >/dev/null
DOCKER_BUILDKIT=1 docker build --network none -q -t built2 "$T/ctx" >/dev/null
docker run --name c1 --network none built sh -c 'rm /big; dd if=/dev/zero of=/z bs=1M count=20'
docker commit c1 committed >/dev/null
docker run -d --name c2 --network none committed sleep 600 >/dev/null
echo "in use: $(du_home) MiB"
docker rm -f c1 c2 >/dev/null
docker rmi -f built built2 committed bb >/dev/null
docker builder prune -af >/dev/null
assert_eq "$(docker images -aq | wc -l)" 0 "images left"
after=$(du_home)
echo "after rm/rmi: $after MiB, $(find "$BUSE_HOME" | wc -l) entries"
[ $((after - base)) -le 4 ] && [ $((base - after)) -le 4 ] ||
  { find "$BUSE_HOME" -type f | head -n 40; fail "home uses $after MiB, baseline $base MiB"; }
ok "disk use back to baseline ($base -> $after MiB)"
assert_eq "$(mounts_under "$BUSE_HOME")" "" "mounts under buse home"
assert_eq "$(losetup -l -n -O BACK-FILE | grep -c "$T" || true)" 0 "loop devices on files under $T"
