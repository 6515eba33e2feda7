# shellcheck shell=bash
# Helpers for the reliability tests of buse's containerd snapshotter (Docker 28 path:
# tests/docker28/lib.sh's d28_setup buse).  Source after ../docker28/lib.sh and ./lib.sh.
#   snap_image MB         the big image as a `docker save` tar of the overlayfs dockerd "ref"
#                         (cached), and the tree's checksums a container on "ref" printed:
#                         sets SNAPIMG_TAR, SNAPIMG_SUMS (image name: snapimg:latest)
#   TREE_SUMS             the sh script a container runs to print those checksums
#   snap_leaks            mounts and loop devices under $T, nbdfuse processes naming $T,
#                         children of the snapshotter, processes naming $T that are no
#                         daemon of ours: one sorted list (empty when nothing is running)
#   snap_home_ls          what the snapshotter's home holds: the entries of layers/, diffs/,
#                         snapshots/ (records), mnt/ and state/kdev/ (device records)
#   snap_gc_wait SECONDS  wait until containerd's GC removed every snapshot of namespace bu
#                         but $SNAP_BASE_COUNT (default 0) and the home's listing is
#                         $SNAP_BASE_LS again; 1 if not in time
#   rand_delay MIN MAX    a random number of seconds (two decimals) from $RANDOM
SNAP_CACHE=${SNAP_CACHE:-/var/cache/buse-test/reliability}

# Regular files: name, type, mode, owner, size, links, mtime, link target; directories
# without their times; then the md5 of every regular file.  /etc is left out (dockerd
# bind-mounts hosts, hostname and resolv.conf into it).
# shellcheck disable=SC2016
TREE_SUMS='cd / && { find data bin -xdev ! -type d -exec stat -c "%n %F %a %u:%g %s %h %Y %N" {} +
  find data bin -xdev -type d -exec stat -c "%n %F %a %u:%g" {} +
  find data bin -xdev -type f -exec md5sum {} +; } | sort'

# snap_image MB: make (once per MB and generator version, under $SNAP_CACHE, locked) the
# image: busybox, then small.tar and big.tar of snap-image.py ADDed, then a RUN that deletes
# and changes files (4 layers), built by the legacy builder on "ref", saved, and checksummed
# by a container on "ref".
snap_image() {
  local mb=$1 key dir
  key=$(cat "$TOP/tests/reliability/snap-image.py" "$TOP/tests/images/busybox.sh" - <<<"$TREE_SUMS $mb" |
    md5sum | cut -c1-12)
  SNAPIMG_TAR=$SNAP_CACHE/snapimg-$mb-$key.tar SNAPIMG_SUMS=$SNAP_CACHE/snapimg-$mb-$key.sums
  mkdir -p "$SNAP_CACHE"
  exec {_snaplock}>"$SNAP_CACHE/.lock"
  flock "$_snaplock"
  if [ -s "$SNAPIMG_TAR" ] && [ -s "$SNAPIMG_SUMS" ]; then
    exec {_snaplock}>&-
    echo "image: cached $SNAPIMG_TAR ($(du -m "$SNAPIMG_TAR" | cut -f1) MiB)"
    return 0
  fi
  local start=$SECONDS
  dir=$T/snapimg-ctx
  rm -rf "$dir" && mkdir -p "$dir"
  python3 "$TOP/tests/reliability/snap-image.py" "$dir" "$mb" >/dev/null || fail "snap-image.py"
  dk ref image inspect bb >/dev/null 2>&1 || make_busybox_image bb ref
  DOCKER_BUILDKIT=0 dk ref build -q -t snapimg "$dir" >/dev/null || fail "legacy build of snapimg on ref"
  dk ref save -o "$SNAPIMG_TAR.tmp" snapimg || fail "docker save snapimg on ref"
  dk ref run --rm --network none snapimg sh -c "$TREE_SUMS" >"$SNAPIMG_SUMS.tmp" ||
    fail "checksums of snapimg on ref"
  [ "$(grep -c ' regular file ' "$SNAPIMG_SUMS.tmp")" -gt 1000 ] || fail "snapimg on ref: too few files"
  mv "$SNAPIMG_TAR.tmp" "$SNAPIMG_TAR"
  mv "$SNAPIMG_SUMS.tmp" "$SNAPIMG_SUMS"
  exec {_snaplock}>&-
  dk ref rmi snapimg >/dev/null
  rm -rf "$dir"
  echo "image: made $SNAPIMG_TAR ($(du -m "$SNAPIMG_TAR" | cut -f1) MiB) in $((SECONDS - start)) s"
}

# sums_bytes FILE: the bytes of the regular files a TREE_SUMS listing names.
sums_bytes() { awk '$2 == "regular" && $3 == "file" { s += $6 } END { print s + 0 }' "$1"; }

snap_leaks() {
  local p kids='' known=" $C28_PID $SNAP_PID ${DOCKERD_PID[*]} "
  mounts_under "$T" | sed 's/^/mount /'
  loops_under "$T" | sed 's/^/loop /'
  pgrep -a nbdfuse | grep -F -- "$T/" | sed 's/^[0-9]* /nbdfuse /' || true
  # the snapshotter's children by name (its watchdog is one; nbdfuse while it has mounts)
  [ -z "$SNAP_PID" ] || kids=" $(pgrep -d ' ' -P "$SNAP_PID" || true) "
  for p in $kids; do echo "child-of-snapshotter $(cat "/proc/$p/comm")"; done
  for p in $(pgrep -f -- "$T/" || true); do
    [[ $known == *" $p "* || $kids == *" $p "* ]] || [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
    echo "process $(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-160)"
  done
} 2>/dev/null

snap_home_ls() {
  local d
  for d in layers diffs snapshots mnt state/kdev; do
    [ -d "$SNAP_HOME/$d" ] && find "$SNAP_HOME/$d" -mindepth 1 -maxdepth 1 -printf "$d/%f\n"
  done | sort
}

snap_count() { ctr28 -n bu snapshots --snapshotter buse ls 2>/dev/null | tail -n +2 | wc -l; }

snap_gc_wait() {
  local i
  for ((i = 0; i < $1 * 2; i++)); do
    [ "$(snap_count)" -eq "${SNAP_BASE_COUNT:-0}" ] && [ "$(snap_home_ls)" = "$SNAP_BASE_LS" ] && return 0
    sleep 0.5
  done
  return 1
}

rand_delay() { awk -v s="$RANDOM" -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + (s / 32767) * (b - a) }'; }

# snap_stop_all: stop both dockerds, containerd and the snapshotter (TERM), without the ERR
# trap's noise from reap_mounts finding nothing to unmount.
snap_stop_all() {
  trap - ERR
  stop_dockerd bu
  stop_dockerd ref
  stop_containerd28
  stop_snap
  trap 'echo "ERR: ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND (exit $?)" >&2' ERR
}
