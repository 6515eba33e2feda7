# Helpers for tests/attach: run `buse attach` in the background and wait for its device.
# Source after ../functions.sh.

# attach_bg NAME ARGS...: start "buse attach ARGS" in the background; its stdout goes to
# $T/NAME.out and stderr to $T/NAME.err; ATTACH_PID is set; stopped (SIGTERM) at exit.
attach_bg() {
  local name=$1; shift
  : >"$T/$name.out"
  "$BUSE" attach "$@" >"$T/$name.out" 2>"$T/$name.err" &
  ATTACH_PID=$!
  cleanup_fn "stop_pid $ATTACH_PID"
}

# attach_wait NAME: wait until the attach started as NAME printed its device; echo it.
attach_wait() {
  local name=$1 i
  for ((i = 0; i < 300; i++)); do
    if [ -s "$T/$name.out" ]; then head -n1 "$T/$name.out"; return 0; fi
    if ! kill -0 "$ATTACH_PID" 2>/dev/null; then
      cat "$T/$name.err" >&2; fail "buse attach $name exited before attaching"
    fi
    sleep 0.1
  done
  cat "$T/$name.err" >&2
  fail "buse attach $name printed no device within 30 s"
}

# Leftovers anywhere under DIR: loop devices backed by files under it, mounts under it,
# nbdfuse processes with it on their command line.  Prints them; returns 1 if any.
leftovers() {
  local dir=$1 bad=0 f p
  for f in /sys/block/loop*/loop/backing_file; do
    [ -f "$f" ] || continue
    case $(cat "$f") in "$dir"*) echo "loop left: $f -> $(cat "$f")"; bad=1 ;; esac
  done
  if grep -q " $dir" /proc/self/mountinfo; then grep " $dir" /proc/self/mountinfo; bad=1; fi
  for p in /proc/[0-9]*; do
    if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q "^nbdfuse .*$dir"; then
      echo "nbdfuse left: ${p#/proc/}"; bad=1
    fi
  done
  return $bad
}

# An ext4 image file of SIZE with a few files in it.
make_image() {
  local img=$1 size=$2
  truncate -s "$size" "$img"
  mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$img"
}

# attach_lost NAME WHAT: after the device under the mount of `attach_bg a ... --mount $T/mnt
# NAME` was lost, buse attach exits within 10 s with status 1 and an error naming layer NAME
# and matching WHAT, unmounted, leaving nothing behind.
attach_lost() {
  local i rc=0
  for ((i = 0; i < 100; i++)); do kill -0 "$ATTACH_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$ATTACH_PID" 2>/dev/null && fail "buse attach still running 10 s after the loss"
  wait "$ATTACH_PID" || rc=$?
  cat "$T/a.err"
  [ "$rc" -eq 1 ] || fail "exit status $rc, want 1"
  grep -q "layer $1" "$T/a.err" || fail "error does not name the layer"
  grep -q "$2" "$T/a.err" || fail "error does not say what happened ($2)"
  ok "error: $(grep -m1 "layer $1" "$T/a.err")"
  mountpoint -q "$T/mnt" && fail "layer still mounted"
  # (the loop device name may already serve someone else: look for our backing file)
  for ((i = 0; i < 50; i++)); do leftovers "$T" >/dev/null && break; sleep 0.1; done
  leftovers "$T" || fail "leftovers"
  ok "nothing left behind"
}
