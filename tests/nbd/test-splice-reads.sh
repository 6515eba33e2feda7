#!/usr/bin/env bash
# READ replies spliced from the layer files (nbd/splice.c): a client that asks for simple
# replies (as the kernel's does) reads exactly what a structured-reply client reads, over a
# layer whose range mixes the image's diff (page cache: spliced), the layer's own top diff
# (O_DIRECT: read and sent the plain way) and never-written blocks (zeros), at aligned and
# unaligned offsets and sizes from 1 byte to 4 MiB; and the splice path did run (the server
# holds a pipe while that connection is open).
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires mke2fs
requires_nbdsh
scratch
home=$T/home
"$BUSE" layer create img --home "$home" --base-size 64M >/dev/null 2>"$T/layer.log" ||
  skip "layer store not usable here: $(tail -1 "$T/layer.log")"

nbd_start --home "$home" img
nbdsh -u "$(nbd_uri img)" -c '
import random
random.seed(1)
h.pwrite(random.randbytes(8 << 20), 8 << 20)  # the image: 8..16 MiB
h.flush()
'
stop_pid "$BUSE_PID"
rm -f "$T/sock"
"$BUSE" layer create c --parent img --home "$home" >/dev/null

nbd_start --home "$home" c
cat >"$T/check.py" <<'PY'
import nbd, os, random, sys

def client(structured):
    h = nbd.NBD()
    h.set_request_structured_replies(structured)
    h.set_export_name("c")
    h.connect_unix(sys.argv[1])
    assert h.get_structured_replies_negotiated() == structured
    return h

def pipes():
    d = "/proc/%s/fd" % sys.argv[2]
    return sum(1 for f in os.listdir(d) if os.readlink(os.path.join(d, f)).startswith("pipe:"))

before = pipes()
simple, structured = client(False), client(True)
random.seed(2)
top = random.randbytes(2 << 20)
structured.pwrite(top, 12 << 20)  # the layer's own top diff: 12..14 MiB
structured.pwrite(b"unaligned!" * 500, (13 << 20) + 123)
structured.trim(1 << 20, 20 << 20)  # reads as zeros now (the base may have had data there)
structured.flush()
want = bytearray(top)
want[(1 << 20) + 123 : (1 << 20) + 5123] = b"unaligned!" * 500
checks = 0
for i in range(400):
    n = random.choice([1, 4096, 65536, 66048, 1 << 20, 1310720, 4 << 20,
                       random.randrange(1, 3 << 20)])
    if i % 3:
        off = random.randrange(6 << 20, 22 << 20) & ~4095  # across image, top, base, zeros
    else:
        off = random.randrange(0, (64 << 20) - n)
    off = min(off, (64 << 20) - n)
    a, b = simple.pread(n, off), structured.pread(n, off)
    assert a == b, "offset %d count %d differ" % (off, n)
    checks += 1
print("ok: %d reads alike with simple and structured replies" % checks)
assert simple.pread(4 << 20, 11 << 20)[1 << 20 : 3 << 20] == want, "the top's data"
assert simple.pread(1 << 20, 20 << 20) == bytes(1 << 20), "trimmed: zeros"
print("ok: top data and zeros as written")
after = pipes()
assert after > before, "no pipe in the server: the splice path did not run"
print("ok: the server spliced (pipe fds %d -> %d)" % (before, after))
PY
nbdpy "$T/check.py" "$T/sock" "$BUSE_PID" || fail "simple and structured replies differ"
stop_pid "$BUSE_PID"
