#!/usr/bin/env bash
# Push an image built on buse to a local registry (127.0.0.1 only), remove it, pull it back
# and run it: Diff/Get produce layers the registry accepts, ApplyDiff rebuilds them.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/buildlib.sh"
requires setfattr python3 docker-registry
docker_setup
start_registry
make_busybox_image bb
make_build_context "$T/ctx"
DOCKER_BUILDKIT=0 docker build -q -t "$REGISTRY/buse/built:v1" "$T/ctx" >"$T/build.out" 2>&1 ||
  { cat "$T/build.out"; fail "build"; }
layers_before=$(docker image inspect -f '{{.RootFS.Layers}}' "$REGISTRY/buse/built:v1")
docker push "$REGISTRY/buse/built:v1" >"$T/push.out" 2>&1 || { cat "$T/push.out"; fail "push"; }
ok "push to $REGISTRY"
curl -sf "http://$REGISTRY/v2/buse/built/tags/list" | grep -q '"v1"' || fail "registry has no tag v1"
docker rmi "$REGISTRY/buse/built:v1" bb >/dev/null
assert_eq "$(docker images -q | wc -l)" 0 "images after rmi"
docker pull "$REGISTRY/buse/built:v1" >"$T/pull.out" 2>&1 || { cat "$T/pull.out"; fail "pull"; }
ok "pull from $REGISTRY"
assert_eq "$(docker image inspect -f '{{.RootFS.Layers}}' "$REGISTRY/buse/built:v1")" \
  "$layers_before" "diff ids after the round trip"
check_built_image "$REGISTRY/buse/built:v1"
