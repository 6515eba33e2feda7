#!/usr/bin/env bash
# buse as a Docker managed plugin with dockerd 20.10: `make plugin` builds the bundle
# (config.json + rootfs) and runs `docker plugin create`, then `docker plugin enable`; dockerd restarted
# with --storage-driver buse:latest imports, runs, builds and commits on it; a running
# container's rootfs, mounted by the plugin inside its own container, is visible to the host
# through the propagated mount (dockerd gives Init the home <propagatedMount>/buse:latest).
source "$(dirname "$0")/../docker/lib.sh"
docker_requires
docker_scratch
cleanup_fn '[ $rc -eq 0 ] || [ $rc -eq 77 ] || show_logs'
start_dockerd d1 vfs
# make plugin: the bundle, then `docker plugin create buse` against $DOCKER_HOST (dockerd d1)
make -s -C "$TOP" plugin BUSE="$BUSE" -o "$BUSE" PLUGIN_BUILD="$T/bundle" DOCKER="$DOCKER_CLI" \
  >"$T/make.log" 2>&1 || { cat "$T/make.log"; fail "make plugin"; }
docker plugin enable buse || fail "docker plugin enable"
assert_eq "$(docker plugin inspect -f '{{.Enabled}}' buse)" true "plugin enabled"
pid=$(docker plugin inspect -f '{{.ID}}' buse)

DOCKERD_ARGS[d1]="--storage-driver buse:latest"
restart_dockerd d1
assert_eq "$(docker info -f '{{.Driver}}')" "buse:latest" "storage driver"
make_busybox_image bb
assert_eq "$(docker run --rm --network none bb cat /etc/motd)" "buse test image" "run on the plugin"

docker run -d --name c1 --network none bb sh -c 'echo hi >/hello; sleep 300' >/dev/null || fail "run -d"
wait_for docker exec c1 cat /hello
prop=${DOCKERD_ROOT[d1]}/plugins/$pid/propagated-mount
mnt=$(findmnt -rn -o TARGET | grep -F "$prop/" | grep "/mnt/[^/]*/rootfs$" | head -n 1) || true
[ -n "$mnt" ] || { findmnt -rn -o TARGET | grep -F "$pid" | head; fail "no plugin mount under $prop"; }
[ -f "$mnt/hello" ] && [ "$(cat "$mnt/hello")" = hi ] || fail "container file not visible at $mnt"
ok "plugin mount visible on the host: $mnt"
docker commit c1 bb2 >/dev/null || fail "docker commit"
docker rm -f c1 >/dev/null
assert_eq "$(docker run --rm --network none bb2 cat /hello)" "hi" "committed image"

mkdir -p "$T/ctx"
printf 'FROM bb\nRUN echo built >/built\n' >"$T/ctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t bb3 "$T/ctx" >/dev/null || fail "docker build"
assert_eq "$(docker run --rm --network none bb3 cat /built)" "built" "built image"
docker rmi bb3 bb2 bb >/dev/null || fail "rmi"
stop_dockerd d1
