#!/usr/bin/env bash
# `buse serve` killed with SIGKILL in the middle of a commit by clone (after the clone, while
# the tar is applied) and started again: that commit fails, the same container then commits
# right, the throwaway view of the image the killed commit left is removed by the next
# commit, and nothing is left mounted.
source "$(dirname "$0")/lib.sh"
requires md5sum
docker_setup
on_buse || skip "DOCKER_TEST_DRIVER=${DOCKER_TEST_DRIVER:-} has no buse to kill"

mkdir -p "$T/base"
tar -C "$T/base" -xf "$(busybox_tar)"
head -c $((64 << 20)) /dev/urandom >"$T/base/big"
tar -C "$T/base" --numeric-owner -cf "$T/base.tar" .
rm -rf "$T/base"
docker import "$T/base.tar" base >/dev/null
# The new 48 MiB file makes the apply long enough to be killed in.
docker run --name c1 --network none base sh -c \
  'printf x | dd of=/big bs=1 seek=1000 conv=notrunc 2>/dev/null; head -c 50331648 /dev/urandom >/new; md5sum /big /new >/sums'
want=$(docker cp c1:/sums - | tar xO)

docker commit c1 first >"$T/commit1.out" 2>&1 &
pid=$!
wait_for grep -q ': cloned ' "$T/buse.log"
kill -KILL "$BUSE_PID"
wait "$BUSE_PID" 2>/dev/null || true
BUSE_PID=''
# Started again at once, as a supervisor would: dockerd's Put of the container (its plugin
# client retries a refused connection) then reaches the new buse.
start_buse_daemon
ok "buse serve restarted"
if wait "$pid"; then
  echo "note: the commit finished before the kill"
else
  ok "the commit failed with buse killed"
fi

docker commit c1 second >/dev/null || fail "commit after the restart"
assert_eq "$(docker run --rm --network none second md5sum /big /new)" "$want" \
  "checksums in the image committed after the restart"
assert_eq "$("$BUSE" ls --home "$BUSE_HOME" | grep -c -- '-commit-base' || true)" 0 \
  "throwaway image views left"
docker rm c1 >/dev/null
docker rmi second >/dev/null
docker rmi first >/dev/null 2>&1 || true
stop_dockerd d1
stop_buse_daemon
assert_eq "$(mounts_under "$BUSE_HOME")" "" "mounts under buse home"
assert_eq "$(loops_under "$T")" "" "loop devices on files under \$T"
