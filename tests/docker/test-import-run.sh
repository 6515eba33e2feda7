#!/usr/bin/env bash
# dockerd 20.10 on buse: import a busybox rootfs, run containers that read the image and write
# their own layer, then remove everything: no mount may stay behind under buse's home.
source "$(dirname "$0")/lib.sh"
docker_setup
make_busybox_image bb
assert_eq "$(docker image inspect -f '{{.GraphDriver.Name}}' bb)" "$(docker info -f '{{.Driver}}')" \
  "image's graph driver"
[ "$(docker info -f '{{len .DriverStatus}}')" -gt 0 ] || fail "docker info shows no driver status"

out=$(docker run --rm --network none bb echo hello from buse)
assert_eq "$out" "hello from buse" "container output"
assert_eq "$(docker run --rm --network none bb cat /etc/motd)" "buse test image" "image file"
n_image=$(tar tf "$(busybox_tar)" | grep -c '^\./bin/.')
assert_eq "$(docker run --rm --network none bb sh -c 'ls /bin | wc -l')" "$n_image" "files in /bin"
out=$(docker run --rm --network none bb sh -c \
  'echo data >/root/f && rm /etc/motd && mkdir -p /a/b && cat /root/f && ls /etc/motd 2>&1; true')
case $out in data*"No such file"*) ok "container writes, deletes, reads back" ;;
  *) fail "container writes: $out" ;; esac

# A detached container: its rootfs is mounted while it runs, and its layer keeps its data.
docker run -d --name c1 --network none bb sh -c 'echo kept >/kept; sleep 300' >/dev/null
wait_for docker exec c1 cat /kept
assert_eq "$(docker exec c1 cat /kept)" "kept" "exec in running container"
docker rm -f c1 >/dev/null
docker run --name c2 --network none bb sh -c 'echo stopped >/s' >/dev/null
assert_eq "$(docker cp c2:/s - | tar xO)" "stopped" "docker cp from a stopped container"
docker rm c2 >/dev/null
assert_eq "$(docker ps -aq | wc -l)" "0" "containers left"
left=$(mounts_under "$BUSE_HOME")
assert_eq "$left" "" "mounts under buse home after rm"
docker rmi bb >/dev/null
assert_eq "$(docker images -q | wc -l)" "0" "images left"
