#!/usr/bin/env bash
# `docker commit` on buse is a commit by clone (archive/commit-clone.c): a container that
# changes 1 byte in the middle of a 64 MiB image file commits to a layer that owns a few
# hundred KiB, not the file; the committed image has the right bytes; the layer's changes
# against the image are exactly the container's (no /.dockerenv, /etc/hosts, /dev/console,
# /proc of the init layer); `docker save` gives the same layer files as the same steps on
# vfs.  Two commits at once of two containers of one image are both right, and so is the
# commit of a running (paused by docker commit) container.
source "$(dirname "$0")/lib.sh"
requires python3 md5sum jq
docker_setup
on_buse || skip "DOCKER_TEST_DRIVER=${DOCKER_TEST_DRIVER:-} does not clone"
start_dockerd d2 vfs
use_dockerd d1

mkdir -p "$T/base"
tar -C "$T/base" -xf "$(busybox_tar)"
head -c $((64 << 20)) /dev/urandom >"$T/base/big"
tar -C "$T/base" --numeric-owner -cf "$T/base.tar" .
printf x | dd of="$T/base/big" bs=1 seek=$((32 << 20)) conv=notrunc status=none
want_md5=$(md5sum <"$T/base/big" | cut -d' ' -f1)
rm -rf "$T/base"
script='printf x | dd of=/big bs=1 seek=33554432 conv=notrunc 2>/dev/null
  echo new >/etc/newf; rm /etc/motd; ln /etc/passwd /etc/pw2; mkdir -p /opt/d; chmod 0700 /home'
for n in d1 d2; do
  dk "$n" import "$T/base.tar" base >/dev/null
  dk "$n" run --name c1 --network none base sh -c "$script"
done

layers() { "$BUSE" ls --home "$BUSE_HOME" | awk 'NR > 1 { print $1 }' | sort; }
api() { # METHOD JSON: a call to buse serve
  curl -sS --unix-socket "$BUSE_SOCK" -H 'Host:' -H 'Content-Type:' -X POST --data-binary "$2" \
    "http://buse/GraphDriver.$1"
}
layers >"$T/before"
docker commit c1 committed >/dev/null
new=$(layers | comm -13 "$T/before" -)
[ "$(wc -w <<<"$new")" = 1 ] || fail "one new layer expected, got: $new"
grep -q "ApplyDiff $new: cloned" "$T/buse.log" || fail "the commit did not clone"
owned=$("$BUSE" inspect --home "$BUSE_HOME" "$new" | jq .owned_bytes)
[ "$owned" -lt $((1 << 20)) ] || fail "the committed layer owns $owned bytes"
ok "the committed layer owns $((owned >> 10)) KiB"

assert_eq "$(docker run --rm --network none committed md5sum /big | cut -d' ' -f1)" "$want_md5" \
  "the committed file's checksum"
img=$("$BUSE" inspect --home "$BUSE_HOME" "$new" | jq -r .parent)
api Changes "{\"ID\":\"$new\",\"Parent\":\"$img\"}" |
  jq -r '.Changes[] | (["C","A","D"][.Kind]) + " " + .Path' | sort -k2 >"$T/layer-changes"
docker diff c1 | sort -k2 >"$T/container-changes"
diff "$T/container-changes" "$T/layer-changes" ||
  fail "the layer's changes (>) are not the container's (<)"
grep -qE ' /(\.dockerenv|etc/hosts|etc/hostname|etc/resolv.conf|dev|proc|sys)$' \
  "$T/layer-changes" && fail "an init layer path in the commit"
ok "the layer changes exactly what the container changed"

# save_last DAEMON: the file list of the committed image's top layer.
save_last() {
  mkdir -p "$T/save-$1"
  dk "$1" save committed:latest | tar -x -C "$T/save-$1"
  python3 "$TOP/tests/docker/tarlist.py" "$(python3 "$TOP/tests/docker/tarlist.py" \
    --save-layers "$T/save-$1" | tail -n 1 | cut -d' ' -f1)"
}
dk d2 commit c1 committed >/dev/null
save_last d1 >"$T/l-buse.txt"
save_last d2 >"$T/l-vfs.txt"
diff "$T/l-vfs.txt" "$T/l-buse.txt" || fail "saved layer differs between vfs (<) and buse (>)"
ok "docker save: the same layer files as on vfs"

# Two containers of one image committed at once.
docker run --name c2 --network none base sh -c 'echo two >/etc/two; printf y | dd of=/big bs=1 seek=1 conv=notrunc 2>/dev/null'
docker run --name c3 --network none base sh -c 'echo three >/etc/three; rm /bin/ls'
docker commit c2 i2 >"$T/c2.out" &
p2=$!
docker commit c3 i3 >"$T/c3.out" &
p3=$!
wait "$p2" || fail "commit of c2"
wait "$p3" || fail "commit of c3"
out=$(docker run --rm --network none i2 sh -c 'cat /etc/two; ls /etc/three /.dockerenv 2>&1 | wc -l; head -c 2 /big | tail -c 1')
assert_eq "$out" "two
2
y" "image of c2"
out=$(docker run --rm --network none i3 sh -c 'cat /etc/three; ls /etc/two /bin/ls 2>&1 | wc -l')
assert_eq "$out" "three
2" "image of c3"
ok "two commits at once"
# A running container, paused by docker commit while its filesystem is frozen and cloned.
docker run -d --name c4 --network none base sh -c \
  'printf z | dd of=/big bs=1 seek=5000000 conv=notrunc 2>/dev/null; echo up >/up; sleep 600' >/dev/null
wait_for docker exec c4 test -f /up
before=$(grep -c ': cloned ' "$T/buse.log")
docker commit c4 i4 >/dev/null
assert_eq "$(grep -c ': cloned ' "$T/buse.log")" $((before + 1)) "clones after the commit of c4"
assert_eq "$(docker run --rm --network none i4 sh -c 'cat /up; head -c 5000001 /big | tail -c 1')" \
  "up
z" "image of the running container"
docker rm -f c4 >/dev/null
docker rm c1 c2 c3 >/dev/null
dk d2 rm c1 >/dev/null
