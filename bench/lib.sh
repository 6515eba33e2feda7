# shellcheck shell=bash
# Helpers for the bench rows (bench/rows/*.sh).  A row script measures one thing on buse and
# on its references ("halves": buse, overlay2, vfs, loop, ...), then reports one or more lines
# of the results table.  Each half runs as its own process (`ROW --half DRIVER`) under a
# timeout, so a half that fails or hangs (the buse daemon not ready, a driver missing) gives
# "n/a (reason)" for that half only, and its cleanups (dockerd, buse, mounts) always run.
#
#   source "$(dirname "$0")/../lib.sh"
#   half() { ...measure on driver $1, record with `sample KEY VALUE`... }
#   report() { emit ROW WHAT UNIT KEY REFNAME REFKEY GOALOP GOALVAL GOALTEXT; ... }
#   bench_main "$@" buse overlay2 vfs
#
# Every data root (buse's home, overlay2's, vfs's) lives on a journaled ext4 in a loop-mounted
# sparse image ($BENCH_FS): the machine's root fs is ext4 without a journal and would flatter
# the reference drivers.  run.sh makes one for the whole run; a row run alone makes its own.
# This reuses tests/docker/lib.sh (private dockerd + containerd, buse serve, busybox image,
# cleanup that stops only the pids it started).
# shellcheck disable=SC2034
source "$(dirname "${BASH_SOURCE[0]}")/../tests/docker/lib.sh"

QUICK=${QUICK:-0}
[ "$QUICK" = 1 ] || QUICK=0
RUNS=${RUNS:-$([ "$QUICK" = 1 ] && echo 3 || echo 5)}
BENCH_WORK=${BENCH_WORK:-$TOP/bench/work}
HALF_TIMEOUT=${HALF_TIMEOUT:-$([ "$QUICK" = 1 ] && echo 180 || echo 1200)}
BUSE_FLAGS=${BUSE_FLAGS:--v} # start_buse_daemon's default is --debug=all, too slow to measure
export GiB=$((1 << 30)) MiB=$((1 << 20))
BENCH_SAMPLES=${BENCH_SAMPLES:-$BENCH_WORK/samples}
export QUICK RUNS BENCH_WORK BUSE_FLAGS BENCH_SAMPLES
mkdir -p "$BENCH_WORK"

# q QUICK FULL: the value for this mode.
q() { if [ "$QUICK" = 1 ]; then echo "$1"; else echo "$2"; fi; }

# bench_fs: make sure $BENCH_FS is a journaled ext4 on a loop device; TMPDIR points into it.
bench_fs() {
  if [ -z "${BENCH_FS:-}" ] || ! mountpoint -q "$BENCH_FS"; then
    local d
    d=$(mktemp -d /tmp/bench.XXXXXX)
    cleanup_fn "bench_fs_release '$d'"
    truncate -s "${BENCH_FS_SIZE:-40G}" "$d/img"
    mkfs.ext4 -q -E lazy_itable_init=1 "$d/img"
    mkdir "$d/fs"
    mount -o loop "$d/img" "$d/fs"
    BENCH_FS=$d/fs
  fi
  BENCH_DEV=$(basename "$(findmnt -n -o SOURCE --target "$BENCH_FS")")
  BENCH_IMG=$(cat "/sys/block/$BENCH_DEV/loop/backing_file")
  export BENCH_FS BENCH_DEV BENCH_IMG TMPDIR=$BENCH_FS
}

# bench_fs_release DIR: unmount (mount -o loop autoclears the loop device) and remove DIR.
bench_fs_release() {
  local d=$1
  reap_mounts "$d/fs" >/dev/null || true
  mountpoint -q "$d/fs" && umount "$d/fs"
  rm -rf "$d"
}

# disk_written: bytes written so far to $BENCH_FS's loop device (after a syncfs).
disk_written() {
  sync -f "$BENCH_FS"
  awk -v d="$BENCH_DEV" '$3 == d { printf "%.0f\n", $10 * 512 }' /proc/diskstats
}

# disk_used DIR: bytes allocated under DIR (sparse files count what they hold).
disk_used() { du -sx --block-size=1 "$1" | cut -f1; }

# fs_sync: syncfs of the bench fs only.  Never a global sync: a stuck FUSE mount from another
# test on this shared machine would block it.
fs_sync() { sync -f "$BENCH_FS"; }

# drop_cache [FILE...]: drop from the page cache every file over 1 MiB under $T (data roots,
# diff files, images), the FILEs, and the bench fs's backing image (the loop device reads it
# through the host's page cache).  Never /proc/sys/vm/drop_caches: on this shared machine it
# blocks (uninterruptibly) on any other test's stuck filesystem.
drop_cache() {
  fs_sync
  { find "$T" -xdev -type f -size +1M -print0; printf '%s\0' "$@" "$BENCH_IMG"; } |
    xargs -0 -r "$(nstime_bin)" --drop
}

# now: seconds since the epoch, microsecond resolution.  since T0: seconds since T0.
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f\n", b - a }'; }

# timed CMD...: run CMD (output discarded), print the seconds it took; fails if CMD fails.
timed() {
  local t0=$EPOCHREALTIME
  "$@" >/dev/null || { echo "timed: failed: $*" >&2; return 1; }
  since "$t0"
}

# sample KEY VALUE: record one measurement.  na KEY REASON: KEY cannot be measured.
sample() { echo "$1 $2" >>"$BENCH_SAMPLES"; echo "sample $1 $2"; }
na() { local k=$1; shift; echo "$k NA $*" >>"$BENCH_SAMPLES"; echo "n/a $k: $*"; }

# stats KEY: "min median max n" of KEY's samples, or nothing.
stats() {
  awk -v k="$1" '$1 == k && $2 != "NA" { print $2 }' "$BENCH_SAMPLES" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) exit
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%.6g %.6g %.6g %d\n", v[1], m, v[NR], NR }'
}
median() { stats "$1" | awk '{ print $2 }'; }
na_reason() { awk -v k="$1" '$1 == k && $2 == "NA" { $1 = $2 = ""; r = substr($0, 3) } END { print r }' "$BENCH_SAMPLES"; }

# _cell KEY: "median (min–max, n=N)" or "n/a (reason)".
_cell() {
  local s r
  s=$(stats "$1")
  if [ -n "$s" ]; then
    # shellcheck disable=SC2086
    set -- $s
    printf '%.4g (%.4g–%.4g, n=%d)' "$2" "$1" "$3" "$4"
    return
  fi
  r=$(na_reason "$1")
  [ -n "$r" ] || r=$(na_reason "${1%%.*}")
  echo "n/a (${r:-not measured})"
}

# emit ROW WHAT UNIT KEY REFNAME REFKEY OP VAL GOALTEXT: one line of the results table.
# ratio = median(KEY) / median(REFKEY); OP le|ge compares the ratio with VAL, lt compares
# median(KEY) itself with VAL (an absolute goal; the ratio is still shown); - is no goal.
emit() {
  local row=$1 what=$2 unit=$3 key=$4 refname=$5 refkey=$6 op=$7 val=$8 goal=$9
  local b r ratio=n/a met=n/a refcell=-
  [ "$op" != - ] || met=-
  [ "$refkey" = - ] || refcell=$(_cell "$refkey")
  b=$(median "$key") r=$(median "$refkey")
  [ -n "$b" ] && [ -n "$r" ] && ratio=$(awk -v b="$b" -v r="$r" \
    'BEGIN { if (r == 0) print "inf"; else printf "%.4g\n", b / r }')
  case $op in
    le | ge) [ "$ratio" = n/a ] || met=$(awk -v x="$ratio" -v v="$val" -v op="$op" \
      'BEGIN { ok = (op == "le") ? (x <= v) : (x >= v); print ok ? "yes" : "no" }') ;;
    lt) [ -z "$b" ] || met=$(awk -v x="$b" -v v="$val" 'BEGIN { print (x < v) ? "yes" : "no" }') ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$what" "$unit" "$(_cell "$key")" \
    "$refname" "$refcell" "$ratio" "$goal" "$met" \
    "$op" "$val" | tee -a "$BENCH_WORK/results.tsv"
}

# run_half DRIVER: run this row's half for DRIVER in its own process, under a timeout.
run_half() {
  local drv=$1 log=$BENCH_WORK/$BENCH_TAG-$1.log rc reason
  echo "== row $BENCH_ROW: $drv"
  rc=0
  timeout -k 15 "$HALF_TIMEOUT" bash "$BENCH_SCRIPT" --half "$drv" >"$log" 2>&1 </dev/null || rc=$?
  grep -E '^(sample|n/a) ' "$log" | sed 's/^/   /' || true
  [ $rc -eq 0 ] && return 0
  reason=$(grep -E '^(FAIL|SKIP): ' "$log" | tail -n 1 | cut -d' ' -f2- | cut -c1-70) || true
  [ $rc -ne 124 ] || reason="timed out after ${HALF_TIMEOUT}s"
  [ -n "$reason" ] || reason="exit $rc, see bench/work/${log##*/}"
  na "$drv" "$reason"
}

# bench_main "$@" DRIVER...: `ROW --half DRIVER` runs half DRIVER; `ROW` runs every half in
# turn, then the row's report.  BENCH_DRIVERS (space-separated) narrows the list.  Logs and
# samples are named rowN (BENCH_TAG, set by a row whose number other scripts share too).
bench_main() {
  BENCH_SCRIPT=$(realpath "$0")
  BENCH_ROW=$(basename "$0" | cut -d- -f1)
  BENCH_TAG=${BENCH_TAG:-row$BENCH_ROW}
  export BENCH_SCRIPT BENCH_ROW BENCH_TAG
  if [ "${1:-}" = --half ]; then
    # A reference half needs no buse binary (tests/docker/lib.sh checks it unless told).
    [ "$2" = buse ] || export DOCKER_TEST_DRIVER=$2
    docker_requires
    bench_fs
    docker_scratch
    half "$2"
    exit 0
  fi
  export BENCH_SAMPLES=$BENCH_WORK/$BENCH_TAG.samples
  : >"$BENCH_SAMPLES"
  bench_fs # one loop fs for every half of a row run alone
  local d
  for d in "$@"; do
    [ -z "${BENCH_DRIVERS:-}" ] || [[ " $BENCH_DRIVERS " == *" $d "* ]] || { na "$d" skipped; continue; }
    run_half "$d"
  done
  report
}

# start_driver DRIVER [DOCKERD-ARGS]: dockerd "d1" on DRIVER (buse: a private buse serve too).
start_driver() {
  local drv=$1
  shift
  if [ "$drv" = buse ]; then
    start_buse_daemon
    start_dockerd d1 "$BUSE_DRIVER" "$@"
  else
    start_dockerd d1 "$drv" "$@"
  fi
  DATA_ROOT=${DOCKERD_ROOT[d1]}
}

# busybox_dir: an unpacked busybox rootfs under $T (for building bigger images).
busybox_dir() {
  [ -d "$T/bb" ] || { mkdir "$T/bb" && tar -C "$T/bb" -xf "$(busybox_tar)"; }
  echo "$T/bb"
}

# import_dir DIR NAME: docker import of DIR's tree as image NAME.
import_dir() { tar -C "$1" -c . | docker import -c 'CMD ["/bin/sh"]' - "$2" >/dev/null; }

# gdbench: path of bench/gdbench built with go (moby's vfs/overlay2 from Debian's source).
gdbench() {
  local bin=$BUILD/bench/gdbench src=$TOP/bench/gdbench
  requires go
  [ -d /usr/share/gocode/src/github.com/docker/docker/daemon/graphdriver ] ||
    skip "golang-github-docker-docker-dev not installed"
  if [ ! -x "$bin" ] || [ -n "$(find "$src" -newer "$bin" -name '*.go')" ]; then
    mkdir -p "$BUILD/bench"
    (cd "$src" && GO111MODULE=off GOPATH=$src/stub:/usr/share/gocode \
      GOCACHE=$BUILD/bench/gocache go build -o "$bin" .) >&2 || fail "building gdbench failed"
  fi
  echo "$bin"
}

# nstime_bin: bench/nstime.c built static (for copying into images).
nstime_bin() {
  local bin=$BUILD/bench/nstime
  if [ ! -x "$bin" ] || [ "$TOP/bench/nstime.c" -nt "$bin" ]; then
    mkdir -p "$BUILD/bench"
    cc -O2 -static -o "$bin" "$TOP/bench/nstime.c" || fail "building nstime failed"
  fi
  echo "$bin"
}

# big_image NAME MIB: busybox + /nstime + /big (MIB MiB of random data), imported as NAME.
big_image() {
  local d=$T/big-image
  mkdir -p "$d"
  tar -C "$d" -xf "$(busybox_tar)"
  install -m 0755 "$(nstime_bin)" "$d/nstime"
  head -c $(($2 * MiB)) /dev/urandom >"$d/big"
  import_dir "$d" "$1"
  rm -rf "$d"
}

# in_container_time CTR CMD...: `docker exec CTR /nstime CMD...`, prints the seconds.
in_container_time() {
  local c=$1 out
  shift
  out=$(docker exec "$c" /nstime "$@" 2>&1 >/dev/null) || { echo "$out" >&2; return 1; }
  echo "$out" | awk '$1 == "nstime" { print $2 }'
}

# generated_tar FILES MIB: a busybox rootfs plus FILES generated files (MIB MiB in all) as a
# tar, made once per bench fs and shared by the halves and rows that ask for the same size.
generated_tar() {
  local tar=$BENCH_FS/cache/rootfs-$1-$2.tar d
  if [ ! -f "$tar" ]; then
    mkdir -p "$BENCH_FS/cache"
    d=$(mktemp -d "$BENCH_FS/cache/tree.XXXXXX")
    tar -C "$d" -xf "$(busybox_tar)"
    python3 "$TOP/bench/gen-tree.py" "$d" "$1" "$2"
    tar --sort=name --owner=0 --group=0 --numeric-owner -C "$d" -cf "$tar.tmp" .
    rm -rf "$d"
    mv "$tar.tmp" "$tar"
  fi
  echo "$tar"
}
