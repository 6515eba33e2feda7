#!/usr/bin/env bash
# make install PREFIX=... DESTDIR=...: buse, the systemd units (PREFIX substituted, ordered
# before docker.service / containerd.service), daemon.json.example and the snapshotter's
# containerd and Docker 28 snippets; config.json is a valid graphdriver plugin
# manifest; the plugin rootfs script gives a rootfs where buse and its tools run (chroot).
source "$(dirname "$0")/lib.sh"
requires make python3
scratch
make -s -C "$TOP" install BUSE="$BUSE" -o "$BUSE" PREFIX=/opt/b DESTDIR="$T/d" || fail "make install"
[ -x "$T/d/opt/b/bin/buse" ] || fail "buse not installed"
"$T/d/opt/b/bin/buse" version | grep -q '^buse' || fail "installed buse"
u=$T/d/lib/systemd/system/buse.service
grep -q '^ExecStart=/opt/b/bin/buse serve --socket /run/docker/plugins/buse.sock' "$u" || fail "unit ExecStart"
grep -q '^Before=docker.service' "$u" || fail "unit not before docker.service"
python3 -m json.tool "$T/d/opt/b/share/doc/buse/daemon.json.example" >/dev/null || fail "daemon.json.example"
ok "make install"

# the snapshotter's unit and snippets
u=$T/d/lib/systemd/system/buse-snapshotter.service
grep -q '^ExecStart=/opt/b/bin/buse snapshotter --home /var/lib/buse/snapshotter --socket /run/buse/snapshotter.sock' "$u" ||
  fail "snapshotter unit ExecStart"
grep -q '^Before=containerd.service' "$u" || fail "snapshotter unit not before containerd.service"
sn=$T/d/opt/b/share/doc/buse/snapshotter
python3 - "$sn" <<'PY' || fail "snapshotter snippets"
import json, sys, tomllib
d = sys.argv[1]
j = json.load(open(d + "/daemon.json"))
assert j == {"features": {"containerd-snapshotter": True}, "storage-driver": "buse"}, j
for v, cri in (("v3", ("io.containerd.cri.v1.images",)), ("v2", ("io.containerd.grpc.v1.cri", "containerd"))):
    c = tomllib.load(open(f"{d}/containerd-config-{v}.toml", "rb"))
    assert c["version"] == int(v[1]), c
    p = c["proxy_plugins"]["buse"]
    assert p == {"type": "snapshot", "address": "/run/buse/snapshotter.sock"}, p
    t = c["plugins"]
    for k in cri:
        t = t[k]
    assert t["snapshotter"] == "buse", t
PY
ok "snapshotter: unit before containerd, containerd v2/v3 snippets, Docker 28 daemon.json"

python3 - "$TOP/config.json" <<'PY' || fail "config.json"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["interface"]["types"] == ["docker.graphdriver/1.0"], c["interface"]
assert c["interface"]["socket"] == "buse.sock"
e = c["entrypoint"]
assert e[:2] == ["/usr/bin/buse", "serve"] and "/run/docker/plugins/buse.sock" in e
home = e[e.index("--home") + 1]
assert home.startswith(c["propagatedMount"]), (home, c["propagatedMount"])
assert "CAP_SYS_ADMIN" in c["linux"]["capabilities"]
PY
ok "config.json: graphdriver manifest, home under the propagated mount"

requires_root
bash "$TOP/plugin/build-rootfs.sh" "$BUSE" "$T/p" >/dev/null || fail "build-rootfs.sh"
for t in "buse version" "mke2fs -V" "e2fsck -V" "resize2fs -P /dev/null" "losetup --version" \
  "nbdfuse --version" "fusermount3 --version" "mount --version" "umount --version"; do
  out=$(env -i PATH=/usr/sbin:/usr/bin chroot "$T/p/rootfs" $t 2>&1) ||
    case $t in resize2fs*) ;; *) fail "'$t' in the plugin rootfs: $out" ;; esac
  case $out in *"error while loading shared libraries"* | *"not found"*) fail "$t: $out" ;; esac
done
cmp -s "$T/p/config.json" "$TOP/config.json" || fail "bundle config.json"
ok "plugin rootfs: buse and every tool start"
