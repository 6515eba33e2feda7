#!/usr/bin/env bash
# buse nbd --home DIR [ID...] serves the layers of a store: with IDs only those (listed and
# opened), without IDs every layer; a layer reads as its stacked ext4 and takes writes.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires nbdinfo jq mke2fs
requires_nbdsh
scratch
home=$T/home
"$BUSE" layer create l1 --home "$home" --base-size 64M >/dev/null 2>"$T/layer.log" ||
  skip "layer store not usable here: $(tail -1 "$T/layer.log")"
"$BUSE" layer create l2 --home "$home" >/dev/null
nbd_start --home "$home" l1
names=$(nbdinfo --json --list "$(nbd_uri '')" | jq -r '.exports[]."export-name"' | tr '\n' ' ')
assert_eq "$names" "l1 " "only the IDs given are listed"
if nbdinfo "$(nbd_uri l2)" >/dev/null 2>&1; then fail "l2 served though not asked for"; fi
ok "l2 refused"
assert_eq "$(nbdinfo --size "$(nbd_uri l1)")" $((64 << 20)) "l1 size"
nbdsh -u "$(nbd_uri l1)" -c '
assert h.pread(2, 1080) == b"\x53\xef", "no ext4 superblock magic"
print("ok: ext4 superblock seen through the stack")
h.pwrite(b"layer!" * 100, 40 << 20)
h.flush()
assert h.pread(600, 40 << 20) == b"layer!" * 100
print("ok: write and read back")
'
stop_pid "$BUSE_PID"
rm -f "$T/sock"
nbd_start --home "$home" --read-only
names=$(nbdinfo --json --list "$(nbd_uri '')" | jq -r '.exports[]."export-name"' | sort | tr '\n' ' ')
assert_eq "$names" "l1 l2 " "every layer listed without IDs"
nbdsh -u "$(nbd_uri l1)" -c '
assert h.is_read_only()
assert h.pread(600, 40 << 20) == b"layer!" * 100
print("ok: read-only, data persisted")
'
