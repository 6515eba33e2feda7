#!/usr/bin/env bash
# `docker build` with BuildKit (--network none: the test dockerd has no bridge) on buse: the
# same Dockerfile as test-build-classic, the same checks.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/buildlib.sh"
requires setfattr python3
docker_setup
make_busybox_image bb
make_build_context "$T/ctx"
DOCKER_BUILDKIT=1 docker build --network none --progress plain -t built "$T/ctx" \
  >"$T/build.out" 2>&1 || { tail -n 30 "$T/build.out"; fail "BuildKit docker build"; }
ok "BuildKit build"
check_built_image built
