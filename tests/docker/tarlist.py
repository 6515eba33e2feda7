#!/usr/bin/env python3
"""tarlist.py: describe the members of a tar stream (stdin or a file) for comparisons.

  tarlist.py [FILE]            one line per member: path type mode uid:gid size sha256 link xattrs
  tarlist.py --xattr PATH      the xattrs of one member, as name=hex
  tarlist.py --save-layers DIR the layer tars of an extracted `docker save`, in image order,
                               each with its diff id from the image config

Times, the modes of whiteouts and the file type bits of the mode field (Go's tar writer
sets them, others need not) are left out on purpose: the same build on two daemons runs at different times."""
import hashlib
import json
import os
import sys
import tarfile

KINDS = {tarfile.REGTYPE: "f", tarfile.AREGTYPE: "f", tarfile.LNKTYPE: "h", tarfile.SYMTYPE: "l",
         tarfile.DIRTYPE: "d", tarfile.CHRTYPE: "c", tarfile.BLKTYPE: "b", tarfile.FIFOTYPE: "p"}


def xattrs(m):
    return {k[len("SCHILY.xattr."):]: v.encode("utf-8", "surrogateescape").hex()
            for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}


def describe(tf):
    out = []
    for m in tf:
        name = m.name[2:] if m.name.startswith("./") else m.name
        digest = "-"
        if m.isreg():
            digest = hashlib.sha256(tf.extractfile(m).read()).hexdigest()[:16]
        xs = ",".join("%s=%s" % kv for kv in sorted(xattrs(m).items()))
        if os.path.basename(name.rstrip("/")).startswith(".wh."):
            out.append("%s whiteout" % name)  # a marker: its mode and owner mean nothing
            continue
        out.append("%s %s %o %d:%d %d %s %s %s" % (name.rstrip("/"), KINDS.get(m.type, "?"),
                   m.mode & 0o7777, m.uid, m.gid, m.size, digest, m.linkname or "-", xs or "-"))
    return sorted(out)


def main():
    args = sys.argv[1:]
    if args[:1] == ["--xattr"]:
        with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tf:
            for m in tf:
                if m.name.lstrip("./").rstrip("/") == args[1].strip("/"):
                    print(",".join("%s=%s" % kv for kv in sorted(xattrs(m).items())))
        return
    if args[:1] == ["--save-layers"]:
        with open(os.path.join(args[1], "manifest.json")) as f:
            manifest = json.load(f)[0]
        with open(os.path.join(args[1], manifest["Config"])) as f:
            diff_ids = json.load(f)["rootfs"]["diff_ids"]
        for layer, diff_id in zip(manifest["Layers"], diff_ids):
            print(os.path.join(args[1], layer), diff_id)
        return
    if args:
        tf = tarfile.open(args[0], mode="r:*")
    else:
        tf = tarfile.open(fileobj=sys.stdin.buffer, mode="r|*")
    with tf:
        print("\n".join(describe(tf)))


if __name__ == "__main__":
    main()
