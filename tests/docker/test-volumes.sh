#!/usr/bin/env bash
# Block volumes on dockerd 20.10 (the VolumeDriver API on buse serve's socket): create and
# use, an O(1) clone of a busy volume, a size limit, ro, bad input, rm frees the space, and a
# dockerd restart with a volume in use.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/volumes-lib.sh"
docker_setup
make_busybox_image bb
VOL_D=d1
base=$(vol_store_bytes)
vol_check_basic
vol_check_clone_live
vol_check_enospc
vol_check_ro
vol_check_bad_input
vol_check_cli
# dockerd restart (TERM: its containers stop with it) while a container uses v1
docker run -d --name keep --network none -v v1:/data bb sh -c 'echo kept >/data/k; sync /data/k; sleep 1000' >/dev/null
wait_for docker exec keep cat /data/k
restart_dockerd d1
docker start keep >/dev/null || fail "start keep after the dockerd restart"
assert_eq "$(docker exec keep cat /data/k /data/a)" "kept
hello" "v1's data after a dockerd restart"
docker rm -f keep >/dev/null
vol_check_rm_frees "$base"
docker rmi bb >/dev/null
