# Shared helpers for integration tests: source "$(dirname "$0")/../functions.sh".
# A test exits 0 (pass), 77 (skip, with a line saying why) or anything else (fail).
set -euo pipefail
TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUSE=${BUSE:-$TOP/buse}
BUILD=${BUILD:-$TOP/build}
export TOP BUSE BUILD

_cleanups=()
# cleanup_fn CMD...: run CMD at exit (last registered runs first).
cleanup_fn() { _cleanups+=("$*"); }
_run_cleanups() {
  local rc=$? i
  set +e
  trap - ERR
  for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[i]}"; done
  exit $rc
}
trap _run_cleanups EXIT
# A command that fails under set -e names itself (the runner shows the last such line when
# the test wrote no FAIL: line); errtrace carries the trap into functions and subshells.
set -E
trap 'echo "ERR: ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND (exit $?)" >&2' ERR

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
requires() { local c; for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip "$c not installed"; done; }
requires_root() { [ "$(id -u)" -eq 0 ] || skip "needs root"; }
requires_fuse() { [ -c /dev/fuse ] || skip "no /dev/fuse"; requires nbdfuse losetup; }

# assert_eq GOT WANT WHAT
assert_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; ok "$3 = $2"; }

# A private scratch directory, removed at exit.
scratch() {
  T=$(mktemp -d "${TMPDIR:-/tmp}/buse-test.XXXXXX")
  cleanup_fn "rm -rf '$T'"
  export T
}

# wait_for CMD...: retry CMD for up to 20 s.
wait_for() {
  local i
  for ((i = 0; i < 200; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "timed out waiting for: $*"
}

# start_buse ARGS...: run "$BUSE ARGS" in the background, log in $T/buse.log, pid in BUSE_PID;
# stopped at exit.
start_buse() {
  "$BUSE" "$@" >>"$T/buse.log" 2>&1 &
  BUSE_PID=$!
  cleanup_fn "stop_pid $BUSE_PID"
}

# stop_pid PID: TERM, wait up to 10 s, then KILL.
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; return 0
}

# fuse_abort DIR: abort the FUSE connection of the FUSE mount on DIR (buse's own FUSE server,
# or nbdfuse's): every request on it fails from then on, as when its server dies.
fuse_abort() {
  local mm
  mm=$(mountpoint -d "$1") || fail "fuse_abort: $1 is not a mount point"
  [ -d /sys/fs/fuse/connections/"${mm#*:}" ] || mount -t fusectl none /sys/fs/fuse/connections 2>/dev/null || true
  echo 1 >/sys/fs/fuse/connections/"${mm#*:}"/abort || fail "fuse_abort: no fusectl entry for $1 ($mm)"
}
