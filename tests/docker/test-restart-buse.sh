#!/usr/bin/env bash
# Restart `buse serve` while dockerd keeps running: dockerd sends no new Init or Activate,
# so buse must serve from what it saved.  Stopped containers keep their data, new ones run,
# images are still there.
source "$(dirname "$0")/lib.sh"
docker_setup
on_buse || skip "DOCKER_TEST_DRIVER=${DOCKER_TEST_DRIVER:-} has no buse to restart"
make_busybox_image bb
docker run --name c1 --network none bb sh -c 'echo before >/data' >/dev/null
stop_buse_daemon
start_buse_daemon
ok "buse serve restarted"
assert_eq "$(docker run --rm --network none bb cat /etc/motd)" "buse test image" \
  "new container after buse restart"
docker start -a c1 >/dev/null
assert_eq "$(docker cp c1:/data - | tar xO)" before "stopped container's data"
docker commit c1 c1img >/dev/null
assert_eq "$(docker run --rm --network none c1img cat /data)" before "commit after restart"
docker rm -f c1 >/dev/null
docker rmi c1img bb >/dev/null
assert_eq "$(docker images -q | wc -l)" 0 "images left"
assert_eq "$(mounts_under "$BUSE_HOME")" "" "mounts under buse home after rm"
