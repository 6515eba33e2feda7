#!/usr/bin/env bash
# Load: IMPORTS parallel `docker import` loops (each import run at once and checked with
# md5sum -c, then removed) and CONTAINERS containers doing mixed I/O (create, overwrite in
# place, append, rename, delete, sync) for DURATION seconds (300; CI: 60).  No command fails
# or hangs (each has a deadline), every imported image verifies, and afterwards every file
# each container left is read back through a fresh mount (docker cp) and matches the checksum
# the container computed; buse fsck is clean and nothing is left behind.
source "$(dirname "$0")/../docker/lib.sh"
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bigtar.sh"
DURATION=${DURATION:-${RELIABILITY_DURATION:-300}} IMPORTS=${IMPORTS:-8} CONTAINERS=${CONTAINERS:-20}
docker_setup
make_busybox_image bb
for ((i = 1; i <= IMPORTS; i++)); do make_big_tar "$T/imp$i.tar" 8; done
base=$(kernel_state "$T")
io='end=$(( $(date +%s) + D )); i=0; mkdir -p /w; cd /w
while [ $(date +%s) -lt $end ]; do
  i=$((i + 1)); n=$((i % 40))
  case $((i % 6)) in
    0|1) head -c $(( (i * 7919) % 200000 + 1 )) /dev/urandom >f$n ;;
    2) cat f$(( (i + 3) % 40 )) >>f$(( (i + 7) % 40 )) 2>/dev/null ;;
    3) mv f$(( (i + 11) % 40 )) g$n 2>/dev/null; rm -f g$(( (i + 23) % 40 )) ;;
    4) dd if=/dev/urandom of=f$n bs=4k count=2 seek=$((i % 9)) conv=notrunc 2>/dev/null ;;
    5) mkdir -p d$((i % 7)) && head -c 5000 /dev/urandom >d$((i % 7))/x$n ;;
  esac
  [ $((i % 25)) -ne 0 ] || sync
done
find . -type f | sort | xargs md5sum >/manifest.md5; sync
echo "ops $i files $(wc -l </manifest.md5)"'
start=$SECONDS
for ((c = 1; c <= CONTAINERS; c++)); do
  timeout 120 docker run -d --name "io$c" --network none -e D="$DURATION" bb sh -c "$io" >/dev/null ||
    fail "docker run io$c"
done
ok "$CONTAINERS containers started in $((SECONDS - start)) s"
importer() { # N: import, verify, remove until the deadline; prints the count
  local n=$1 k=0 end=$((SECONDS + DURATION))
  while [ $SECONDS -lt $end ]; do
    k=$((k + 1))
    timeout 300 docker import "$T/imp$n.tar" "imp$n:$k" >/dev/null || { echo "import $n:$k failed"; return 1; }
    timeout 300 docker run --rm --network none "imp$n:$k" md5sum -c -s /manifest.md5 ||
      { echo "imp$n:$k: checksums differ"; return 1; }
    timeout 120 docker rmi "imp$n:$k" >/dev/null || { echo "rmi imp$n:$k failed"; return 1; }
  done
  echo "imports $k"
}
pids=()
for ((i = 1; i <= IMPORTS; i++)); do importer "$i" >"$T/importer.$i" 2>&1 & pids+=($!); done
for ((i = 1; i <= IMPORTS; i++)); do
  wait "${pids[i - 1]}" || fail "importer $i: $(cat "$T/importer.$i")"
done
imports=$(cat "$T"/importer.* | awk '/^imports/ { s += $2 } END { print s }')
ok "$IMPORTS importers: $imports imports, each verified"
ops=0 files=0
for ((c = 1; c <= CONTAINERS; c++)); do
  rc=$(timeout $((DURATION + 300)) docker wait "io$c") || fail "io$c: docker wait timed out (deadlock?)"
  [ "$rc" = 0 ] || fail "io$c exited $rc: $(docker logs "io$c" 2>&1 | tail -n 3)"
  rm -rf "$T/v" && mkdir "$T/v"
  timeout 300 docker cp "io$c:/w" - | tar -C "$T/v" -xf - || fail "io$c: docker cp /w"
  timeout 300 docker cp "io$c:/manifest.md5" - | tar -C "$T/v" -xf - || fail "io$c: docker cp manifest"
  (cd "$T/v/w" && md5sum -c --quiet ../manifest.md5) || fail "io$c: files differ from the container's checksums"
  read -r _ o _ f < <(docker logs "io$c" | tail -n 1)
  ops=$((ops + o)) files=$((files + f))
  timeout 120 docker rm "io$c" >/dev/null || fail "docker rm io$c"
done
ok "$CONTAINERS containers: $ops operations, $files files verified"
"$BUSE" fsck --home "$BUSE_HOME" --tmpdir "$T" >"$T/fsck" 2>&1 || { cat "$T/fsck"; fail "buse fsck"; }
assert_eq "$(kernel_state "$T")" "$base" "mounts, loops, nbdfuse after the load"
docker rmi bb >/dev/null
stop_dockerd d1
stop_buse_daemon || true
assert_eq "$(kernel_state "$T")" "mounts=0 loops=0 nbdfuse=0" "after dockerd and buse stopped"
counts "duration=${DURATION}s imports=$imports containers=$CONTAINERS io-ops=$ops files-verified=$files errors=0 data-lost=0"
