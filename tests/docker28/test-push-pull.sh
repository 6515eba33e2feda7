#!/usr/bin/env bash
# Push and pull through a local registry (Debian's docker-registry on 127.0.0.1, a config of
# this test's own): an image built on buse is pushed, pulled back into buse and into overlayfs
# with the same diff ids and content; an image pushed from overlayfs is pulled into buse.
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/docker/buildlib.sh"
requires setfattr docker-registry
d28_setup buse
start_registry
busybox_import bb ref bu
make_build_context "$T/ctx"
img=$REGISTRY/buse/built:v1
use_dockerd bu
DOCKER_BUILDKIT=0 docker build -q -t "$img" "$T/ctx" >"$T/build.out" 2>&1 ||
  { cat "$T/build.out"; fail "build on bu"; }
layers=$(dk bu image inspect -f '{{.RootFS.Layers}}' "$img")
dk bu push "$img" >"$T/push.out" 2>&1 || { cat "$T/push.out"; fail "push from bu"; }
ok "push from bu to $REGISTRY"
curl -sf "http://$REGISTRY/v2/buse/built/tags/list" | grep -F '"v1"' >/dev/null || fail "registry has no tag v1"
dk bu rmi "$img" >/dev/null
for n in bu ref; do
  dk "$n" pull "$img" >"$T/pull-$n.out" 2>&1 || { cat "$T/pull-$n.out"; fail "pull into $n"; }
  assert_eq "$(dk "$n" image inspect -f '{{.RootFS.Layers}}' "$img")" "$layers" "diff ids pulled into $n"
done
check_built_image "$img"
D28_CMP_DIFFIDS=1 compare_saved "$img"

# overlayfs -> registry -> buse.
img2=$REGISTRY/buse/ref:v1
dk ref run --name c1 --network none "$img" sh -c 'rm /big; echo from-ref >/etc/motd; mkfifo /p' ||
  fail "run on ref"
dk ref commit c1 "$img2" >/dev/null
dk ref push "$img2" >"$T/push2.out" 2>&1 || { cat "$T/push2.out"; fail "push from ref"; }
dk bu pull "$img2" >"$T/pull2.out" 2>&1 || { cat "$T/pull2.out"; fail "pull into bu"; }
D28_CMP_DIFFIDS=1 compare_saved "$img2"
assert_eq "$(run_out bu "$img2" 'cat /etc/motd; stat -c %F /p; ls /big 2>&1')" \
  "from-ref
fifo
ls: /big: No such file or directory" "image from overlayfs run on bu"
dk ref rm c1 >/dev/null
