#!/usr/bin/env bash
# Kernel tier (make check-kernel): boot Debian's 6.1 kernel in QEMU (TCG) with nbd, dm and
# ext4 modules, ./buse and e2fsprogs in an initramfs, and run tests/kernel/guest.sh inside:
# netlink attach with 2 and 4 connections, the ioctl fallback, the dm wrapper, a restart of
# buse under a writer, a dm reload onto a new device, reap after kill -9.  The kernel package
# is downloaded once (apt-get download, never installed) and cached in tests/kernel/work/.
#   KERNEL_TESTS="netlink-2 dm"  run a subset      KERNEL_TIMEOUT=280  QEMU time limit (s)
#   KERNEL_BENCH="MIB RUNS CONNS RA MAXKB SCHED"  run bench.sh instead (bench/rows/11-*.sh)
#   KERNEL_MEM=1G  KERNEL_SMP=2  KERNEL_ICOUNT=0 (instruction-counted clock)
#   KERNEL_APPEND="VAR=1"  (variables for the guest's init)
#   KERNEL_PERF=1  (bench mode) put perf in the guest: bench.sh profiles each dd run with
#     perf record -e cpu-clock (under KERNEL_ICOUNT its clock counts instructions) and prints
#     the top symbols of each ("PERF ..." lines)
#   KERNEL_DISK=MIB  give the guest a virtio disk (/dev/vda) of MIB MiB: a sparse file on the
#     host, cache=none (O_DIRECT on the host: the guest's cold reads reach the host's disk, not
#     a host page cache that would make it a RAM disk in disguise)
# Docker tests (names docker*, tests/kernel/docker.sh): the host's root filesystem is shared
# read-only into the guest (9p), the guest chroots into it with tmpfs and a scratch virtio disk
# (ext4, made here) where it must write, and runs Debian's dockerd 20.10 on `buse serve` in
# kernel mode, then (docker28, tests/kernel/docker28.sh) dockerd 28.5.2 + containerd 2.1.9 from
# sid (tests/docker28/fetch.sh, run here first; the guest reads the unpacked cache over the
# share) on `buse snapshotter --attach kernel`.  They run after the attach tests, in the same
# boot.  Under TCG the time is the host's load: 794 s in QEMU (13 min with the build) on the
# shared 2-core host at a load of 8-17, most of it the docker tests, which ran 3-4 times
# faster on it when it was quiet; KERNEL_TIMEOUT (default 1080 s with the docker tests) is a
# guard against a hung guest, not a budget.
#   KERNEL_DOCKER_DISK=MIB  size of that scratch disk (sparse; default 8192)
#   KERNEL_DOCKER_BENCH="RUNS MIB"  run docker-bench.sh instead (docker run and dd in a
#     container, buse in kernel mode against overlay2, in one guest)
# Prints "N passed, N failed, N skipped"; exits 1 on any failure, 77 when it cannot run.
# In bench mode: the guest's "BENCH KEY VALUE" lines; exits 1 unless it finished.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
work=$here/work
BUSE=${BUSE:-$top/buse}
tests=${KERNEL_TESTS:-}
limit=${KERNEL_TIMEOUT:-280}
bench=${KERNEL_BENCH:-}
dbench=${KERNEL_DOCKER_BENCH:-}
# the guest needs the host's root when a docker test (or the docker bench) runs
hostroot=
[ -n "$bench" ] || case " ${tests:-docker} " in *" docker"*) hostroot=1 ;; esac
[ -z "$dbench" ] || hostroot=1 bench=
mem=${KERNEL_MEM:-$([ -n "$hostroot" ] && echo 2G || echo 1G)}

skip() { echo "SKIP: $*"; echo "0 passed, 0 failed, 1 skipped"; exit 77; }
for c in qemu-system-x86_64 cpio dpkg-deb depmod ldd; do
  command -v "$c" >/dev/null || skip "$c not installed"
done
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
  { [ -x /bin/busybox ] && busybox=/bin/busybox; }
[ -x "$BUSE" ] || skip "$BUSE not built"
BUSE=$(realpath "$BUSE")
if [ -n "$hostroot" ]; then # the guest runs these from the host's root
  for c in dockerd containerd containerd-shim-runc-v2 runc docker mke2fs bash; do
    command -v "$c" >/dev/null || skip "$c not installed (docker tests)"
  done
  case "$here$BUSE" in *" "*) skip "paths with spaces cannot go on the kernel command line" ;; esac
fi
mkdir -p "$work"

# ---- the kernel: newest linux-image-6.1.0-N-amd64, unpacked, depmod'ed ----------------
kernel_tree() {
  local kdir
  kdir=$(ls -d "$work"/k/lib/modules/6.1.0-*-amd64 2>/dev/null | sort -V | tail -n1 || true)
  if [ -z "$kdir" ]; then
    local pkg
    pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | cut -d' ' -f1 |
      sort -V | tail -n1)
    [ -n "$pkg" ] || skip "no linux-image-6.1.0-*-amd64 package known to apt"
    (cd "$work" && ls ${pkg}_*.deb >/dev/null 2>&1 || apt-get download "$pkg" >/dev/null 2>&1) ||
      skip "apt-get download $pkg failed"
    rm -rf "$work/k" && mkdir -p "$work/k"
    dpkg-deb -x "$(ls "$work"/${pkg}_*.deb | head -n1)" "$work/k"
    kdir=$(ls -d "$work"/k/lib/modules/6.1.0-*-amd64 | tail -n1)
  fi
  [ -f "$kdir/modules.dep" ] || depmod -b "$work/k" "$(basename "$kdir")"
  echo "$kdir"
}
kdir=$(kernel_tree)
kver=$(basename "$kdir")
vmlinuz=$work/k/boot/vmlinuz-$kver

# ---- modules in load order: dependencies first (modules.dep), crc32c first of all --------
module_order() {
  local want=(crc32c_generic crc32c-intel libcrc32c nbd dm-mod dm-bufio dm-bio-prison
    dm-persistent-data dm-thin-pool loop crc16 mbcache jbd2 ext4 virtio_pci virtio_blk)
  [ -z "$hostroot" ] || want+=(netfs fscache 9pnet 9pnet_virtio 9p overlay)
  local seen=" " m
  add() { # path relative to kdir, deps first
    local p=$1 d
    case $seen in *" $p "*) return ;; esac
    for d in $(grep -E "^$p:" "$kdir/modules.dep" | cut -d: -f2); do add "$d"; done
    seen="$seen$p "
    echo "$p"
  }
  for m in "${want[@]}"; do
    local p
    p=$(grep -oE "^[^:]*/$m\.ko:" "$kdir/modules.dep" | head -n1 | tr -d :)
    [ -n "$p" ] && add "$p"
  done
}

# ---- the initramfs ------------------------------------------------------------------------
run=$(mktemp -d "$work/run.XXXXXX") # private: a smoke test may run beside the full tier
# KERNEL_KEEP=1: keep it (the docker tests' scratch disk docker.img holds their logs)
[ -n "${KERNEL_KEEP:-}" ] || trap 'rm -rf "$run"' EXIT
root=$run/root
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,mnt,modules,lib64,usr/lib}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
for m in $(module_order); do
  cp "$kdir/$m" "$root/modules/"
  basename "$m" >>"$root/modules/order"
done
copy_bin() { # binary and the shared libraries it needs
  local b=$1 dest=$2 lib
  cp "$b" "$root$dest"
  for lib in $(ldd "$b" | grep -oE '/[^ ]+\.so[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}
copy_bin "$BUSE" /bin/buse
copy_bin "$(command -v losetup)" /sbin/losetup # busybox's has no --direct-io
for b in mke2fs e2fsck; do copy_bin "$(command -v $b)" /sbin/$b; done
if [ -n "${KERNEL_PERF:-}" ] && [ -n "$bench" ]; then
  command -v perf >/dev/null || skip "KERNEL_PERF: perf not installed (package linux-perf)"
  copy_bin "$(command -v perf)" /bin/perf
fi
ln -s mke2fs "$root/sbin/mkfs.ext4"
cp /etc/mke2fs.conf "$root/etc/" 2>/dev/null || true
cp "$here/init" "$root/init" && chmod +x "$root/init"
cp "$here/guest.sh" "$root/guest.sh"
cp "$here/bench.sh" "$root/bench.sh"
cp "$here/hostroot.sh" "$root/hostroot.sh"
(cd "$root" && find . | cpio -o -H newc --quiet) >"$run/initrd.cpio"

# ---- boot ---------------------------------------------------------------------------------
log=$work/console${KERNEL_TESTS:+-subset}${bench:+-bench}${dbench:+-dbench}.log
args="buse.tests=$(echo "$tests" | tr ' ' ,)"
[ -z "$bench" ] || args="buse.bench=$(echo "$bench" | tr ' ' ,)"
[ -z "$dbench" ] || args="buse.dbench=$(echo "$dbench" | tr ' ' ,)"
what="tests: ${tests:-all}"
[ -z "$bench" ] || what="bench: $bench"
[ -z "$dbench" ] || what="docker bench: $dbench"
echo "kernel-tier: booting $kver with $(wc -l <"$root/modules/order") modules ($what)"
start=$SECONDS
# KERNEL_ICOUNT=SHIFT: the guest's clock counts instructions (2^SHIFT ns each), not host time,
# so timings inside are the same whatever else the host runs (one vCPU thread then).
icount=()
[ -z "${KERNEL_ICOUNT:-}" ] || icount=(-icount "shift=$KERNEL_ICOUNT,sleep=${KERNEL_SLEEP:-off}")
disk=()
if [ -n "${KERNEL_DISK:-}" ]; then
  truncate -s "${KERNEL_DISK}M" "$run/disk.img"
  disk=(-drive "file=$run/disk.img,if=virtio,format=raw,cache=none")
fi
share=()
if [ -n "$hostroot" ]; then
  # the host's / read-only over virtio-9p; the guest's writable store on a scratch disk
  # (serial buse-docker), formatted here (mke2fs on a sparse file costs the host nothing)
  truncate -s "${KERNEL_DOCKER_DISK:-8192}M" "$run/docker.img"
  mke2fs -q -F -t ext4 -E nodiscard "$run/docker.img"
  bash "$top/tests/images/busybox.sh" "$run/busybox.tar" || skip "cannot make the busybox image"
  # the bench wants the guest's cold reads to reach the host's disk (row 11's cache=none);
  # the tests want speed (the guest's flushes still order its own writes)
  cache=unsafe
  [ -z "$dbench" ] || cache=none
  share=(-fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap"
    -device "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot"
    -drive "file=$run/docker.img,if=none,id=ddisk,format=raw,cache=$cache"
    -device "virtio-blk-pci,drive=ddisk,serial=buse-docker")
  # the guest runs a copy of the scripts and of buse, so that edits and builds on the host
  # while it runs do not reach it (the share is live)
  mkdir -p "$run/tests/kernel" "$run/tests/docker28"
  cp "$here"/docker*.sh "$run/tests/kernel/"
  cp "$top/tests/docker28/containerd-toml.sh" "$run/tests/docker28/"
  cp "$BUSE" "$run/buse"
  args="$args buse.host=$run,$run/buse,$run"
  limit=${KERNEL_TIMEOUT:-1080}
  # docker28's binaries (a no-op once cached; without them the guest skips docker28)
  [ -n "$dbench" ] || bash "$top/tests/docker28/fetch.sh" >/dev/null 2>&1 ||
    echo "kernel-tier: tests/docker28/fetch.sh failed: docker28 will skip"
fi
timeout --foreground -k 5 "$limit" qemu-system-x86_64 -accel tcg "${icount[@]}" "${disk[@]}" "${share[@]}" \
  -smp "${KERNEL_SMP:-2}" -m "$mem" -nographic \
  -no-reboot -kernel "$vmlinuz" -initrd "$run/initrd.cpio" \
  -append "console=ttyS0 quiet panic=-1 rdinit=/init $args${KERNEL_APPEND:+ $KERNEL_APPEND}" \
  </dev/null >"$log" 2>&1 || echo "kernel-tier: qemu exited with $? (log $log)"
if [ -n "$bench$dbench" ]; then
  tr -d '\r' <"$log" | grep -E '^(guest:|BENCH|PERF)' || true
  echo "kernel-tier: $((SECONDS - start)) s in QEMU"
  tr -d '\r' <"$log" | grep -q '^BENCH done 0' || { tail -n 30 "$log"; exit 1; }
  exit 0
fi
tr -d '\r' <"$log" | grep -E '^(guest:|  \||RESULT)' || true
pass=$(tr -d '\r' <"$log" | grep -c '^RESULT PASS' || true)
fail=$(tr -d '\r' <"$log" | grep -c '^RESULT FAIL' || true)
skipped=$(tr -d '\r' <"$log" | grep -c '^RESULT SKIP' || true)
if ! tr -d '\r' <"$log" | grep -q '^guest: done'; then
  echo "kernel-tier: the guest did not finish (see $log)"; tail -n 30 "$log"
  fail=$((fail + 1))
fi
echo "kernel-tier: $((SECONDS - start)) s in QEMU"
[ -z "${KERNEL_KEEP:-}" ] || echo "kernel-tier: kept $run"
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
