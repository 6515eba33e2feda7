#!/usr/bin/env bash
# `docker build` on Docker 28, buse against overlayfs on the same containerd, with the legacy
# builder and with BuildKit (buildx): tests/docker/buildlib.sh's context (permissions, owners,
# hard and symbolic links, deletes, a 100 MiB file, a security.capability xattr) and a second
# Dockerfile on top of it (fifos, a dir replaced by a file and a file by a dir, a file replaced
# by a symlink, a 5-byte patch in the middle of the 100 MiB file, setuid/sticky/setgid bits,
# a rename).  Each image passes buildlib's checks on bu, and `docker save` gives the
# same layers (members, content, owners, modes, links, xattrs) on both.
# (only on bu: they want a directory link count of 2, overlayfs gives a merged one 1.)
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/docker/buildlib.sh"
requires setfattr
d28_setup buse
busybox_import bb ref bu
make_build_context "$T/ctx"
patch_at=$((BIG_MIB * 1048576 / 2 + 1234))
cat >"$T/ctx/Dockerfile.more" <<EOT
FROM built
RUN mkfifo /fifo && mkfifo -m 0600 /opt/fifo2 && chown 5:6 /opt/fifo2
RUN rm -rf /links && echo "now a file" >/links && rm /etc/motd && mkdir -m 0710 /etc/motd
RUN printf PATCH | dd of=/big bs=1 seek=$patch_at conv=notrunc 2>/dev/null
RUN mkdir -p /d/e && chmod 1777 /d && chmod 2755 /d/e && touch /d/e/suid && chmod 4755 /d/e/suid
RUN rm /etc/hello.txt && ln -s /etc/group /etc/hello.txt && mv /var/log/new /var/log/renamed
EOT
more_check='stat -c "%n %F %a %u:%g" /fifo /opt/fifo2 /links /etc/motd /d /d/e /d/e/suid \
  /etc/hello.txt /var/log/renamed/f; cat /links /etc/hello.txt; md5sum /big; stat -c %s /big;
  dd if=/big bs=1 skip='$patch_at' count=5 2>/dev/null; echo; ls /var/log'

# build BUILDKIT TAG DOCKERFILE on the current dockerd.
build() {
  DOCKER_BUILDKIT=$1 docker build --network none -t "$2" -f "$T/ctx/$3" "$T/ctx" \
    >"$T/build-$2.out" 2>&1 || { tail -n 30 "$T/build-$2.out"; fail "build $2 (DOCKER_BUILDKIT=$1)"; }
}

for builder in legacy buildkit; do
  case $builder in legacy) bk=0 ;; buildkit) bk=1 ;; esac
  both build $bk built Dockerfile
  # buildlib's checks on bu only: they want a directory's link count (/home 2), which
  # overlayfs reports as 1 for a merged directory; ref is held to bu by compare_saved.
  use_dockerd bu
  check_built_image built
  use_dockerd ref
  compare_saved built
  both build $bk more Dockerfile.more
  compare_run more "$more_check"
  out=$(run_out bu more "$more_check")
  grep -qx PATCH <<<"$out" || fail "the patch is not in /big: $out"
  assert_eq "$(dk bu image inspect -f '{{len .RootFS.Layers}}' more)" 14 "layers of more"
  compare_saved more
  ok "$builder builder: same images on overlayfs and ${D28_BU_DRIVER:-buse}"
  for n in ref bu; do dk "$n" rmi more built >/dev/null; done
done
