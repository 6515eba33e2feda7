#!/usr/bin/env python3
"""snap-image.py DIR MB: the content of the big image of tests/reliability/test-snap-crash-load.sh,
reproducible (seeded), as two tars for ADD in a Dockerfile, written into DIR:

  small.tar  data/small/dNN/fNNNN: many small files (0..24 KiB, about 30% of MB), with a few
             symlinks, hard links, empty files, odd modes and owners
  big.tar    data/big/: a few big files (about 70% of MB), one of them sparse in the middle

plus DIR/Dockerfile (FROM bb, ADD small.tar, ADD big.tar, RUN that deletes and changes a few
files: a whiteout layer).  Numeric owners, fixed times, sorted names."""
import io
import random
import sys
import tarfile

MIB = 1 << 20
MTIME = 1700000000


def add(tar, name, data=None, kind=tarfile.REGTYPE, mode=0o644, uid=0, gid=0, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, gid, MTIME
    info.linkname = link
    if data is not None:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def small_tar(path, mb, rnd):
    budget = int(mb * MIB * 0.30)
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        add(tar, "data", kind=tarfile.DIRTYPE, mode=0o755)
        add(tar, "data/small", kind=tarfile.DIRTYPE, mode=0o755)
        n = used = 0
        while used < budget:
            d = n // 100
            if n % 100 == 0:
                mode = 0o700 if d % 7 == 3 else 0o755
                add(tar, f"data/small/d{d:02d}", kind=tarfile.DIRTYPE, mode=mode, uid=d % 3 * 1000)
            name = f"data/small/d{d:02d}/f{n:04d}"
            if n % 97 == 5:
                add(tar, name, kind=tarfile.SYMTYPE, link=f"f{n - 1:04d}", mode=0o777)
            elif n % 89 == 7:
                add(tar, name, kind=tarfile.LNKTYPE, link=f"data/small/d{d:02d}/f{n - 2:04d}")
            else:
                size = 0 if n % 53 == 0 else rnd.randrange(1, 24 * 1024)
                mode = (0o600, 0o644, 0o755, 0o4755, 0o444)[n % 5]
                add(tar, name, rnd.randbytes(size), mode=mode, uid=n % 4 * 100, gid=n % 3 * 10)
                used += size
            n += 1
    return n


def big_tar(path, mb, rnd):
    sizes = [int(mb * MIB * f) for f in (0.35, 0.20, 0.10)]
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        add(tar, "data", kind=tarfile.DIRTYPE, mode=0o755)
        add(tar, "data/big", kind=tarfile.DIRTYPE, mode=0o755)
        for i, size in enumerate(sizes):
            add(tar, f"data/big/b{i}", rnd.randbytes(size), mode=0o644, uid=i)
        # 5% of MB: data, a hole of zeros (stored as data by tar: ext4 sees it written), data
        third = int(mb * MIB * 0.05) // 3
        add(tar, "data/big/holes", rnd.randbytes(third) + bytes(third) + rnd.randbytes(third))
        add(tar, "data/big/note", b"first\n")
    return len(sizes) + 2


def main():
    out, mb = sys.argv[1], int(sys.argv[2])
    rnd = random.Random(14 * 1000 + mb)
    n = small_tar(f"{out}/small.tar", mb, rnd)
    big_tar(f"{out}/big.tar", mb, rnd)
    with open(f"{out}/Dockerfile", "w") as f:
        f.write("FROM bb\nADD small.tar /\nADD big.tar /\n"
                "RUN rm -rf /data/small/d01 /data/small/d02/f0205 && echo second >/data/big/note"
                " && chmod 0640 /data/small/d03/f0301 && mkdir /data/new && echo x >/data/new/x\n")
    print(n)


main()
