#!/usr/bin/env bash
# `buse serve` killed with SIGKILL while a container runs, then started again under the same
# dockerd: it reaps the devices and mounts it left, data that reached it before the crash
# is there, the dead container can be removed, new containers run, nothing is left behind.
source "$(dirname "$0")/lib.sh"
docker_setup
on_buse || skip "DOCKER_TEST_DRIVER=${DOCKER_TEST_DRIVER:-} has no buse to kill"
make_busybox_image bb
docker run --name done1 --network none bb sh -c 'echo durable >/data' >/dev/null
docker run -d --name live --network none bb sh -c 'echo live >/data; sleep 600' >/dev/null
wait_for docker exec live cat /data
kill -KILL "$BUSE_PID"
wait "$BUSE_PID" 2>/dev/null || true
BUSE_PID=''
start_buse_daemon
ok "buse serve restarted after SIGKILL"
docker rm -f live >/dev/null || fail "rm -f of the container running during the crash"
assert_eq "$(docker cp done1:/data - | tar xO)" durable "data of a container stopped before the crash"
assert_eq "$(docker run --rm --network none bb cat /etc/motd)" "buse test image" \
  "new container after the crash"
docker rm done1 >/dev/null
docker rmi bb >/dev/null
assert_eq "$(mounts_under "$BUSE_HOME")" "" "mounts under buse home"
assert_eq "$(mounts_under "$BUSE_STATE")" "" "mounts under buse state"
assert_eq "$(loops_under "$T")" "" "loop devices on files under \$T"
assert_eq "$(pgrep -f "nbdfuse.*$T" || true)" "" "nbdfuse processes for this test"
