#!/usr/bin/env bash
# A container's size (`docker inspect --size` SizeRw, GraphDriver.DiffSize) equals what vfs,
# one of Docker's own drivers, reports for the same change: every file type — regular files,
# a file modified in place, hard links (counted once), symlinks (their target's length), a
# fifo, a device node, new and changed directories (not counted), a deleted file.
source "$(dirname "$0")/lib.sh"
docker_setup
start_dockerd d2 vfs
declare -A size=() ps=()
script='echo hello >/new; echo more >>/etc/passwd; mkdir -p /d/sub; echo x >/d/sub/f;
head -c 12345 /dev/zero >/h1; ln /h1 /h2; ln -s /etc/motd /link; ln -s nowhere-at-all /d/dangling;
mkfifo /fifo; mknod /dev-null c 1 3; rm /etc/group; true'
for n in d1 d2; do
  make_busybox_image bb "$n"
  dk "$n" run --name sz bb sh -c "$script" || fail "container on $n"
  size[$n]=$(dk "$n" inspect --size -f '{{.SizeRw}}' sz) || fail "inspect --size on $n"
  ps[$n]=$(dk "$n" ps -a -s --format '{{.Size}}' --filter name=sz)
done
ok "SizeRw on buse ${size[d1]}, on vfs ${size[d2]}"
[ "${size[d1]}" -gt 12345 ] || fail "SizeRw ${size[d1]} misses the files written"
assert_eq "${size[d1]}" "${size[d2]}" "SizeRw equals vfs's"
assert_eq "${ps[d1]}" "${ps[d2]}" "docker ps -s equals vfs's"
