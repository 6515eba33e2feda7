#!/usr/bin/env bash
# All connections to a layer share one view: a write on one connection is read on another at
# once (no flush needed), and extents of the layer report written data and zeroed holes.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_libnbd_py
scratch
H=$T/home

"$BUSE" layer create m --home "$H" --base-size 128M || fail "create m"
lnbd_start "$H"
lpy - "$(luri m)" <<'PY' || fail "shared view"
import nbd, sys
def conn():
    h = nbd.NBD()
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.connect_uri(sys.argv[1])
    return h
a, b = conn(), conn()
assert a.can_multi_conn(), "CAN_MULTI_CONN not advertised for a layer"
off = 64 << 20
a.pwrite(b"m" * 10000, off + 123)
assert b.pread(10000, off + 123) == b"m" * 10000, "second connection does not see the write"
b.zero(1 << 20, off + (4 << 20))
assert a.pread(1 << 20, off + (4 << 20)) == bytes(1 << 20)
seen = []
def cb(meta, o, entries, err):
    seen.extend(entries)
a.block_status(8 << 20, off, cb)
# first extent: the written blocks are data (flags 0); the zeroed MiB shows as hole+zero (3)
assert seen[0] == 12288 and seen[1] == 0, seen[:4]
pos = off; found = False
for i in range(0, len(seen), 2):
    if pos <= off + (4 << 20) and off + (5 << 20) <= pos + seen[i] and seen[i + 1] == 3:
        found = True
    pos += seen[i]
assert found, seen
a.flush()
print("ok")
PY
ok "two connections share one view; block status reports data and zeroes"
