#!/usr/bin/env bash
# `docker build` with the classic builder on buse: COPY (with --chown, with a capability
# xattr), overwrite and delete image files, chmod/chown, hard and symbolic links, a 100 MiB
# file, a replaced directory; a container of the image sees all of it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/buildlib.sh"
requires setfattr python3
docker_setup
make_busybox_image bb
make_build_context "$T/ctx"
DOCKER_BUILDKIT=0 docker build -q -t built "$T/ctx" >"$T/build.out" 2>&1 ||
  { cat "$T/build.out"; fail "classic docker build"; }
ok "classic build"
check_built_image built
assert_eq "$(docker history -q built | wc -l)" 11 "image history entries"
