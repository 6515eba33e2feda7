#!/usr/bin/env bash
# Row 9: `docker commit` of a container that changed 10 files of a 50,000-file image (QUICK:
# 10,000 files): dockerd asks the driver for the layer's Diff (buse: Changes/Diff against the
# parent; overlay2: its upper dir) and applies it as a new layer.  A new container each run;
# the committed image is removed between runs (untimed).  Goal: buse ≤ 2× overlay2.
source "$(dirname "$0")/../lib.sh"

FILES=$(q 10000 50000) MIB=$(q 40 200)


half() {
  local drv=$1 i c
  start_driver "$drv"
  docker import -c 'CMD ["/bin/sh"]' "$(generated_tar "$FILES" "$MIB")" many >/dev/null
  for ((i = 0; i < RUNS; i++)); do
    c=$(docker run -d --network none many sh -c \
      'for d in 00 11 22 33 44 55 66 77 88 99; do echo changed >>$(ls -d /usr/share/d$d/* | head -n 1); done; sleep 600')
    wait_for docker exec "$c" sh -c "grep -q changed \$(ls -d /usr/share/d99/* | head -n 1)"
    sample "$drv.commit" "$(timed docker commit "$c" "many:c$i")"
    docker rm -f "$c" >/dev/null
    docker rmi "many:c$i" >/dev/null
  done
}

report() {
  emit 9 "docker commit, 10 files changed of $FILES" s buse.commit overlay2 overlay2.commit \
    le 2 "≤ 2×"
}

bench_main "$@" buse overlay2
