#!/usr/bin/env bash
# Runs inside the kernel-tier guest when run.sh has KERNEL_DOCKER_BENCH="RUNS MIB" (hostroot.sh
# puts it in the host's root): two dockerds 20.10 side by side in one guest, "buse" on
# `buse serve` in kernel mode (netlink NBD, 2 connections, the dm wrapper) and "ovl" on
# overlay2, both data roots on the same ext4 on the scratch virtio disk, the same busybox image
# imported into each.  Runs alternate between the two, RUNS times:
#   run  wall time of `docker run --rm bb true` (create the container's layers, mount, start,
#        stop, unmount, remove: for buse two layer attaches, -init and the container's)
#   dd   MB/s of `dd if=/dev/zero of=/f bs=1M count=MIB conv=fsync` inside a container,
#        timed inside it (the container's start is not in it); the write lands in the
#        container's layer: buse's block diff through /dev/nbdN, overlay2's upper dir
# Under TCG the guest's time is CPU work (with run.sh KERNEL_ICOUNT=0 KERNEL_SMP=1 it is a
# count of instructions, the same whatever else the host runs): only the ratio means anything.
# Prints "BENCH KEY VALUE" lines (one per run), then "BENCH done RC".
# $1: RUNS (default 5)  $2: MIB (default 256)
set -u
RUNS=${1:-5} MIB=${2:-256}
BUSE_INST=buse
source "$(dirname "$0")/docker-lib.sh"

ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }

run_true() { # NAME
  local a b
  use "$1"
  a=$(now)
  docker run --rm bb true || return 1
  b=$(now)
  echo "BENCH $1.run $(ms "$a" "$b")"
}

run_dd() { # NAME: dd timed inside the container by the guest's clock (/proc/uptime)
  local out
  use "$1"
  out=$(docker run --rm bb sh -c "a=\$(cut -d' ' -f1 /proc/uptime)
    dd if=/dev/zero of=/f bs=1M count=$MIB conv=fsync 2>/dev/null || exit 1
    b=\$(cut -d' ' -f1 /proc/uptime); echo \$a \$b") || return 1
  echo "BENCH $1.dd $(echo "$out" | awk -v m="$MIB" '{ printf "%.1f", m / ($2 - $1) }')"
}

bench() {
  local r x y
  prefetch dockerd containerd docker runc containerd-shim-runc-v2 "$BUSE" mke2fs
  start_buse && start_containerd buse && start_dockerd buse buse &&
    start_containerd ovl && start_dockerd ovl overlay2 || return 1
  for x in buse ovl; do
    use $x
    log "$x: storage driver $(docker info --format '{{.Driver}}')"
    docker import -c 'CMD ["/bin/sh"]' "$RUN/busybox.tar" bb >/dev/null || return 1
    docker run --rm bb true || return 1 # the first run warms the binaries' page cache
  done
  for ((r = 0; r < RUNS; r++)); do
    if ((r % 2 == 0)); then x=buse y=ovl; else x=ovl y=buse; fi
    run_true $x && run_true $y && run_dd $x && run_dd $y || return 1
  done
}

log "docker bench: $RUNS runs, dd of $MIB MiB, $(nproc) CPUs"
bench
rc=$?
[ $rc = 0 ] || tail -n 5 $S/buse.log $S/buse-dockerd.log $S/ovl-dockerd.log 2>/dev/null | sed 's/^/guest: /'
stop_all
echo "BENCH done $rc"
