#!/usr/bin/env bash
# containerd 1.6 on buse: `ctr images import` of a docker-save tar unpacks into buse
# snapshots (Prepare, apply, Commit), `ctr run --snapshotter buse` runs a container whose /
# is ext4 on a buse device; restarts of buse (kill -9 too) keep the container's data.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_snap
requires_containerd
requires busybox
scratch
bash "$TOP/tests/snapshotter/image.sh" "$T/img.tar" || { [ $? = 77 ] && skip "no static busybox"; fail "image.sh"; }
start_snap
start_containerd

# containerd 2.x: the client-side import (its transfer service has no unpack platform here)
ctrb images import $([ "${CTRD_GEN:-1}" = 2 ] && echo --local) --snapshotter buse "$T/img.tar"
img=docker.io/buse-test/busybox:latest
ctrb images ls -q | grep -qx "$img" || fail "image not imported"
assert_eq "$(snaps ls | awk 'NR>1 {print $NF}')" Committed "one committed layer"
out=$(ctrb run --rm --snapshotter buse "$img" t1 sh -c 'cat /etc/motd; grep " / " /proc/mounts; ls /')
grep -q '^buse test image$' <<<"$out" || fail "run: $out"
grep -q ' / ext4 ' <<<"$out" || fail "/ is not ext4: $out"
grep -q lost+found <<<"$out" && fail "lost+found in /: $out"
ok "ctr run: / is ext4, image content there"

# A container that stays, with data written; buse killed and restarted under it.
ctrb container create --snapshotter buse "$img" keep sleep 1000
key=keep # ctr names a container's snapshot after the container
snaps info "$key" | grep -q '"Active"' || fail "the container's active snapshot"
src=$(snaps mounts /t "$key" | awk '{print $4}')
echo kept >"$src/data"
sync
kill9_snap
start_snap
# containerd's connection to the proxy redials with a backoff (at most a few seconds)
wait_for snaps info "$key"
src2=$(snaps mounts /t "$key" | awk '{print $4}')
assert_eq "$src2" "$src" "same mount after restart"
assert_eq "$(cat "$src/data")" kept "container data after kill -9 of buse"
out=$(ctrb run --rm --snapshotter buse "$img" t3 cat /etc/motd)
assert_eq "$out" "buse test image" "a new run after the restart"
ctrb container rm keep
ctrb images rm --sync "$img" >/dev/null # --sync: returns after the GC that follows
# containerd schedules its GC after a deletion; on a loaded machine that takes seconds
for i in $(seq 300); do [ -z "$(ls "$T/home/snapshots")" ] && break; sleep 0.1; done
assert_eq "$(ls "$T/home/snapshots" | wc -l)" 0 "every snapshot gone after rm, rmi and GC"
stop_containerd
stop_snap_pid "$SNAP_PID"
ok "stopped cleanly, nothing mounted"
