#!/usr/bin/env bash
# A classic `docker build` of 10 RUN steps that each change 1 byte of a 32 MiB image file (as
# bench row 7 does): every step commits by clone, so the 10 new layers together own a few MiB
# at most (a plain apply would store the whole file 10 times), and the built image holds
# exactly the 10 changed bytes.
source "$(dirname "$0")/lib.sh"
requires md5sum jq
docker_setup
on_buse || skip "DOCKER_TEST_DRIVER=${DOCKER_TEST_DRIVER:-} does not clone"

ctx=$T/ctx
mkdir -p "$ctx/base"
tar -C "$ctx/base" -xf "$(busybox_tar)"
head -c $((32 << 20)) /dev/urandom >"$ctx/base/big"
tar -C "$ctx/base" --numeric-owner -cf "$T/base.tar" .
docker import "$T/base.tar" base >/dev/null
{
  echo "FROM base"
  for l in 1 2 3 4 5 6 7 8 9 10; do
    echo "RUN printf $l | dd of=/big bs=1 seek=$((l * 3000017)) conv=notrunc"
    printf %s "$l" | dd of="$ctx/base/big" bs=1 seek=$((l * 3000017)) conv=notrunc status=none
  done
} >"$ctx/Dockerfile"
want=$(md5sum <"$ctx/base/big" | cut -d' ' -f1)
rm -rf "$ctx/base"

layers() { "$BUSE" ls --home "$BUSE_HOME" | awk 'NR > 1 { print $1 }' | sort; }
layers >"$T/before"
DOCKER_BUILDKIT=0 docker build -q -t l10 "$ctx" >"$T/build.out" 2>&1 ||
  { cat "$T/build.out"; fail "classic build"; }
mapfile -t new < <(layers | comm -13 "$T/before" -)
assert_eq "${#new[@]}" 10 "new layers"
assert_eq "$(grep -c ': cloned ' "$T/buse.log")" 10 "steps committed by clone"
total=0
for id in "${new[@]}"; do
  total=$((total + $("$BUSE" inspect --home "$BUSE_HOME" "$id" | jq .owned_bytes)))
done
[ "$total" -lt $((4 << 20)) ] || fail "the 10 layers own $total bytes"
ok "the 10 layers own $((total >> 10)) KiB together"
assert_eq "$(docker run --rm --network none l10 md5sum /big | cut -d' ' -f1)" "$want" \
  "the built file's checksum"
docker rmi l10 >/dev/null
