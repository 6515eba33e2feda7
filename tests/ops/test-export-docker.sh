#!/usr/bin/env bash
# buse export of an image's top layer beside a running `buse serve` + dockerd 20.10: the raw
# image passes e2fsck -fn and its rootfs/ (loop-mounted read-only, noload) holds what
# `docker export` of a container of that image gives, minus the container's runtime files
# (what dockerd's init layer adds: .dockerenv, etc/{hostname,hosts,resolv.conf,mtab}, dev, proc, sys).
source "$(dirname "$0")/../docker/lib.sh"
requires e2fsck losetup python3
docker_setup
make_busybox_image bb
diff_id=$(docker image inspect -f '{{index .RootFS.Layers 0}}' bb)
cache=${DOCKERD_ROOT[d1]}/image/$BUSE_DRIVER/layerdb/sha256/${diff_id#sha256:}/cache-id
[ -f "$cache" ] || fail "no cache-id for $diff_id"
id=$(cat "$cache")

"$BUSE" export --home "$BUSE_HOME" "$id" "$T/top.img" 2>"$T/err" || { cat "$T/err"; fail "buse export $id"; }
e2fsck -fn "$T/top.img" >"$T/fsck" 2>&1 || { cat "$T/fsck"; fail "e2fsck -fn of the export"; }
ok "export of the image's top layer ($id): e2fsck -fn clean"

mkdir -p "$T/m"
mount -o loop,ro,noload "$T/top.img" "$T/m" || fail "loop mount of the export"
cleanup_fn "umount '$T/m' 2>/dev/null"
docker create --name c1 --network none bb >/dev/null || fail "docker create"
docker export c1 >"$T/c1.tar" || fail "docker export"
runtime='^(\.dockerenv|etc/mtab|etc/hostname|etc/hosts|etc/resolv\.conf|dev|proc|sys)( |/)|^\.? '
py() { PATH=/usr/bin:$PATH python3 "$@"; }
py "$TOP/tests/docker/tarlist.py" "$T/c1.tar" | grep -Ev "$runtime" | sort >"$T/want"
tar -C "$T/m/rootfs" --numeric-owner -cf - . | py "$TOP/tests/docker/tarlist.py" |
  grep -Ev "$runtime" | sort >"$T/got"
[ "$(wc -l <"$T/want")" -gt 100 ] || fail "docker export listed only $(wc -l <"$T/want") entries"
diff -u "$T/want" "$T/got" >"$T/diff" || { head -n 30 "$T/diff"; fail "export rootfs differs from docker export"; }
ok "rootfs/ of the export equals docker export ($(wc -l <"$T/want") entries, contents hashed)"
umount "$T/m"
docker rm c1 >/dev/null

# beside the daemon: fsck and du read only, gc is refused (the daemon holds the store)
"$BUSE" fsck --home "$BUSE_HOME" "$id" >"$T/fsck" 2>&1 || { cat "$T/fsck"; fail "buse fsck beside the daemon"; }
"$BUSE" du --home "$BUSE_HOME" | grep -q "^$id " || fail "buse du does not list $id"
! "$BUSE" gc --home "$BUSE_HOME" >/dev/null 2>&1 || fail "buse gc ran while buse serve holds the store"
ok "fsck clean, du lists the layer, gc refused beside the daemon"
