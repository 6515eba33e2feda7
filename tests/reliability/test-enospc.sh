#!/usr/bin/env bash
# Full host disk: buse's home and state on a small loop-mounted ext4 (SMALL, default 400M);
# dockerd's Init names <data-root>/<driver> as the home, a symlink to it (a mount there would
# be hidden by dockerd's bind mount of its data root on itself).
# FILLERS containers write (and fsync) more than fits, at once: each write must fail inside
# its container with ENOSPC (not EROFS or EIO, and never report success), no NBD write may
# fail (the low-space guard, mounts/lowspace.c), buse stays up, another container
# still reads, a --storage-opt size container still works, `buse fsck` is clean (structure, and e2fsck of every layer); once the container
# is removed (space freed) a new container writes and reads back a file, fsck is clean again.
source "$(dirname "$0")/../docker/lib.sh"
source "$(dirname "$0")/lib.sh"
SMALL=${SMALL:-400M}
FILLERS=${FILLERS:-6}
docker_requires
requires mkfs.ext4 losetup
docker_scratch
cleanup_fn '[ $rc -eq 0 ] || [ $rc -eq 77 ] || show_logs'
[ -z "${KEEP_LOG:-}" ] || cleanup_fn "cp '$T/buse.log' '$KEEP_LOG'"
truncate -s "$SMALL" "$T/small.img"
mkfs.ext4 -q -F "$T/small.img" || fail "mkfs.ext4"
SM=$T/small
mkdir -p "$SM" "$T/d1/root"
ln -s "$SM" "$T/d1/root/$BUSE_DRIVER"
cleanup_fn "umount '$SM' 2>/dev/null || umount -l '$SM'"
mount -o loop "$T/small.img" "$SM" || fail "mount the small filesystem"
BUSE_HOME=$SM BUSE_STATE=$SM/state # read by start_buse_daemon
export BUSE_STATE
start_buse_daemon
start_dockerd d1 "$BUSE_DRIVER"
make_busybox_image bb
avail() { df -B1M --output=avail "$SM" | tail -n1 | tr -d ' '; }
free0=$(avail)
ok "home on a $SMALL filesystem, $free0 MiB free after the image"
docker run -d --name steady --network none bb sh -c 'while :; do cat /etc/motd >/dev/null; sleep 1; done' >/dev/null
problems=()

# A size-limited container on a host that is already short of space: its quota ballast must
# replace the low-space balloon it inherits from the image layer, not fail the mount.
out=$(docker run --rm --network none --storage-opt size=64M bb sh -c \
  'dd if=/dev/zero of=/f1 bs=1M count=32 conv=fsync 2>&1 && echo small ok; dd if=/dev/zero of=/f2 bs=1M count=100 conv=fsync 2>&1') ||
  true
grep -q 'small ok' <<<"$out" && grep -q 'No space left' <<<"$out" ||
  fail "--storage-opt size=64M on a low host: $out"
ok "--storage-opt size=64M on a low host: 32 MiB fit, 100 MiB got ENOSPC"
# Its layers' files are unlinked at Remove but freed only when the NBD connection closes
# them (under load a moment after `docker run --rm` returns): wait for the space.
freed() { [ "$(avail)" -ge $((free0 - 8)) ]; }
wait_for freed

# FILLERS containers at once: dd from urandom, dd from /dev/zero (as fast as the page cache
# takes it), small files each fsynced; each must end with ENOSPC, its filesystem still writable.
writers=(
  'dd if=/dev/urandom of=/big bs=1M count=4000 conv=fsync 2>&1; echo "write exit $?"'
  'dd if=/dev/zero of=/big bs=1M count=4000 conv=fsync 2>&1; echo "write exit $?"'
  'i=0; while e=$(dd if=/dev/urandom of=/f$i bs=64k count=4 conv=fsync 2>&1); do i=$((i+1)); done; echo "$e"; echo "write exit 1 after $i files"'
)
for ((i = 0; i < FILLERS; i++)); do
  docker run -d --name "filler$i" --network none bb sh -c \
    "${writers[i % 3]}; touch /after 2>&1; echo \"touch exit \$?\"" >/dev/null
done
enospc=0
for ((i = 0; i < FILLERS; i++)); do
  docker wait "filler$i" >/dev/null
  docker logs "filler$i" >"$T/filler$i.out" 2>&1
  sed "s/^/filler$i: /" "$T/filler$i.out"
  grep -q 'write exit 0' "$T/filler$i.out" && fail "filler$i: 4000 MiB fit on a $SMALL home (fsync returned success: data lost)"
  outcome=$(grep -m1 -oE 'No space left on device|Read-only file system|I/O error|Input/output error' "$T/filler$i.out" || echo "no error text")
  if [ "$outcome" = "No space left on device" ] && ! grep -q 'Read-only' "$T/filler$i.out"; then
    enospc=$((enospc + 1))
  else
    # the container's ext4 allocated blocks the host could not back: the NBD write error
    # reached ext4 at writeback and it aborted its journal (read-only)
    problems+=("filler$i: the write failed with '$outcome', not ENOSPC ($(grep -c 'Read-only' "$T/filler$i.out") EROFS lines)")
  fi
done
[ "$enospc" -eq "$FILLERS" ] && ok "$FILLERS writers got ENOSPC inside their containers (host free: $(avail) MiB)"
failed_io=$(grep -cE 'nbd: .*: (WRITE|FLUSH|WRITE_ZEROES|TRIM):' "$T/buse.log" || true)
[ "$failed_io" -eq 0 ] || problems+=("$failed_io NBD writes or flushes failed (see buse.log)")
reserve=$(grep -c 'of the emergency reserve' "$T/buse.log" || true)
activate "$BUSE_SOCK" || fail "buse serve does not answer on a full disk"
docker exec steady cat /etc/motd >/dev/null || fail "another container cannot read"
"$BUSE" fsck --home "$BUSE_HOME" --no-e2fsck >"$T/fsck.full" 2>&1 ||
  { cat "$T/fsck.full"; fail "buse fsck (store structure) on the full disk"; }
"$BUSE" fsck --home "$BUSE_HOME" --tmpdir "$T" >"$T/fsck.full2" 2>&1 ||
  problems+=("buse fsck with e2fsck on the full disk: $(grep -v '^ok' "$T/fsck.full2" | head -n 3 | tr '\n' ' ')")
ok "buse up, other container reads, store structure consistent while the disk is full"

for ((i = 0; i < FILLERS; i++)); do docker rm -f "filler$i" >/dev/null || fail "docker rm of filler$i"; done
ok "space freed: $(avail) MiB free"
docker run --name after --network none bb sh -c \
  'dd if=/dev/urandom of=/f bs=1M count=50 conv=fsync 2>/dev/null && md5sum /f >/f.md5 && sync /f.md5 && md5sum -c -s /f.md5' ||
  fail "a container cannot write after space was freed"
docker start -a after >/dev/null 2>&1 || true
assert_eq "$(docker run --rm --network none bb cat /etc/motd)" "buse test image" "a new container"
docker rm -f after steady >/dev/null
"$BUSE" fsck --home "$BUSE_HOME" --tmpdir "$T" >"$T/fsck.after" 2>&1 ||
  { cat "$T/fsck.after"; fail "buse fsck after freeing space"; }
ok "works again after freeing space; fsck clean"
docker rmi bb >/dev/null
stop_dockerd d1
stop_buse_daemon || true
# what remains is the test's own small filesystem: one mount, one loop device
assert_eq "$(kernel_state "$T")" "mounts=1 loops=1 nbdfuse=0" "only the small filesystem is mounted"
if [ ${#problems[@]} -gt 0 ]; then
  printf 'problem: %s\n' "${problems[@]}"
  fail "full host disk: ${problems[0]}"
fi
counts "host-disk-full=1 writers=$FILLERS enospc-in-container=$enospc failed-nbd-writes=$failed_io reserve-log-lines=$reserve buse-crashes=0 fsck-clean=2 recovered=1"
