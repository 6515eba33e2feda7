# shellcheck shell=bash
# Helpers for the Docker 28 rows (bench/rows/13-*.sh): each half is one snapshotter behind a
# private containerd 2.1.9 and (when the row needs one) a dockerd 28.5.2 on it with the
# containerd image store, both as tests/docker28/lib.sh starts them (binaries unpacked from
# sid by tests/docker28/fetch.sh).  The halves: buse (`buse snapshotter`, a proxy plugin) and
# containerd's own overlayfs, native and blockfile.  Every data root (containerd's root with
# the builtins' snapshots and the content store, buse's home, dockerd's root) is under $T on
# the bench fs (a journaled ext4 on a loop device, bench/lib.sh).
#
# blockfile copies its parent's whole block file on every Prepare (io.Copy, which is
# copy_file_range: on ext4, without reflinks, every block is written, holes too), starting
# from a scratch file with an empty ext4 of a fixed size; so a row gives it a scratch just
# large enough for what it holds (d28_start's second argument), and says so.
#   source "$(dirname "$0")/../d28.sh"
#   half() { d28_start "$1" [SCRATCH-MIB] [nodockerd]; ...; }
# shellcheck disable=SC2034
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$TOP/tests/docker28/lib.sh"

D28_HALVES="buse overlayfs native blockfile"
DOCKERD_DEBUG=''                      # no --debug while measuring
SNAP_FLAGS=${SNAP_FLAGS:-$BUSE_FLAGS} # -v (info logs)
D28_NS=d                              # the dockerd's name and containerd namespace
SN='' SN_DIR='' BLOCKFILE_MIB=''

# containerd's config as tests/docker28/lib.sh writes it, plus blockfile's section.
eval "$(declare -f _c28_config | sed '1s/_c28_config/_c28_config_base/')"
_c28_config() {
  _c28_config_base
  [ -z "$BLOCKFILE_MIB" ] || cat <<EOT
[plugins."io.containerd.snapshotter.v1.blockfile"]
  scratch_file = "$T/blockfile-scratch.img"
  fs_type = "ext4"
  mount_options = ["loop"]
  recreate_scratch = true
EOT
}

# blockfile_scratch MIB: $T/blockfile-scratch.img, an empty ext4 of MIB MiB, inode tables and
# journal initialised now (not by the kernel later, in every copy).
blockfile_scratch() {
  rm -f "$T/blockfile-scratch.img"
  truncate -s "${1}M" "$T/blockfile-scratch.img"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$T/blockfile-scratch.img" ||
    fail "mkfs.ext4 of blockfile's scratch failed"
}

# d28_start SNAPSHOTTER [BLOCKFILE-MIB] [nodockerd]: containerd 2.1 (and buse's snapshotter
# for buse) and, unless nodockerd, dockerd "d" on SNAPSHOTTER, the current dockerd.  Sets SN
# (the snapshotter's name in containerd) and SN_DIR (where it keeps its snapshots).
d28_start() {
  SN=$1
  d28_requires
  d28_scratch
  if [ "$SN" = buse ]; then
    snap_requires
    start_snap
    SN_DIR=$SNAP_HOME
  fi
  if [ "$SN" = blockfile ]; then
    BLOCKFILE_MIB=${2:-1024}
    blockfile_scratch "$BLOCKFILE_MIB"
    echo "blockfile scratch: $BLOCKFILE_MIB MiB"
  fi
  start_containerd28
  [ "$SN" = buse ] || SN_DIR=$C28_ROOT/io.containerd.snapshotter.v1.$SN
  if ! ctr28 plugins ls | awk -v p="$SN" '$1 == "io.containerd.snapshotter.v1" && $2 == p { f = ($NF == "ok") } END { exit !f }'; then
    grep -i "snapshotter.v1.$SN" "$T/c28/containerd.log" | tail -n 3
    fail "containerd has no working snapshotter $SN ($(ctr28 plugins ls | awk -v p="$SN" '$2 == p { print $NF }'))"
  fi
  [ "${3:-}" = nodockerd ] || start_dockerd28 "$D28_NS" "$SN"
}

# blockfile_restart MIB: containerd again on the same roots, blockfile with a new scratch of
# MIB MiB (its snapshots must be removed first: they are copies of the old one).
blockfile_restart() {
  stop_containerd28
  BLOCKFILE_MIB=$1
  blockfile_scratch "$BLOCKFILE_MIB"
  echo "blockfile scratch: $BLOCKFILE_MIB MiB"
  rm -f "$C28_SOCK" "$C28_SOCK.ttrpc"
  _c28_config >"$C28_CONFIG"
  _run_containerd28
}

# rss_mib PID: VmRSS of PID in MiB.
rss_mib() { awk '/^VmRSS:/ { printf "%.2f\n", $2 / 1024 }' "/proc/$1/status"; }

# host_used: bytes under the data roots of this half (containerd's root, buse's home, the
# dockerd's root), mounts excluded.
host_used() {
  local d total=0 n
  for d in "$C28_ROOT" "$SNAP_HOME" "${DOCKERD_ROOT[$D28_NS]:-}"; do
    [ -n "$d" ] && [ -d "$d" ] || continue
    n=$(disk_used "$d")
    total=$((total + n))
  done
  echo "$total"
}

# mib_delta A B: (B - A) bytes in MiB.
mib_delta() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b - a) / 1048576 }'; }

# fill_file PATH MIB: MIB MiB of random data (4 MiB of urandom repeated: nothing here dedups
# or compresses, and it is faster than urandom), fsync'd.
fill_file() {
  python3 - "$1" "$2" <<'EOF'
import os, sys
buf = os.urandom(4 << 20)
n = int(sys.argv[2])
with open(sys.argv[1], "wb") as f:
    for i in range(n // 4):
        f.write(buf)
    if n % 4:
        f.write(buf[: (n % 4) << 20])
    f.flush()
    os.fsync(f.fileno())
EOF
}

# emit_d28 ROW WHAT UNIT SUFFIX OP VAL GOALTEXT: buse against overlayfs with the goal, then
# against native and blockfile for information.
emit_d28() {
  local row=$1 what=$2 unit=$3 k=$4 op=$5 val=$6 goal=$7 ref
  emit "$row" "$what" "$unit" "buse.$k" overlayfs "overlayfs.$k" "$op" "$val" "$goal"
  for ref in native blockfile; do
    emit "$row" "$what" "$unit" "buse.$k" "$ref" "$ref.$k" - - "(info)"
  done
}

# preptime_bin: path of bench/preptime built with go (GOPATH mode, Debian's containerd 1.6
# API and grpc sources).
preptime_bin() {
  local bin=$BUILD/bench/preptime src=$TOP/bench/preptime
  requires go
  [ -d /usr/share/gocode/src/github.com/containerd/containerd/api/services/snapshots/v1 ] ||
    skip "golang-github-containerd-containerd-dev not installed"
  if [ ! -x "$bin" ] || [ "$src/main.go" -nt "$bin" ]; then
    mkdir -p "$BUILD/bench"
    (cd "$src" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$BUILD/bench/gocache \
      go build -o "$bin" .) >&2 || fail "building preptime failed"
  fi
  echo "$bin"
}
