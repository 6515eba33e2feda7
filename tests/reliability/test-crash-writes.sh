#!/usr/bin/env bash
# kill -9 of `buse serve` ROUNDS times while a container writes files and fsyncs them (and
# their directory); the container prints "N MD5" only after the fsyncs succeeded (docker logs,
# kept by dockerd on the host).  After each restart: the container is stopped, every file
# it reported is in its layer with that checksum (docker cp mounts the layer: the journal
# replays), `buse fsck` of the layer (e2fsck -fn) is clean, and nothing is left behind.
source "$(dirname "$0")/../docker/lib.sh"
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-20}
docker_setup
make_busybox_image bb
mountid() { cat "$T/d1/root/image/$BUSE_DRIVER/layerdb/mounts/$(docker inspect -f '{{.Id}}' "$1")/mount-id"; }
writer='i=0; mkdir -p /data; sync /data
while :; do
  i=$((i + 1)); f=/data/f$i
  head -c $(( (i * 7919) % 300000 + 1 )) /dev/urandom >$f
  sync $f /data || exit 1
  echo "$i $(md5sum <$f | cut -d" " -f1)"
done'
base_state=$(kernel_state "$T")
kills=0 verified=0
for ((k = 1; k <= ROUNDS; k++)); do
  docker run -d --name "w$k" --network none bb sh -c "$writer" >/dev/null
  wait_for sh -c "docker logs w$k 2>/dev/null | grep -q ."
  sleep "$(awk -v s="$RANDOM" 'BEGIN { printf "%.2f", 0.1 + (s / 32767) * 3 }')"
  kill9 "$BUSE_PID" || fail "round $k: buse serve SIGKILLed cannot exit (above)"
  kills=$((kills + 1))
  BUSE_PID=''
  start_buse_daemon
  docker kill "w$k" >/dev/null 2>&1 || true
  docker wait "w$k" >/dev/null 2>&1 || true
  docker logs "w$k" 2>/dev/null | grep -E '^[0-9]+ [0-9a-f]{32}$' >"$T/synced.$k" || true
  n=$(wc -l <"$T/synced.$k")
  [ "$n" -gt 0 ] || fail "round $k: the writer reported nothing"
  rm -rf "$T/got" && mkdir "$T/got"
  docker cp "w$k:/data" - | tar -C "$T/got" -xf - || fail "round $k: docker cp after the crash"
  while read -r i sum; do
    [ -f "$T/got/data/f$i" ] || fail "round $k: fsynced file f$i lost (of $n; in the layer: $(ls "$T/got/data" | wc -l))"
    got=$(md5sum <"$T/got/data/f$i" | cut -d' ' -f1)
    [ "$got" = "$sum" ] || fail "round $k: fsynced file f$i has other content"
  done <"$T/synced.$k"
  verified=$((verified + n))
  id=$(mountid "w$k")
  "$BUSE" fsck --home "$BUSE_HOME" --tmpdir "$T" "$id" >"$T/fsck.$k" 2>&1 ||
    { cat "$T/fsck.$k"; fail "round $k: buse fsck (e2fsck -fn) of the container layer"; }
  docker rm "w$k" >/dev/null || fail "round $k: docker rm"
  assert_eq "$(kernel_state "$T")" "$base_state" "round $k ($n fsynced files verified): mounts, loops, nbdfuse"
done
docker rmi bb >/dev/null
stop_dockerd d1
stop_buse_daemon
assert_eq "$(kernel_state "$T")" "mounts=0 loops=0 nbdfuse=0" "after dockerd and buse stopped"
counts "kills=$kills fsynced-files-verified=$verified data-lost=0 e2fsck-clean=$ROUNDS"
