#!/usr/bin/env python3
"""mkimage.py OUT.tar TAG BASE.tar DEPTH: a `docker load` archive (docker save format) of an
image with DEPTH layers: BASE.tar (an uncompressed rootfs tar) at the bottom and DEPTH-1
small layers on top, layer N adding /layers/N.  Made offline, in seconds, so deep images do
not need DEPTH build steps."""
import hashlib
import io
import json
import os
import sys
import tarfile

out, tag, base, depth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def small_layer(n):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        if n == 1:
            d = tarfile.TarInfo("layers")
            d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 1700000000
            t.addfile(d)
        data = ("layer %d\n" % n).encode()
        f = tarfile.TarInfo("layers/%d" % n)
        f.size, f.mode, f.mtime = len(data), 0o644, 1700000000
        t.addfile(f, io.BytesIO(data))
    return buf.getvalue()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


with tarfile.open(out, "w") as img:
    diff_ids, names = [], []
    img.add(base, arcname="0/layer.tar")
    diff_ids.append("sha256:" + sha256_file(base))
    names.append("0/layer.tar")
    for n in range(1, depth):
        data = small_layer(n)
        ti = tarfile.TarInfo("%d/layer.tar" % n)
        ti.size = len(data)
        img.addfile(ti, io.BytesIO(data))
        diff_ids.append("sha256:" + hashlib.sha256(data).hexdigest())
        names.append(ti.name)
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "mkimage.py %d" % i}
                    for i in range(depth)],
    }).encode()
    cname = hashlib.sha256(config).hexdigest() + ".json"
    for name, data in ((cname, config), ("manifest.json", json.dumps(
            [{"Config": cname, "RepoTags": [tag], "Layers": names}]).encode())):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        img.addfile(ti, io.BytesIO(data))
