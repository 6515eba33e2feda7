#!/usr/bin/env bash
# kill -9 of `buse serve` ROUNDS times (default 10) while a container writes files into a
# block volume and fsyncs them (and their directory), printing "N MD5" only after the fsyncs
# returned.  After each restart the writer is killed and removed (its Unmount reaches the new
# buse with the mount id the old one saved), a new container finds every reported file with
# its checksum, and `buse fsck` (e2fsck -fn) of the unmounted volume is clean.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/volumes-lib.sh"
source "$TOP/tests/reliability/lib.sh"
ROUNDS=${ROUNDS:-10}
docker_setup
make_busybox_image bb
VOL_D=d1
docker volume create -d "$BUSE_DRIVER" -o size=2G cv >/dev/null || fail "volume create cv"
base_state=$(kernel_state "$T")
verified=0
for ((k = 1; k <= ROUNDS; k++)); do
  docker run -d --name "w$k" --network none -v cv:/data bb sh -c "i=0; mkdir -p /data/r$k; sync /data
    while :; do
      i=\$((i + 1)); f=/data/r$k/f\$i
      head -c \$(( (i * 7919) % 200000 + 1 )) /dev/urandom >\$f
      sync \$f /data/r$k || exit 1
      echo \"\$i \$(md5sum <\$f | cut -d' ' -f1)\"
    done" >/dev/null
  wait_for _vol_logged "w$k" 0
  sleep "$(awk -v s="$RANDOM" 'BEGIN { printf "%.2f", 0.2 + (s / 32767) * 2 }')"
  kill9 "$BUSE_PID" || fail "round $k: buse serve SIGKILLed cannot exit (above)"
  BUSE_PID=''
  start_buse_daemon
  docker kill "w$k" >/dev/null 2>&1 || true
  docker wait "w$k" >/dev/null 2>&1 || true
  docker logs "w$k" 2>/dev/null | grep -E '^[0-9]+ [0-9a-f]{32}$' >"$T/synced.$k" || true
  n=$(wc -l <"$T/synced.$k")
  [ "$n" -gt 0 ] || fail "round $k: the writer reported nothing"
  docker rm "w$k" >/dev/null || fail "round $k: docker rm of the writer"
  awk -v k="$k" '{ print $2 "  /data/r" k "/f" $1 }' "$T/synced.$k" >"$T/sums.$k"
  got=$(docker run --rm -i --network none -v cv:/data bb sh -c 'md5sum -c - 2>&1 | grep -vc ": OK$"' <"$T/sums.$k") || true
  [ "$got" = 0 ] || fail "round $k: $got of $n fsynced files lost or changed"
  verified=$((verified + n))
  [ -z "$(curl -s --unix-socket "$BUSE_SOCK" -X POST -d '{"Name":"cv"}' http://buse/VolumeDriver.Path |
    grep -o '"Mountpoint":"[^"]')" ] || fail "round $k: cv still mounted after its containers went"
  "$BUSE" fsck --home "$(vol_home)/store" --tmpdir "$T" cv >"$T/fsck.$k" 2>&1 ||
    { cat "$T/fsck.$k"; fail "round $k: buse fsck (e2fsck -fn) of volume cv"; }
  assert_eq "$(kernel_state "$T")" "$base_state" "round $k ($n fsynced files verified, fsck clean): mounts, loops, nbdfuse"
done
docker volume rm cv >/dev/null
docker rmi bb >/dev/null
counts "kills=$ROUNDS fsynced-files-verified=$verified data-lost=0 e2fsck-clean=$ROUNDS"
