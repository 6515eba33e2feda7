#!/usr/bin/env bash
# FLUSH makes acknowledged writes durable: after the client's flush (and after a FUA write)
# the file holds the data, and the server has called fdatasync on it (seen with strace).
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_nbdsh
requires strace
scratch
truncate -s 16M "$T/a.img"
nbd_start a=$T/a.img
strace -f -e trace=fdatasync -o "$T/strace" -p "$BUSE_PID" 2>"$T/strace.err" &
spid=$!
cleanup_fn "stop_pid $spid"
wait_for grep -q "attached" "$T/strace.err"
nbdsh -u "$(nbd_uri a)" -c '
import os
data = os.urandom(1 << 20)
for i in range(4):
    h.pwrite(data, i << 20)
h.flush()
open(os.environ["T"] + "/flushed", "wb").write(data)
h.pwrite(data[:4096], 8 << 20, nbd.CMD_FLAG_FUA)
'
stop_pid "$spid" || true # strace detaches (and exits 143)
n=$(grep -c 'fdatasync(' "$T/strace" || true)
[ "$n" -ge 2 ] || fail "expected fdatasync for FLUSH and FUA, strace saw $n"
ok "server called fdatasync $n times"
for i in 0 1 2 3; do
  cmp -n $((1 << 20)) "$T/flushed" <(dd if="$T/a.img" bs=1M skip=$i count=1 status=none) ||
    fail "MiB $i differs after flush"
done
cmp -n 4096 "$T/flushed" <(dd if="$T/a.img" bs=4096 skip=2048 count=1 status=none) ||
  fail "FUA write not in the file"
ok "flushed and FUA data are in the file"
