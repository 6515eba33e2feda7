#!/usr/bin/env bash
# Space: TRIM of a 64 MiB range in a top diff lowers its disk use by about 64 MiB; removing the
# last layer on a diff deletes the diff's files.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_libnbd_py
scratch
H=$T/home

"$BUSE" layer create t --home "$H" --base-size 1G || fail "create t"
top=$(jfield "$("$BUSE" inspect t --home "$H")" top_diff)
lnbd_start "$H"
lpy - "$(luri t)" <<'PY' || fail "write 64 MiB"
import nbd, sys, os
h = nbd.NBD(); h.connect_uri(sys.argv[1])
for i in range(8):
    h.pwrite(os.urandom(8 << 20), (256 << 20) + i * (8 << 20))
h.flush(); h.shutdown()
PY
before=$(du -k -s "$H/diffs/$top" | cut -f1)
lpy - "$(luri t)" <<'PY' || fail "trim 64 MiB"
import nbd, sys
h = nbd.NBD(); h.connect_uri(sys.argv[1])
h.trim(64 << 20, 256 << 20)
h.flush()
assert h.pread(1 << 20, 300 << 20) == bytes(1 << 20), "trimmed range does not read zeros"
h.shutdown()
PY
after=$(du -k -s "$H/diffs/$top" | cut -f1)
echo "top diff: $before KiB before TRIM, $after KiB after"
[ $((before - after)) -ge $((60 * 1024)) ] || fail "TRIM freed only $((before - after)) KiB"
ok "TRIM of 64 MiB freed $(((before - after) / 1024)) MiB"
lnbd_stop

"$BUSE" layer rm t --home "$H" || fail "rm t"
[ ! -e "$H/diffs/$top" ] || fail "diff $top of the removed layer is still there"
ok "removing the last layer on a diff deleted its files"
