#!/usr/bin/env bash
# qemu's NBD client against buse nbd: qemu-io patterns (write -P, read -P, aio_write,
# write -z, discard), then qemu-img compare and map against the file being served.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires qemu-io qemu-img
scratch
sparse_file "$T/a.img" 64
cp --sparse=always "$T/a.img" "$T/orig.img"
nbd_start a=$T/a.img
img="json:{\"driver\":\"raw\",\"file\":{\"driver\":\"nbd\",\"server\":{\"type\":\"unix\",\"path\":\"$T/sock\"},\"export\":\"a\"}}"
qio() { qemu-io -f raw "$img" "$@"; }
out=$(qio -c 'write -P 0xab 1M 64k' -c 'read -P 0xab 1M 64k' \
  -c 'aio_write -P 0xcd 3M 128k' -c 'aio_flush' -c 'read -P 0xcd 3M 128k' \
  -c 'write -P 0x11 5000 3000' -c 'read -P 0x11 5000 3000' \
  -c 'write -z 2M 256k' -c 'read -P 0 2M 256k' \
  -c 'write -P 0x22 6M 1M' -c 'discard 6M 1M' -c 'read -P 0 6M 1M' \
  -c 'write -z -u 40M 1M' -c 'read -P 0 40M 1M')
echo "$out"
grep -qi 'fail\|error\|mismatch' <<<"$out" && fail "qemu-io: $out"
n=$(grep -c '^read' <<<"$out")
assert_eq "$n" 6 "qemu-io reads verified"
qemu-img compare -f raw -F raw "$img" "$T/a.img" || fail "qemu-img compare: export differs from file"
ok "qemu-img compare: export = file"
# The same edits applied to the original copy directly must give the same bytes.
qemu-io -f raw "$T/orig.img" -c 'write -P 0xab 1M 64k' -c 'write -P 0xcd 3M 128k' \
  -c 'write -P 0x11 5000 3000' -c 'write -z 2M 256k' -c 'write -z 6M 1M' -c 'write -z 40M 1M' >/dev/null
qemu-img compare -f raw -F raw "$img" "$T/orig.img" || fail "export differs from expected image"
ok "qemu-img compare: export = expected image"
qemu-img map -f raw --output=json "$img" | jq -c '.[] | [.start, .length, .data]' >"$T/map.nbd"
qemu-img map -f raw --output=json "$T/a.img" | jq -c '.[] | [.start, .length, .data]' >"$T/map.file"
diff -u "$T/map.file" "$T/map.nbd" || fail "qemu-img map differs"
ok "qemu-img map: export = file ($(wc -l <"$T/map.nbd") extents)"
