#!/usr/bin/env bash
# Restarts on the Docker 28 path: dockerd (TERM and kill -9), containerd (TERM and kill -9) and
# buse's snapshotter (TERM and kill -9, with the container stopped and with it running).
# After each: the container's fsynced data is intact, it starts again, and a new
# `docker run --rm` works within 30 s (the time it took is printed).  The overlayfs dockerd
# on the same containerd goes through the containerd restarts too, as the reference.
source "$(dirname "$0")/lib.sh"
d28_setup buse
busybox_import bb ref bu
# The data is written once: a restarted container only sleeps, so the check reads what the
# first run fsynced.
write='[ -f /root/ready ] || { echo data >/root/d && dd if=/dev/urandom of=/root/r bs=1M count=8 \
  2>/dev/null && md5sum /root/r >/root/r.md5 && sync && touch /root/ready && sync; }; exec sleep 100000'
for n in ref bu; do dk "$n" run -d --name keep --network none bb sh -c "$write" >/dev/null; done
for n in ref bu; do wait_for dk "$n" exec keep test -f /root/ready; done

# intact NAME WHAT: container keep on dockerd NAME is (re)started and its data checks out.
intact() {
  local n=$1 out
  [ "$(dk "$n" inspect -f '{{.State.Running}}' keep)" = true ] || dk "$n" start keep >/dev/null ||
    fail "$2: docker start keep on $n"
  out=$(dk "$n" exec keep sh -c 'cat /root/d; cd /root && md5sum -c r.md5') || fail "$2: data on $n: $out"
  assert_eq "$out" "data
/root/r: OK" "$2: keep's data on $n"
}

# runs_again NAME WHAT: a new container on NAME within 30 s.
runs_again() {
  local n=$1 i start=$SECONDS
  for ((i = 0; i < 60; i++)); do
    dk "$n" run --rm --network none bb true >/dev/null 2>&1 && {
      ok "$2: new run on $n after $((SECONDS - start)) s"
      return 0
    }
    sleep 0.5
  done
  dk "$n" run --rm --network none bb true || true
  fail "$2: no new run on $n within 30 s"
}

for how in term kill9; do
  restart_dockerd28 bu "${how/term/}"
  intact bu "dockerd $how"
  runs_again bu "dockerd $how"
done

for how in term kill9; do
  restart_containerd28 "${how/term/}"
  for n in ref bu; do
    runs_again "$n" "containerd $how"
    intact "$n" "containerd $how"
  done
done

# snap_records: every snapshot of namespace bu with kind, parent, labels and times, as
# containerd's Stat/List see them (they must be exact across restarts of buse).
snap_records() {
  local k
  for k in $(ctr28 -n bu snapshots --snapshotter buse ls | awk 'NR > 1 { print $1 }' | sort); do
    ctr28 -n bu snapshots --snapshotter buse info "$k"
  done
}

if bu_is_buse; then
  # Stopped container: the snapshotter goes away between two runs.
  for how in term kill9; do
    dk bu stop -t 2 keep >/dev/null
    snap_records >"$T/records-before"
    if [ $how = term ]; then stop_snap; else kill9_snap; fi
    start_snap
    snap_records >"$T/records-after"
    diff -u "$T/records-before" "$T/records-after" || fail "buse $how: snapshot records changed"
    ok "buse $how: $(grep -c '"Kind"' "$T/records-after") snapshot records exact after the restart"
    intact bu "buse $how (container stopped)"
    runs_again bu "buse $how"
  done
  # Running container: kill -9 under it; what it fsynced before must still be there once
  # buse is back and the container is started again.
  kill9_snap
  start_snap
  dk bu stop -t 2 keep >/dev/null 2>&1 || dk bu kill keep >/dev/null 2>&1 || true
  intact bu "buse kill9 (container running)"
  runs_again bu "buse kill9 (container running)"
else
  echo "buse restarts not run: bu is on ${D28_BU_DRIVER}"
fi
for n in ref bu; do dk "$n" rm -f keep >/dev/null; done
