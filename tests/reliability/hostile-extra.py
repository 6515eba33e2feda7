# hostile-extra.py OUT SENTINEL TAG SEED N: more hostile layer tars beside the corpus of
# tests/archive/test-hostile.sh — device nodes and fifos (also named out of the root), a
# 1 MiB pax path, 10,000-deep directories, a hardlink to a file planted through a symlink,
# and N mutants of a valid layer (bytes flipped, headers cut, sizes and checksums broken).
import io, os, random, sys, tarfile
out, sentinel, tag, seed, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

def tar(name, members, fmt=tarfile.PAX_FORMAT):
    t = tarfile.open(f"{out}/{name}.tar", "w", format=fmt)
    for i, data in members:
        t.addfile(i, io.BytesIO(data) if data is not None else None)
    t.close()

def node(name, typ, major=0, minor=0):
    i = tarfile.TarInfo(name); i.type = typ; i.devmajor = major; i.devminor = minor
    i.mode = 0o666; return (i, None)

def reg(name, data=b"evil"):
    i = tarfile.TarInfo(name); i.size = len(data); return (i, data)

def sym(name, target):
    i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE; i.linkname = target; return (i, None)

def hard(name, target):
    i = tarfile.TarInfo(name); i.type = tarfile.LNKTYPE; i.linkname = target; return (i, None)

def dirs(name):
    i = tarfile.TarInfo(name); i.type = tarfile.DIRTYPE; i.mode = 0o755; return (i, None)

names = []
def case(name, members, fmt=tarfile.PAX_FORMAT):
    tar(name, members, fmt); names.append(name)

case("x-devnodes", [node("dev/null2", tarfile.CHRTYPE, 1, 3), node("dev/sda9", tarfile.BLKTYPE, 8, 9),
                    node("fifo", tarfile.FIFOTYPE)])
case("x-dev-out", [node(f"../{tag}-chr", tarfile.CHRTYPE, 1, 3)])
case("x-dev-abs", [node(f"/tmp/{tag}-blk", tarfile.BLKTYPE, 8, 0)])
case("x-dev-link", [sym("d", sentinel), node("d/mem", tarfile.CHRTYPE, 1, 1)])
case("x-longname", [reg("p" * (1 << 20))])
case("x-longlink", [sym("l", "t" * (1 << 20))])
case("x-deepdirs", [dirs("d/" * k) for k in range(1, 2001)] + [reg("d/" * 2000 + "f")])
case("x-hl-through", [sym("s", sentinel), hard("h", "s/precious"), reg("h", b"changed")])
case("x-sym-then-dir", [sym("a", sentinel), dirs("a"), reg("a/evil")])
case("x-dup-names", [reg("same", b"1"), dirs("same"), reg("same/x"), sym("same", sentinel),
                     reg("same/evil")])
case("x-gnu-longname-out", [reg("../" * 50 + f"tmp/{tag}-gnu")], tarfile.GNU_FORMAT)

# a valid small layer to mutate
base = io.BytesIO()
t = tarfile.open(fileobj=base, mode="w", format=tarfile.PAX_FORMAT)
for m in [dirs("etc"), reg("etc/motd", b"hello\n" * 50), sym("etc/l", "motd"), hard("etc/h", "etc/motd"),
          reg("bin/x", bytes(range(256)) * 40), node("dev/null", tarfile.CHRTYPE, 1, 3)]:
    t.addfile(m[0], io.BytesIO(m[1]) if m[1] is not None else None)
t.close()
base = base.getvalue()
rng = random.Random(seed)
for k in range(n):
    b = bytearray(base)
    how = rng.randrange(5)
    if how == 0:  # flip bytes anywhere
        for _ in range(rng.randrange(1, 20)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif how == 1:  # flip bytes in headers only
        for _ in range(rng.randrange(1, 8)):
            blk = rng.randrange(len(b) // 512) * 512
            b[blk + rng.randrange(512)] = rng.randrange(256)
    elif how == 2:  # cut anywhere
        b = b[: rng.randrange(len(b))]
    elif how == 3:  # a name field rewritten to climb out, checksum left as is
        blk = 0
        b[blk:blk + 100] = (b"../" * 10 + tag.encode() + b"-mut").ljust(100, b"\0")
    else:  # size field of the first header made huge or garbage
        b[124:136] = rng.choice([b"77777777777\0", b"\xff" * 12, b"-1\0\0\0\0\0\0\0\0\0\0"])
    name = f"m{k:04d}"
    open(f"{out}/{name}.tar", "wb").write(bytes(b)); names.append(name)
print(" ".join(names))
