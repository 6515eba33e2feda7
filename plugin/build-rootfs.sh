#!/usr/bin/env bash
# build-rootfs.sh BUSE OUT: the managed-plugin bundle `docker plugin create NAME OUT` takes —
# OUT/config.json (the top-level config.json) and OUT/rootfs with the buse binary, the tools
# it runs (mke2fs, e2fsck, resize2fs, losetup, nbdfuse, fusermount3, mount, umount, modprobe)
# and every shared library they load (from ldd), at the paths they have on this host.
# Debian 12 has a merged /usr, so /bin, /sbin, /lib, /lib64 are symlinks into usr/.
set -euo pipefail
buse=${1:?usage: build-rootfs.sh BUSE OUT}
out=${2:?usage: build-rootfs.sh BUSE OUT}
top=$(cd "$(dirname "$0")/.." && pwd)
tools="mke2fs e2fsck resize2fs losetup nbdfuse fusermount3 mount umount modprobe"

rm -rf "$out"
root=$out/rootfs
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,dev,proc,sys,tmp,run/docker/plugins,var/lib/docker/buse,var/lib/buse}
for l in bin sbin lib lib64; do ln -s "usr/$l" "$root/$l"; done
chmod 1777 "$root/tmp"

# copy FILE's content to the path it is found by (ldd's soname path, PATH's name), with
# /bin, /sbin, /lib, /lib64 mapped into usr/
put() {
  local src=$1 dst=$1
  case $dst in /bin/* | /sbin/* | /lib/* | /lib64/*) dst=/usr$dst ;; esac
  mkdir -p "$root$(dirname "$dst")"
  cp -L "$src" "$root$dst"
}
libs_of() { ldd "$1" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }'; }

install -m 0755 "$buse" "$root/usr/bin/buse"
bins=("$buse")
for t in $tools; do
  p=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$t") || { echo "build-rootfs: $t not found" >&2; exit 1; }
  put "$p"
  bins+=("$p")
done
for lib in $(for b in "${bins[@]}"; do libs_of "$b"; done | sort -u); do put "$lib"; done
# mke2fs's ext4 defaults; mount/umount want an mtab
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$root/etc/"
ln -s /proc/self/mounts "$root/etc/mtab"
printf 'root:x:0:0:root:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
: >"$root/etc/hosts"
: >"$root/etc/resolv.conf"
cp "$top/config.json" "$out/config.json"
echo "build-rootfs: $out ($(du -sh "$root" | cut -f1))"
