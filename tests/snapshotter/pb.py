#!/usr/bin/env python3
"""pb.py: protobuf messages of the snapshots API for the tests, by hand (tests only; the
snapshotter itself uses protobuf-c).  Encode prints hex for snapcall; decode reads a
snapcall output on stdin and prints one JSON object per reply message.

  pb.py prepare KEY [PARENT] [k=v ...]   (also: view)
  pb.py key KEY                          Mounts, Remove, Stat, Usage requests
  pb.py commit NAME KEY [k=v ...]
  pb.py update NAME [--path P ...] [k=v ...]
  pb.py list [FILTER ...]
  pb.py decode mounts|info|list|usage   < snapcall output
A string "hex:4142" stands for raw bytes."""
import json, sys


def raw(s):
    return bytes.fromhex(s[4:]) if s.startswith("hex:") else s.encode()


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def labels(num, kvs):
    out = b""
    for kv in kvs:
        k, v = kv.split("=", 1)
        out += field(num, field(1, raw(k)) + field(2, raw(v)))
    return out


def encode(argv):
    cmd, args = argv[0], argv[1:]
    if cmd in ("prepare", "view"):
        pos = [a for a in args if "=" not in a]
        msg = field(2, raw(pos[0]))
        if len(pos) > 1:
            msg += field(3, raw(pos[1]))
        return msg + labels(4, [a for a in args if "=" in a])
    if cmd == "key":
        return field(2, raw(args[0]))
    if cmd == "commit":
        pos = [a for a in args if "=" not in a]
        return field(2, raw(pos[0])) + field(3, raw(pos[1])) + labels(4, [a for a in args if "=" in a])
    if cmd == "update":
        paths, kvs, i = [], [], 1
        while i < len(args):
            if args[i] == "--path":
                paths.append(args[i + 1])
                i += 2
            else:
                kvs.append(args[i])
                i += 1
        info = field(1, raw(args[0])) + labels(6, kvs)
        msg = field(2, info)
        if paths:
            msg += field(3, b"".join(field(1, p.encode()) for p in paths))
        return msg
    if cmd == "list":
        return b"".join(field(2, f.encode()) for f in args)
    raise SystemExit("pb.py: unknown message " + cmd)


def fields(data):
    i, out = 0, []
    while i < len(data):
        key, i = read_varint(data, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(data, i)
        elif wt == 2:
            n, i = read_varint(data, i)
            v, i = data[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, v))
    return out


def read_varint(data, i):
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def text(b):
    return b.decode("utf-8", "replace")


def info(data):
    d = {"labels": {}, "parent": "", "kind": 0}
    names = {1: "name", 2: "parent", 3: "kind", 4: "created", 5: "updated"}
    for num, v in fields(data):
        if num in (1, 2):
            d[names[num]] = text(v)
        elif num == 3:
            d["kind"] = {1: "view", 2: "active", 3: "committed"}.get(v, v)
        elif num in (4, 5):
            t = dict(fields(v))
            d[names[num]] = t.get(1, 0) + t.get(2, 0) / 1e9
        elif num == 6:
            kv = dict(fields(v))
            d["labels"][text(kv.get(1, b""))] = text(kv.get(2, b""))
    return d


def decode(kind, data):
    if kind == "mounts":
        out = []
        for num, v in fields(data):
            m = {"options": []}
            for n2, v2 in fields(v):
                if n2 == 4:
                    m["options"].append(text(v2))
                else:
                    m[{1: "type", 2: "source", 3: "target"}[n2]] = text(v2)
            out.append(m)
        return out
    if kind == "info":
        return info(dict(fields(data)).get(1, b""))
    if kind == "list":
        return [info(v) for num, v in fields(data) if num == 1]
    if kind == "usage":
        f = dict(fields(data))
        return {"size": f.get(1, 0), "inodes": f.get(2, 0)}
    raise SystemExit("pb.py: unknown reply " + kind)


if __name__ == "__main__":
    if sys.argv[1] == "decode":
        for line in sys.stdin:
            if line.startswith("msg "):
                print(json.dumps(decode(sys.argv[2], bytes.fromhex(line[4:].strip()))))
    else:
        print(encode(sys.argv[1:]).hex())
