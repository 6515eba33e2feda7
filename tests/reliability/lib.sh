# shellcheck shell=bash
# Helpers for tests/reliability (and the quick variants in tests/reliability-ci, which run the
# same scripts with smaller numbers).  Source after ../functions.sh or ../docker/lib.sh.
#   counts KEY=VALUE...   one "counts:" line for the report (faults injected, inputs, lost)
#   kernel_state DIR      mounts, loop devices and nbdfuse processes that name DIR
#   buse_alive            the daemon answers Plugin.Activate on $BUSE_SOCK / $SOCK

counts() { echo "counts: $*"; }

# kernel_state DIR: "mounts=N loops=N nbdfuse=N" of the objects under DIR.
kernel_state() {
  local m l f
  m=$(findmnt -rn -o TARGET | grep -cF "$1/" || true)
  l=$(losetup -l -n -O BACK-FILE 2>/dev/null | grep -cF "$1/" || true)
  f=$(pgrep -af nbdfuse | grep -cF "$1/" || true)
  echo "mounts=$m loops=$l nbdfuse=$f"
}

# activate SOCKET: Plugin.Activate answers within 10 s.
activate() {
  curl -sf -m 10 --unix-socket "$1" -X POST http://buse/Plugin.Activate | grep -q GraphDriver
}
