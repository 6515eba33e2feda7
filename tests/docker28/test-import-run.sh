#!/usr/bin/env bash
# Docker 28 on buse against overlayfs on the same containerd: `docker import` and `docker load`
# give the same layers (same diff ids, same members), containers see the same tree, and a
# container's changes show up the same in `docker diff`.
source "$(dirname "$0")/lib.sh"
d28_setup buse
assert_eq "$(dk bu info --format "{{.Driver}}")" "${D28_BU_DRIVER:-buse}" "storage driver of bu"

busybox_import bb ref bu
assert_eq "$(dk bu image inspect -f '{{.RootFS.Layers}}' bb)" \
  "$(dk ref image inspect -f '{{.RootFS.Layers}}' bb)" "diff id of the imported layer"
D28_CMP_DIFFIDS=1 compare_saved bb

tree='find / -xdev \( -path /proc -o -path /sys -o -path /dev \) -prune -o -print | sort |
  while read -r f; do stat -c "%n %F %a %u:%g %s %N" "$f"; done; md5sum /bin/busybox'
compare_run bb "$tree"
dk bu run --rm --network none bb true || fail "docker run --rm bb true on bu"
ok "docker run --rm bb true"

# docker load of what the reference saved.
dk ref save -o "$T/bb.tar" bb
dk bu rmi bb >/dev/null
dk bu load -i "$T/bb.tar" >/dev/null || fail "docker load on bu"
D28_CMP_DIFFIDS=1 compare_saved bb
compare_run bb "$tree"

# One container's changes: write, delete, new dir, fifo, chmod, chown, symlink, hard link.
changes='echo changed >/etc/motd && rm /etc/nsswitch.conf && mkdir -p /new/deep &&
  mkfifo /new/fifo && chmod 0700 /home && chown 12:34 /etc/group && ln -s /etc/motd /new/sym &&
  ln /etc/passwd /new/hard && rm -rf /var/log && echo data >/root/file'
for n in ref bu; do
  dk "$n" run --name c1 --network none bb sh -c "$changes" || fail "changes on $n"
done
compare_docker_diff c1 c1
for n in ref bu; do dk "$n" export c1 | python3 "$TOP/tests/docker/tarlist.py" >"$T/export-$n.txt"; done
diff -u "$T/export-ref.txt" "$T/export-bu.txt" || fail "docker export of the changed container differs"
ok "docker export equal ($(wc -l <"$T/export-ref.txt") members)"

for n in ref bu; do
  dk "$n" rm c1 >/dev/null
  dk "$n" rmi bb >/dev/null
  assert_eq "$(dk "$n" images -aq | wc -l)" 0 "images left on $n"
done
