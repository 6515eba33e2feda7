#!/usr/bin/env bash
# Install the Debian packages that the build and the tests need, if any is missing.
# Idempotent: it does nothing (and needs no network) when everything is there.
set -euo pipefail
pkgs=(
  build-essential pkg-config clang clang-format libclang-rt-14-dev
  libmicrohttpd-dev libjansson-dev libarchive-dev libdevmapper-dev libnl-genl-3-dev libnl-3-dev libext2fs-dev
  libnbd-dev libnbd-bin python3-libnbd nbdkit qemu-utils fuse3 e2fsprogs util-linux attr curl python3
  busybox-static cpio kmod qemu-system-x86 debootstrap
  docker.io containerd runc docker-registry golang-go golang-github-docker-docker-dev
  golang-github-vbatts-tar-split-dev golang-github-gotestyourself-gotest.tools-dev
  gnuplot-nox hyperfine fio
  libgrpc-dev libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev golang-github-containerd-containerd-dev
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages (run as root to install): ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
