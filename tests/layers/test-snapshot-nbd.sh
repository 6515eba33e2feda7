#!/usr/bin/env bash
# Snapshot through NBD: a child sees its parent's data, its own writes stay its own, a 4 KiB
# write makes it own exactly one block, and zeroing a block hides the parent's data.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_libnbd_py
scratch
H=$T/home

"$BUSE" layer create parent --home "$H" --base-size 256M || fail "create parent"
lnbd_start "$H"
lpy - "$(luri parent)" <<'PY' || fail "write parent"
import nbd, sys
h = nbd.NBD(); h.connect_uri(sys.argv[1])
h.pwrite(b"P" * (1 << 20), 1 << 20)
h.flush(); h.shutdown()
PY
lnbd_stop

"$BUSE" layer create child --parent parent --home "$H" || fail "create child"
"$BUSE" layer create child2 --parent parent --home "$H" || fail "create child2"
lnbd_start "$H"
lpy - "$(luri parent)" "$(luri child)" "$(luri child2)" <<'PY' || fail "snapshot semantics"
import nbd, sys
def conn(u):
    h = nbd.NBD(); h.connect_uri(u); return h
p, c, c2 = (conn(u) for u in sys.argv[1:4])
M = 1 << 20
assert c.pread(M, M) == b"P" * M, "child does not see the parent's data"
c.pwrite(b"C" * 65536, M + 4096 + 100)          # unaligned: copy-up at both ends
c.flush()
assert p.pread(M, M) == b"P" * M, "parent changed by a write into its child"
got = c.pread(M, M)
want = b"P" * (4096 + 100) + b"C" * 65536 + b"P" * (M - 4096 - 100 - 65536)
assert got == want, "child does not read its own write over its parent"
c2.pwrite(b"x" * 4096, 8 * M)                    # exactly one block
c2.zero(4096, M)                                 # hides the parent's block
assert c2.pread(4096, M) == bytes(4096), "zeroed block still shows the parent"
assert p.pread(4096, M) == b"P" * 4096, "zeroing the child changed the parent"
assert c2.pread(4096, M + 4096) == b"P" * 4096
c2.flush()
for h in (p, c, c2): h.shutdown()
print("ok")
PY
ok "parent keeps old data, child reads new; zero hides parent"
lnbd_stop

j=$("$BUSE" inspect child2 --home "$H") || fail "inspect child2"
assert_eq "$(jfield "$j" owned_bytes)" $((2 * 4096)) "child2 owns its written and its zeroed block"
# the parent's written diff was sealed by the snapshot; reopened writable it got a fresh top
j=$("$BUSE" inspect parent --home "$H") || fail "inspect parent"
got=$(lpy -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["diffs"][1]["owned_bytes"], d["diffs"][1]["sealed"])' "$j")
assert_eq "$got" "$((1 << 20)) True" "parent's sealed diff owns 1 MiB"
"$BUSE" ls --home "$H" | grep -q '^child2 ' || fail "ls does not list child2"
