#!/usr/bin/env bash
# Hostile raw-socket clients: bad magic, truncated headers, a 4 GiB length, oversize writes,
# unknown options, commands and flags, malformed options, disconnects mid-request.  Each gets
# the right NBD error or its own connection dropped; the server stays up, serves the next
# client, and never writes outside the export.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires python3 nbdinfo
scratch
truncate -s 8M "$T/a.img"
nbd_start a=$T/a.img
python3 - "$T/sock" "$T/a.img" <<'PY'
import os, socket, struct, sys
SOCK, IMG = sys.argv[1], sys.argv[2]
IHAVEOPT, REPMAGIC, REQ = 0x49484156454F5054, 0x3e889045565a9, 0x25609513
EINVAL, EPERM = 22, 1

def conn():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(SOCK)
    g = recvn(s, 18)
    assert g[:8] == b"NBDMAGIC" and struct.unpack(">Q", g[8:16])[0] == IHAVEOPT
    return s

def recvn(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b

def closed(s):
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

def opt(s, o, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, o, len(data)) + data)

def rep(s):
    m, o, t, l = struct.unpack(">QIII", recvn(s, 20))
    assert m == REPMAGIC
    return o, t, recvn(s, l)

def go(s, name=b"a", structured=False):
    s.sendall(struct.pack(">I", 3))
    if structured:
        opt(s, 8)
        assert rep(s)[1] == 1
    opt(s, 7, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
    while True:
        o, t, d = rep(s)
        assert t < 0x80000000, "GO refused: %r" % d
        if t == 1:
            return

def req(s, typ, off, ln, flags=0, cookie=7, payload=b""):
    s.sendall(struct.pack(">IHHQQI", REQ, flags, typ, cookie, off, ln) + payload)

def simple(s, cookie=7):
    m, err, c = struct.unpack(">IIQ", recvn(s, 16))
    assert m == 0x67446698 and c == cookie, (hex(m), c)
    return err

def check(name, cond):
    assert cond, name
    print("ok:", name)

# handshake phase
s = conn(); s.sendall(struct.pack(">I", 0x80000003)); check("unknown client flags: dropped", closed(s))
s = conn(); s.sendall(struct.pack(">I", 3) + b"BADMAGIC" + bytes(8)); check("bad option magic: dropped", closed(s))
s = conn(); s.sendall(struct.pack(">I", 3) + struct.pack(">Q", IHAVEOPT)); s.close(); print("ok: truncated option header")
s = conn(); s.sendall(struct.pack(">I", 3)); opt(s, 99, b"junk")
check("unknown option: ERR_UNSUP", rep(s)[1] == 0x80000001)
opt(s, 7, b"\0\0\0\xffab"); check("malformed GO: ERR_INVALID", rep(s)[1] == 0x80000003)
opt(s, 7, struct.pack(">I", 4) + b"nope" + b"\0\0"); check("unknown export: ERR_UNKNOWN", rep(s)[1] == 0x80000006)
opt(s, 10, struct.pack(">II", 1, 0) + b"a"); check("SET_META without structured: ERR_INVALID", rep(s)[1] == 0x80000003)
opt(s, 9, struct.pack(">I", 1) + b"a" + struct.pack(">II", 1, 100000)); check("bad meta query length: ERR_INVALID", rep(s)[1] == 0x80000003)
opt(s, 3, b"x"); check("LIST with payload: ERR_INVALID", rep(s)[1] == 0x80000003)
opt(s, 50, bytes(100000)); check("100 kB option: ERR_TOO_BIG", rep(s)[1] == 0x80000009)
opt(s, 7, struct.pack(">I", 1) + b"a\0\0")
while True:
    o, t, d = rep(s)
    if t == 1:
        break
req(s, 0, 0, 512); check("negotiation went on after errors", simple(s) == 0 and len(recvn(s, 512)) == 512)
s.close()
s = conn(); s.sendall(struct.pack(">I", 3)); s.sendall(struct.pack(">QII", IHAVEOPT, 7, 3 << 20))
check("3 MiB option: dropped", closed(s))

for cflags, pad in ((1, 124), (3, 0)):  # EXPORT_NAME: 124 zero bytes unless NO_ZEROES
    s = conn(); s.sendall(struct.pack(">I", cflags)); opt(s, 1, b"a")
    size, tf = struct.unpack(">QH", recvn(s, 10)); zeros = recvn(s, pad)
    req(s, 0, 0, 512)
    check("EXPORT_NAME, client flags %d: %d bytes of padding" % (cflags, pad),
          size == 8 << 20 and tf & 1 and zeros == bytes(pad) and simple(s) == 0 and len(recvn(s, 512)) == 512)
    s.close()
s = conn(); s.sendall(struct.pack(">I", 3)); opt(s, 1, b"nope"); check("EXPORT_NAME unknown: dropped", closed(s))

# transmission phase
s = conn(); go(s); s.sendall(b"\xde\xad\xbe\xef" + bytes(24)); check("bad request magic: dropped", closed(s))
s = conn(); go(s); s.sendall(struct.pack(">IHH", REQ, 0, 0)); s.close(); print("ok: truncated request header")
s = conn(); go(s)
req(s, 0, 0, 0xffffffff); check("4 GiB read: EINVAL", simple(s) == EINVAL)
req(s, 0, 2**64 - 512, 1024); check("offset overflow: EINVAL", simple(s) == EINVAL)
req(s, 0, 8 << 20, 1); check("read at the end: EINVAL", simple(s) == EINVAL)
req(s, 42, 0, 512); check("unknown command: EINVAL", simple(s) == EINVAL)
req(s, 0, 0, 512, flags=1 << 15); check("unknown flag: EINVAL", simple(s) == EINVAL)
req(s, 0, 0, 512, flags=1 << 3); check("REQ_ONE on READ: EINVAL", simple(s) == EINVAL)
req(s, 3, 4096, 0); check("FLUSH with an offset: EINVAL", simple(s) == EINVAL)
req(s, 7, 0, 512); check("BLOCK_STATUS not negotiated: EINVAL", simple(s) == EINVAL)
req(s, 0, 0, 0); check("zero-length read: EINVAL", simple(s) == EINVAL)
req(s, 1, (8 << 20) - 100, 200, payload=b"\xee" * 200); check("write past the end: ENOSPC", simple(s) == 28)
req(s, 1, 0, 40 << 20, payload=b"\xee" * (40 << 20)); e = simple(s); check("40 MiB write: payload skipped, EINVAL (%d)" % e, e == EINVAL)
req(s, 1, 0, 4, payload=b"good"); check("then a good write", simple(s) == 0)
req(s, 1, 4096, 0xffffffff)
try:
    s.sendall(b"\xee" * 65536)
except (BrokenPipeError, ConnectionResetError):
    pass
check("4 GiB write: dropped", closed(s))
s = conn(); go(s); req(s, 1, 8192, 1 << 20, payload=b"\xee" * 1000); s.close(); print("ok: disconnect mid-payload")
s = conn(); go(s, structured=True)
req(s, 0, 8 << 20, 512)
m, fl, typ, c, ln = struct.unpack(">IHHQI", recvn(s, 20)); body = recvn(s, ln)
check("structured: error chunk for a bad read", m == 0x668e33ef and typ == 0x8001 and fl == 1
      and struct.unpack(">I", body[:4])[0] == EINVAL)
req(s, 0, 0, 4, flags=1 << 2, cookie=9)
m, fl, typ, c, ln = struct.unpack(">IHHQI", recvn(s, 20)); body = recvn(s, ln)
check("structured: DF read is one data chunk", typ == 1 and c == 9 and body[8:] == b"good")
req(s, 2, 0, 0); check("DISC: closed", closed(s))
for i in range(50):
    s = conn(); s.close()
print("ok: 50 connect-and-close")
d = open(IMG, "rb").read()
check("size unchanged", len(d) == 8 << 20)
check("only the good write landed", d[:4] == b"good" and d.count(b"\xee") == 0)
PY
kill -0 "$BUSE_PID" || fail "server died"
nbdinfo "$(nbd_uri a)" >/dev/null || fail "server does not serve the next client"
ok "server still serves"
