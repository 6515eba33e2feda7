#!/usr/bin/env bash
# ctr on buse's snapshotter, with containerd 2.1.9 (unpacked from sid) and containerd 1.6
# (Debian 12), each on a snapshotter of its own: `ctr snapshots` prepare / mounts / commit / view / info / label / usage / ls /
# rm with containerd's errors, data written through one mount seen through the next, and
# `ctr images import` of a `docker save` tar (made by the overlayfs dockerd) then `ctr run`.
source "$(dirname "$0")/lib.sh"
d28_requires
bu_is_buse || skip "test-ctr is for buse only"
snap_requires
requires ctr containerd
d28_scratch
start_snap
start_containerd28
start_dockerd28 ref overlayfs
make_busybox_image bb ref
dk ref save -o "$T/bb.tar" bb
stop_dockerd ref

# check CTR: the whole round on one containerd (CTR is ctr28 or ctr16).
check() {
  local c=$1 out mnt=$T/mnt-$1
  s() { "$c" -n ctrtest snapshots --snapshotter buse "$@"; }
  mkdir -p "$mnt"
  s prepare k1 || fail "$c: prepare k1"
  out=$(s prepare k1 2>&1) && fail "$c: second prepare k1 succeeded"
  grep -qi 'already exists' <<<"$out" || fail "$c: second prepare k1: $out"
  ok "$c: prepare of an existing key: already exists"
  out=$(s prepare k2 no-such-parent 2>&1) && fail "$c: prepare on a missing parent succeeded"
  grep -qi 'not found' <<<"$out" || fail "$c: prepare on a missing parent: $out"
  ok "$c: prepare on a missing parent: not found"
  # `ctr snapshots mounts` prints the mount command; run it on our own target.
  eval "$(s mounts "$mnt" k1)" || fail "$c: mount k1"
  echo one >"$mnt/f1" && mkdir "$mnt/d" && mkfifo "$mnt/d/p" && chown 7:8 "$mnt/f1"
  umount "$mnt"
  s commit c1 k1 || fail "$c: commit c1 k1"
  out=$(s info c1) || fail "$c: info c1"
  grep -q '"Kind": "Committed"' <<<"$out" || fail "$c: info c1: $out"
  ok "$c: c1 committed"
  out=$(s mounts "$mnt" c1 2>&1) && fail "$c: mounts of a committed snapshot succeeded"
  s view v1 c1 || fail "$c: view v1 c1"
  eval "$(s mounts "$mnt" v1)" || fail "$c: mount v1"
  assert_eq "$(cat "$mnt/f1"; stat -c '%U %u:%g' "$mnt/f1" | cut -d' ' -f2; stat -c %F "$mnt/d/p")" \
    "one
7:8
fifo" "$c: c1's data through the view"
  touch "$mnt/nope" 2>/dev/null && fail "$c: the view is writable"
  umount "$mnt"
  s prepare k2 c1 || fail "$c: prepare k2 c1"
  eval "$(s mounts "$mnt" k2)"
  echo two >>"$mnt/f1" && rm -r "$mnt/d"
  umount "$mnt"
  s commit c2 k2
  s label c2 foo=bar >/dev/null || fail "$c: label c2"
  out=$(s info c2)
  grep -q '"foo": "bar"' <<<"$out" && grep -q '"Parent": "c1"' <<<"$out" ||
    fail "$c: info c2 after label: $out"
  ok "$c: label and parent of c2"
  s label c2 foo= >/dev/null
  ! grep -q foo <<<"$(s info c2)" || fail "$c: label foo not removed"
  assert_eq "$(s ls | awk 'NR > 1 { print $1, $NF }' | sort)" "c1 Committed
c2 Committed
v1 View" "$c: snapshots ls"
  s usage -b c2 | awk 'NR > 1 { exit !($2 > 0) }' || fail "$c: usage of c2: $(s usage -b c2)"
  ok "$c: usage of c2: $(s usage -b c2 | awk 'NR > 1 { print $2, $3 }')"
  out=$(s rm c1 2>&1) && fail "$c: rm of c1 (it has children) succeeded"
  ok "$c: rm of a parent refused ($(tr '\n' ' ' <<<"$out" | cut -c1-80))"
  s rm v1 c2 || fail "$c: rm v1 c2"
  s rm c1 || fail "$c: rm c1"
  assert_eq "$(s ls | tail -n +2)" "" "$c: no snapshots left"

  "$c" -n ctrtest images import --snapshotter buse "$T/bb.tar" >/dev/null || fail "$c: images import"
  out=$(PATH=$2$PATH "$c" -n ctrtest run --rm --snapshotter buse docker.io/library/bb:latest \
    t-$c sh -c 'cat /etc/motd; ls /lost+found 2>&1; echo x >/tmp/x && cat /tmp/x') ||
    fail "$c: ctr run: $out"
  assert_eq "$out" "buse test image
ls: /lost+found: No such file or directory
x" "$c: ctr run on buse"
  "$c" -n ctrtest images rm docker.io/library/bb:latest >/dev/null
}
check ctr28 "$D28_BIN"
# One snapshotter serves one containerd: containerd's garbage collector removes every backend
# key its own database does not know, and both containerds name keys ns/<counter>/<key>.  So
# containerd 1.6 gets a snapshotter (and home) of its own.
stop_containerd28
stop_snap
SNAP_HOME=$T/snap-home16
start_snap
start_containerd16
check ctr16 ''
