#!/usr/bin/env bash
# Host disk full under a write (layers/io.c): with the home on a small ext4 filled to the last
# block but for the emergency reserve (<home>/lowspace-reserve, kept by `buse serve`'s
# low-space guard), an NBD write still lands (the reserve gives back 4 MiB chunks, logged) and
# reads back; once the reserve is gone a write fails with an NBD error (ENOSPC), not a crash,
# and the server still reads.  Metadata on the full disk: a layer create fails cleanly, the
# store stays consistent (fsck), and works again once space is freed.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_libnbd_py
requires mkfs.ext4 fallocate
scratch
truncate -s 128M "$T/small.img"
mkfs.ext4 -q -F -m 0 "$T/small.img" || fail "mkfs.ext4"
mkdir -p "$T/small"
cleanup_fn "umount '$T/small' 2>/dev/null || umount -l '$T/small'"
mount -o loop "$T/small.img" "$T/small" || fail "mount the small filesystem"
H=$T/small/home

"$BUSE" layer create t --home "$H" --base-size 256M || fail "create t"
fallocate -l 12M "$H/lowspace-reserve" || fail "reserve"
avail=$(df -B1 --output=avail "$T/small" | tail -n1 | tr -d ' ')
fallocate -l "$avail" "$T/small/filler" 2>/dev/null || fallocate -l $((avail - 65536)) "$T/small/filler" ||
  fail "fill the disk"
sync -f "$T/small/x" 2>/dev/null || sync
ok "disk full: $(df -B1K --output=avail "$T/small" | tail -n1 | tr -d ' ') KiB free, 12 MiB reserve"
lnbd_start "$H"
lpy - "$(luri t)" <<'PY' || fail "a write on the full disk did not land"
import nbd, sys, os
h = nbd.NBD(); h.connect_uri(sys.argv[1])
data = os.urandom(6 << 20)
h.pwrite(data, 64 << 20)
h.flush()
assert h.pread(len(data), 64 << 20) == data, "read back differs"
h.shutdown()
PY
released=$(grep -c 'released 4 MiB of the emergency reserve' "$T/buse.log" || true)
[ "$released" -ge 1 ] || { cat "$T/buse.log"; fail "no reserve release logged"; }
ok "6 MiB landed on a full disk; $released reserve chunks released"
lpy - "$(luri t)" <<'PY' || fail "a write past the reserve"
import nbd, sys, os
h = nbd.NBD(); h.connect_uri(sys.argv[1])
try:
    for i in range(8):
        h.pwrite(os.urandom(4 << 20), (128 << 20) + i * (4 << 20))
    raise SystemExit("32 MiB more fit on a full disk")
except nbd.Error as e:
    assert "ENOSPC" in str(e), "error %s, not ENOSPC" % e
assert len(h.pread(4096, 0)) == 4096
h.shutdown()
PY
ok "past the reserve: ENOSPC to the client, the server still reads"
lnbd_stop
[ ! -s "$H/lowspace-reserve" ] || fail "reserve not used up: $(stat -c %s "$H/lowspace-reserve")"
ok "reserve used up"
"$BUSE" layer create t2 --parent t --home "$H" >"$T/create.out" 2>&1 && fail "layer create fit on a full disk"
"$BUSE" fsck --home "$H" --no-e2fsck >"$T/fsck.out" 2>&1 || { cat "$T/create.out" "$T/fsck.out"; fail "fsck after a create failed on the full disk"; }
"$BUSE" inspect t --home "$H" >/dev/null || fail "inspect t on the full disk"
ok "full disk: layer create refused ($(head -c 100 "$T/create.out")), store consistent"
rm -f "$T/small/filler"
"$BUSE" layer create t2 --parent t --home "$H" || fail "layer create after freeing space"
"$BUSE" fsck --home "$H" --no-e2fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out"; fail "fsck after freeing space"; }
ok "space freed: layer created, store consistent"
