#!/usr/bin/env bash
# Eight containers created, run and removed at the same time on buse (concurrent Create,
# Get, Put, Remove, and copy-up of the same image blocks), each writing its own data and
# reading the shared image.
source "$(dirname "$0")/lib.sh"
docker_setup
make_busybox_image bb
pids=()
for i in $(seq 1 8); do
  docker run --rm --network none bb sh -c \
    "dd if=/dev/urandom of=/data bs=1M count=8 2>/dev/null && md5sum /data >/data.md5 &&
     cat /bin/busybox >/dev/null && echo $i >>/etc/motd && md5sum -c /data.md5 >/dev/null &&
     tail -n 1 /etc/motd" >"$T/out.$i" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  wait "${pids[i]}" || { cat "$T/out.$((i + 1))"; fail "parallel container $((i + 1))"; }
  assert_eq "$(cat "$T/out.$((i + 1))")" "$((i + 1))" "container $((i + 1)) output"
done
ok "8 parallel containers"
assert_eq "$(docker ps -aq | wc -l)" 0 "containers left"
assert_eq "$(mounts_under "$BUSE_HOME")" "" "mounts under buse home"
assert_eq "$(docker run --rm --network none bb cat /etc/motd)" "buse test image" \
  "image unchanged by its containers"
