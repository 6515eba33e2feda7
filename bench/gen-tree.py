#!/usr/bin/env python3
"""gen-tree.py DIR FILES MIB: a synthetic rootfs for the bench: FILES regular files in 100
directories, MIB MiB in total, sizes spread like a distribution's /usr (most files a few KiB, a
few large ones), random content (so nothing compresses or dedups), fixed times.  The same
arguments give the same tree, byte for byte."""
import os
import random
import sys

root, nfiles, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(20261126)
total = mib << 20
# 90% small files (512 B .. 8 KiB), the rest share what is left.
small = [rng.randint(512, 8192) for _ in range(nfiles * 9 // 10)]
nbig = nfiles - len(small)
left = max(total - sum(small), nbig)
big = [left // nbig] * nbig
sizes = small + big
rng.shuffle(sizes)
blob = os.urandom(max(sizes) + 4096)
for i, size in enumerate(sizes):
    d = os.path.join(root, "usr", "share", "d%02d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "f%05d" % i)
    off = rng.randint(0, 4095)
    with open(p, "wb") as f:
        f.write(blob[off:off + size])
    os.utime(p, (1700000000, 1700000000))
