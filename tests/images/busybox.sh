#!/usr/bin/env bash
# busybox.sh OUT.tar: a small busybox root filesystem as a tarball, made offline from the
# busybox-static package.  The tar is reproducible (sorted names, fixed times, numeric
# owner 0:0), so importing it into two dockerds gives the same layer diff id on both.
set -euo pipefail
out=${1:?usage: busybox.sh OUT.tar}
bb=$(command -v busybox) || { echo "busybox.sh: busybox not installed" >&2; exit 77; }
if command -v file >/dev/null && ! file -L "$bb" | grep -q 'statically linked'; then
  echo "busybox.sh: $bb is not static (install busybox-static)" >&2
  exit 77
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/busybox-rootfs.XXXXXX")
trap 'rm -rf "$dir"' EXIT
chmod 0755 "$dir"
mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,root,home,proc,sys,dev,var/log,run}
install -m 0755 "$bb" "$dir/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$dir/bin/$applet"
done
install -d -m 1777 "$dir/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' \
  >"$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
printf 'buse test image\n' >"$dir/etc/motd"
echo 'hosts: files' >"$dir/etc/nsswitch.conf"
chmod 0700 "$dir/root"
tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner \
  -C "$dir" -cf "$out" .
