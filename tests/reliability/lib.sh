# shellcheck shell=bash
# Helpers for tests/reliability (and the quick variants in tests/reliability-ci, which run the
# same scripts with smaller numbers).  Source after ../functions.sh or ../docker/lib.sh.
#   counts KEY=VALUE...   one "counts:" line for the report (faults injected, inputs, lost)
#   kernel_state DIR      mounts, loop devices and nbdfuse processes that name DIR
#   activate SOCKET       the daemon answers Plugin.Activate
#   kill9 PID             SIGKILL a buse process and reap it; fails if it cannot exit

counts() { echo "counts: $*"; }

# kernel_state DIR: "mounts=N loops=N nbdfuse=N" of the objects under DIR.
kernel_state() {
  local m l f
  m=$(findmnt -rn -o TARGET | grep -cF "$1/" || true)
  # from sysfs: losetup's LOOP_GET_STATUS hangs on a loop device whose FUSE file is stuck
  l=$(cat /sys/block/loop*/loop/backing_file 2>/dev/null | grep -cF "$1/" || true)
  f=$(pgrep -af nbdfuse | grep -cF "$1/" || true)
  echo "mounts=$m loops=$l nbdfuse=$f"
}

# activate SOCKET: Plugin.Activate answers within 10 s.
activate() {
  curl -sf -m 10 --unix-socket "$1" -X POST http://buse/Plugin.Activate | grep -q GraphDriver
}

# kill9 PID: SIGKILL buse PID and reap it.  A process can only finish dying once every thread
# leaves the kernel: a thread blocked on I/O to a layer that this very process serves (its
# nbdfuse child waits for replies from a server whose socket stays open until the process is
# gone) never does.  After 20 s that is reported with the stuck threads' kernel stacks, and
# the process's own nbdfuse children are killed (their FUSE requests then fail, the thread
# returns, the process exits) so the test can clean up; returns 1.
kill9() {
  local pid=$1 i n stacks kids
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    n=$(ls "/proc/$pid/task" 2>/dev/null | wc -l)
    [ "$n" -le 1 ] && { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  stacks=$(cat /proc/"$pid"/task/*/stack 2>/dev/null | awk '{ print $2 }' | cut -d+ -f1 | head -n 8 | tr '\n' ' ')
  kids=$(pgrep -P "$pid" -d ' ' nbdfuse || true)
  echo "kill9: buse $pid still has $n threads 20 s after SIGKILL (kernel stack: $stacks);" \
    "killing its nbdfuse children: $kids"
  # shellcheck disable=SC2086
  [ -z "$kids" ] || kill -KILL $kids
  for ((i = 0; i < 200; i++)); do [ -d "/proc/$pid/task" ] && [ "$(ls "/proc/$pid/task" | wc -l)" -gt 1 ] || break; sleep 0.1; done
  wait "$pid" 2>/dev/null || true
  return 1
}
