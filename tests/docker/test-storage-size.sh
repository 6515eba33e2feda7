#!/usr/bin/env bash
# `docker run --storage-opt size=64M` on buse: the container may write 64 MiB: a
# 32 MiB file fits, a 100 MiB file fails with ENOSPC/EDQUOT; without the option it fits.
source "$(dirname "$0")/lib.sh"
docker_setup
[ "${DOCKER_TEST_DRIVER:-buse}" != vfs ] || skip "vfs has no size limit on this host fs"
make_busybox_image bb
# conv=fsync, not sync(1): a global sync waits on every filesystem of the host, including
# other tests' hung ones.
write='dd if=/dev/zero of=/f1 bs=1M count=32 conv=fsync 2>&1 && echo small ok;
  dd if=/dev/zero of=/f2 bs=1M count=100 conv=fsync 2>&1; echo rc=$?; df -m / | tail -n 1'
out=$(docker run --rm --network none --storage-opt size=64M bb sh -c "$write")
echo "$out"
grep -q 'small ok' <<<"$out" || fail "32 MiB did not fit in 64 MiB"
grep -qE 'No space left|Disk quota exceeded' <<<"$out" || fail "100 MiB write did not fail"
ok "size=64M: 32 MiB fits, 100 MiB fails with ENOSPC/EDQUOT"
echo "note: df in the container says $(tail -n 1 <<<"$out" | awk '{ print $2 }') MiB"
out=$(docker run --rm --network none bb sh -c 'dd if=/dev/zero of=/f bs=1M count=100 2>&1 && echo fits')
grep -q fits <<<"$out" || fail "100 MiB without a size limit: $out"
ok "100 MiB fits without --storage-opt"
