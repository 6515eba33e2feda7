#!/usr/bin/env bash
# StorageOpt size: a container layer created with {"size":"50M"} takes 25 MiB but not 50 MiB
# more (ENOSPC), as moby's graphtest SetQuota expects; the limit holds after Put/Get; a size
# above the base grows the filesystem.
source "$(dirname "$0")/lib.sh"
requires_fuse
api_start
api_init '["buse.basesize=1G"]'

create base
d=$(get base)
head -c 1000000 /dev/urandom >"$d/image-file"
put base

create_rw sized base '{"size":"50M"}'
d=$(get sized)
head -c $((25 * 1024 * 1024)) /dev/urandom >"$d/smallfile" || fail "writing half the size failed"
ok "25 MiB fits in 50M"
if head -c $((50 * 1024 * 1024)) /dev/urandom >"$d/bigfile" 2>"$T/err"; then
  fail "50 MiB more fit in a 50M layer"
fi
grep -qiE "no space|quota" "$T/err" || fail "unexpected error: $(cat "$T/err")"
ok "50 MiB more fails: $(cat "$T/err")"
rm -f "$d/bigfile"
[ -z "$(ls -A "$d" | grep -v -e smallfile -e image-file)" ] || fail "unexpected files: $(ls -A "$d")"
ok "nothing extra visible in the rootfs"
put sized
d=$(get sized)
if head -c $((40 * 1024 * 1024)) /dev/urandom >"$d/again" 2>/dev/null; then
  fail "the limit did not survive Put/Get"
fi
ok "limit holds after Put/Get"
rm -f "$d/again"
put sized

create_rw big base '{"size":"3G"}'
d=$(get big)
total=$(df -B1 --output=size "$d" | tail -1)
[ "$total" -gt $((2 * 1024 * 1024 * 1024)) ] || fail "3G layer's filesystem is $total bytes"
ok "3G layer on a 1G base has $total bytes"
put big

# unsized containers are not limited by anything but the filesystem
create_rw free base
d=$(get free)
head -c $((80 * 1024 * 1024)) /dev/zero >"$d/f" || fail "an unsized layer cannot take 80 MiB"
ok "unsized layer takes 80 MiB"
put free
