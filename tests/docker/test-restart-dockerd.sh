#!/usr/bin/env bash
# Restart dockerd over a running buse: its containers stop with it, Init comes again, and
# afterwards a stopped container starts with its data, a created one runs, new ones run.
source "$(dirname "$0")/lib.sh"
docker_setup
make_busybox_image bb
docker run -d --name c1 --network none bb sh -c 'echo before >/data; sleep 600' >/dev/null
wait_for docker exec c1 cat /data
docker create --name c2 --network none bb sh -c 'echo created' >/dev/null
restart_dockerd d1
ok "dockerd restarted"
assert_eq "$(docker inspect -f '{{.State.Running}}' c1)" false "c1 running after restart"
docker start c1 >/dev/null
assert_eq "$(docker exec c1 cat /data)" before "c1 data after dockerd restart"
assert_eq "$(docker start -a c2)" created "c2 (created before the restart) runs"
assert_eq "$(docker run --rm --network none bb echo new)" new "new container after restart"
docker rm -f c1 c2 >/dev/null
assert_eq "$(mounts_under "$BUSE_HOME")" "" "mounts under buse home after rm"
