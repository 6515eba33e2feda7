#!/usr/bin/env bash
# The Docker 28 harness itself, on containerd's overlayfs snapshotter only (no buse): dockerd
# 28.5.2 on a private containerd 2.1.9 imports the busybox rootfs, runs it, builds with the
# legacy builder and with BuildKit (buildx), saves; then everything is stopped and nothing
# may be left: no mount or loop under $T, no process it started.
source "$(dirname "$0")/lib.sh"
d28_setup
assert_eq "$(dk ref version --format '{{.Server.Version}}')" 28.5.2+dfsg4 "dockerd version"
cv=$(ctr28 version)
grep -q 'Version: *2.1.9' <<<"$cv" || fail "containerd is not 2.1.9: $cv"
ok "containerd 2.1.9"
assert_eq "$(dk ref info --format '{{.Driver}}')" overlayfs "storage driver"

make_busybox_image bb ref
docker run --rm --network none bb true || fail "docker run --rm bb true"
assert_eq "$(docker run --rm --network none bb cat /etc/motd)" "buse test image" "file read in a container"

mkdir -p "$T/ctx"
printf 'FROM bb\nRUN echo built >/built && mkfifo /fifo\nCOPY f /f\n' >"$T/ctx/Dockerfile"
echo context >"$T/ctx/f"
DOCKER_BUILDKIT=0 docker build -q -t legacy "$T/ctx" >"$T/legacy.out" 2>&1 ||
  { cat "$T/legacy.out"; fail "legacy build"; }
assert_eq "$(docker run --rm --network none legacy sh -c 'cat /built /f; stat -c %F /fifo')" \
  "built
context
fifo" "legacy build content"
docker buildx version >/dev/null || fail "buildx plugin not found through DOCKER_CONFIG"
DOCKER_BUILDKIT=1 docker build --network none --progress plain -t bk "$T/ctx" >"$T/bk.out" 2>&1 ||
  { tail -n 30 "$T/bk.out"; fail "BuildKit build"; }
assert_eq "$(docker run --rm --network none bk sh -c 'cat /built /f; stat -c %F /fifo')" \
  "built
context
fifo" "BuildKit build content"

docker save -o "$T/bk.tar" bk || fail "docker save"
python3 "$TOP/tests/docker/tarlist.py" "$T/bk.tar" | grep '^manifest.json f' >/dev/null ||
  fail "docker save wrote no manifest.json"
mkdir "$T/bk.d" && tar -C "$T/bk.d" -xf "$T/bk.tar"
assert_eq "$(python3 "$TOP/tests/docker/tarlist.py" --save-layers "$T/bk.d" | wc -l)" 3 "saved layers"

docker run -d --name sleeper --network none bb sleep 600 >/dev/null
[ -n "$(mounts_under "$T")" ] || fail "a running container mounts nothing under $T?"

# Stop everything the way the cleanup does, then look for leftovers.
stop_dockerd ref
stop_containerd28
left=$(d28_leftovers)
assert_eq "$left" "" "leftovers after stopping dockerd and containerd"
