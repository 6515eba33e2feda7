# shellcheck shell=bash
# Helpers for tests/ops (the operator commands, the remote export, metrics, packaging).
#   source "$(dirname "$0")/lib.sh"      (it sources ../functions.sh)
source "$(dirname "${BASH_SOURCE[0]}")/../functions.sh"

OPS_SERVE=$BUILD/tests/tools/ops-serve

# free_port: an unused TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# make_fs_image FILE SIZE: an ext4 image holding rootfs/ with a few files (no mounts needed).
make_fs_image() {
  local img=$1 size=$2 src=$T/src
  mkdir -p "$src/rootfs/etc" "$src/rootfs/bin" "$src/rootfs/empty"
  echo "buse ops test" >"$src/rootfs/etc/motd"
  head -c 3M /dev/urandom >"$src/rootfs/bin/blob"
  ln -s ../etc/motd "$src/rootfs/bin/link"
  truncate -s 10M "$src/rootfs/sparse"
  rm -f "$img"
  mke2fs -q -F -t ext4 -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 -d "$src" "$img" "$size" ||
    fail "mke2fs"
}

# nbd_home_start HOME: `buse nbd --home HOME` on $T/sock (BUSE_PID).
nbd_home_start() {
  rm -f "$T/sock"
  start_buse nbd --unix "$T/sock" --home "$1"
  wait_for test -S "$T/sock"
}
uri() { echo "nbd+unix:///$1?socket=$T/sock"; }

# scan_store HOME: layers l1 (holding make_fs_image's filesystem) and l2 (its child, with one
# more file written at the block level), 64 MiB each.  $T/fs.img is l1's content.
scan_store() {
  local h=$1
  requires nbdcopy mke2fs e2fsck
  "$BUSE" layer create l1 --home "$h" --base-size 64M >/dev/null || fail "layer create l1"
  make_fs_image "$T/fs.img" 64M
  nbd_home_start "$h"
  nbdcopy "$T/fs.img" "$(uri l1)" || fail "nbdcopy into l1"
  stop_pid "$BUSE_PID"
  "$BUSE" layer create l2 --parent l1 --home "$h" >/dev/null || fail "layer create l2"
}

# ops_serve_start HOME EXPORT-SPEC|- METRICS|-: the test harness of tests/tools/ops-serve.c.
ops_serve_start() {
  [ -x "$OPS_SERVE" ] || fail "$OPS_SERVE not built"
  rm -f "$T/sock"
  "$OPS_SERVE" "$1" "$T/sock" "$2" "$3" >>"$T/ops-serve.log" 2>&1 &
  OPS_PID=$!
  cleanup_fn "stop_pid $OPS_PID"
  wait_for grep -q ready "$T/ops-serve.log"
}
