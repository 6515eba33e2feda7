#!/usr/bin/env bash
# commit -> save -> load across snapshotters: the same changes made in a container on buse and
# on overlayfs commit to the same layer; the image committed on buse, saved and loaded into the
# overlayfs dockerd, has the same diff ids and the same content there; and back the other way.
source "$(dirname "$0")/lib.sh"
d28_setup buse
busybox_import bb ref bu
changes='echo changed >/etc/motd && rm /etc/nsswitch.conf && mkdir -p /new/deep &&
  mkfifo /new/fifo && chmod 0700 /home && chown 12:34 /etc/group && ln -s /etc/motd /new/sym &&
  ln /etc/passwd /new/hard && rm -rf /var/log && dd if=/dev/urandom of=/root/rand bs=64k count=40 2>/dev/null &&
  seq 1 100000 >/root/seq && rm -rf /usr/sbin && echo file >/usr/sbin'
show='find / -xdev \( -path /proc -o -path /sys -o -path /dev \) -prune -o -print | sort |
  while read -r f; do stat -c "%n %F %a %u:%g %s %N" "$f"; done; md5sum /root/* /bin/busybox'
for n in ref bu; do
  dk "$n" run --name c1 --network none bb sh -c "$changes" || fail "changes on $n"
done
compare_docker_diff c1 c1
# The random file differs between the two runs: copy bu's into ref's container first.
dk bu cp c1:/root/rand "$T/rand"
dk ref cp "$T/rand" c1:/root/rand
for n in ref bu; do dk "$n" commit -c 'CMD ["/bin/sh"]' c1 committed >/dev/null || fail "commit on $n"; done
compare_saved committed
compare_run committed "$show"

# bu -> ref: save on buse, load on overlayfs under another name.
dk bu save -o "$T/from-bu.tar" committed || fail "save on bu"
dk ref rmi committed >/dev/null
dk ref load -i "$T/from-bu.tar" >/dev/null || fail "load on ref"
assert_eq "$(dk ref image inspect -f '{{.RootFS.Layers}}' committed)" \
  "$(dk bu image inspect -f '{{.RootFS.Layers}}' committed)" "diff ids after bu -> ref"
D28_CMP_DIFFIDS=1 compare_saved committed
compare_run committed "$show"

# ref -> bu: a commit of a container of the loaded image, on overlayfs, loaded into buse.
dk ref run --name c2 --network none committed sh -c 'rm /root/seq; echo more >>/etc/motd' ||
  fail "run on ref"
dk ref commit c2 second >/dev/null
dk ref save -o "$T/from-ref.tar" second
dk bu load -i "$T/from-ref.tar" >/dev/null || fail "load on bu"
D28_CMP_DIFFIDS=1 compare_saved second
compare_run second "$show"
for n in ref bu; do
  dk "$n" rm -f c1 c2 >/dev/null 2>&1 || true
  dk "$n" rmi -f second committed bb >/dev/null
  assert_eq "$(dk "$n" images -aq | wc -l)" 0 "images left on $n"
done
