#!/bin/sh
# Runs in the kernel-tier guest's initramfs (busybox sh, from init): puts the host's root
# filesystem (virtio-9p tag "hostroot", shared read-only by run.sh) on /host with what a
# dockerd needs to write — tmpfs on /run, /tmp, /root and /etc/docker (dockerd 20.10 keeps its
# key.json there), the scratch virtio disk (serial buse-docker, ext4 made by run.sh) on
# /var/lib — and proc, sysfs, cgroup2, devtmpfs, devpts, shm and mqueue; then runs
# TOP/SCRIPT ARGS with the host's bash in it, moved onto / .  The guest's kernel and modules are
# the tier's own (Debian's 6.1), the user space the host's: dockerd, containerd, runc, buse.
# $1: TOP (where tests/kernel/ is: run.sh copies it)  $2: the buse binary  $3: run.sh's private
# directory (the busybox image tar)  $4: SCRIPT relative to TOP  $5...: its arguments
TOP=$1 BUSE=$2 RUN=$3 SCRIPT=$4
shift 4
R=/host

log() { echo "guest: $*"; }

setup() {
  mkdir -p $R
  # cache=loose: the share is read-only and nothing on the host changes under the guest
  # that it needs to see (run.sh writes RUN before the boot)
  mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot $R ||
    { log "mounting the host's root (9p) failed"; return 1; }
  mount -t proc proc $R/proc &&
    mount -t sysfs sys $R/sys &&
    mount -t cgroup2 cgroup2 $R/sys/fs/cgroup &&
    mount -t devtmpfs dev $R/dev &&
    mkdir -p $R/dev/pts $R/dev/shm $R/dev/mqueue &&
    mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts &&
    mount -t tmpfs -o mode=1777 shm $R/dev/shm &&
    mount -t mqueue mqueue $R/dev/mqueue || { log "mounting proc, sys, dev failed"; return 1; }
  for d in run tmp root etc/docker; do
    mount -t tmpfs -o mode=0755 "tmp-${d%%/*}" $R/$d || { log "tmpfs on /$d failed"; return 1; }
  done
  chmod 1777 $R/tmp
  vd=
  for b in /sys/block/vd*; do
    [ "$(cat "$b/serial" 2>/dev/null)" = buse-docker ] && vd=${b##*/}
  done
  [ -n "$vd" ] || { log "no scratch disk (serial buse-docker)"; return 1; }
  mount -t ext4 /dev/$vd $R/var/lib || { log "mounting the scratch disk failed"; return 1; }
  # cgroup v2 controllers for the containers' cgroups (runc's cgroupfs driver)
  for c in $(cat $R/sys/fs/cgroup/cgroup.controllers); do
    echo "+$c" >$R/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
  done
  log "host root on $R (9p, read-only), /var/lib on $vd" \
    "($(($(cat /sys/block/$vd/size) / 2048)) MiB), cgroup2: $(cat $R/sys/fs/cgroup/cgroup.subtree_control)"
}

setup || { echo "RESULT FAIL docker-setup"; exit 1; }
# The host's root goes on / (as switch_root puts a real root there), not just a chroot into
# /host: setns into a mount namespace starts at what is mounted on the namespace's root, so
# `docker exec` (runc joining a container's namespace) would find the initramfs, not the
# container's rootfs.  init (pid 1) keeps its own root, the initramfs, for its poweroff.
cd $R && mount --move . / || { echo "RESULT FAIL docker-setup (mount --move)"; exit 1; }
chroot . /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root TMPDIR=/tmp LANG=C TOP="$TOP" BUSE="$BUSE" RUN="$RUN" \
  /bin/bash "$TOP/$SCRIPT" "$@"
