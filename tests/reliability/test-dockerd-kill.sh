#!/usr/bin/env bash
# dockerd killed with SIGKILL while CONTAINERS containers run on buse, ROUNDS times,
# alternating what follows: (a) dockerd is started again (a new Init session: it stops the
# orphaned containers and Puts nothing it did not Get), or (b) buse serve is restarted while
# dockerd is dead and then dockerd is started.  After the containers are removed, the
# mounts, loop devices and processes under the test's directory are back to their count
# before the containers ran; each container's fsynced file is still there until it is
# removed; buse fsck is clean; after dockerd and buse stop, nothing is left at all.
source "$(dirname "$0")/../docker/lib.sh"
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-6} CONTAINERS=${CONTAINERS:-4}
docker_setup
make_busybox_image bb
procs() { pgrep -f "$T/" | wc -l; }
base=$(kernel_state "$T") pbase=$(procs)
ok "baseline with dockerd and buse up: $base processes=$pbase"
kills=0
for ((k = 1; k <= ROUNDS; k++)); do
  for ((c = 1; c <= CONTAINERS; c++)); do
    docker run -d --name "c$k-$c" --network none bb sh -c \
      "echo c$k-$c >/mine; sync /mine /; sleep 1000" >/dev/null
  done
  for ((c = 1; c <= CONTAINERS; c++)); do wait_for docker exec "c$k-$c" cat /mine; done
  during=$(kernel_state "$T")
  kill -KILL "${DOCKERD_PID[d1]}"
  wait "${DOCKERD_PID[d1]}" 2>/dev/null || true
  kills=$((kills + 1))
  if ((k % 2 == 0)); then
    # (b): buse restarted while dockerd is dead; TERM, waited for (its containers' mounts are
    # busy: it detaches them lazily, a few seconds each)
    t0=$SECONDS
    kill -TERM "$BUSE_PID"
    for ((i = 0; i < 1200; i++)); do kill -0 "$BUSE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$BUSE_PID" 2>/dev/null && fail "round $k: buse serve still running 120 s after TERM"
    wait "$BUSE_PID" || true
    BUSE_PID=''
    start_buse_daemon
    how="buse restarted (stop took $((SECONDS - t0)) s), then dockerd"
  else
    how="dockerd restarted"
  fi
  _run_dockerd d1
  for ((c = 1; c <= CONTAINERS; c++)); do
    docker wait "c$k-$c" >/dev/null 2>&1 || true
    assert_eq "$(docker cp "c$k-$c:/mine" - | tar xO)" "c$k-$c" "round $k: c$k-$c's file after the kill"
    docker rm -f "c$k-$c" >/dev/null || fail "round $k: docker rm c$k-$c"
  done
  sleep 1
  "$BUSE" fsck --home "$BUSE_HOME" --no-e2fsck >"$T/fsck.$k" 2>&1 || { cat "$T/fsck.$k"; fail "round $k: fsck"; }
  assert_eq "$(kernel_state "$T") processes=$(procs)" "$base processes=$pbase" \
    "round $k ($how; running: $during): mounts, loops, nbdfuse, processes"
done
assert_eq "$(docker run --rm --network none bb cat /etc/motd)" "buse test image" "a new container"
docker rmi bb >/dev/null
stop_dockerd d1
stop_buse_daemon
assert_eq "$(kernel_state "$T")" "mounts=0 loops=0 nbdfuse=0" "after dockerd and buse stopped"
counts "dockerd-kills=$kills containers-orphaned=$((kills * CONTAINERS)) leaks=0 data-lost=0"
