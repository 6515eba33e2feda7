# Helpers for tests/layers: source after ../functions.sh.
# lnbd_start HOME [ID...]: `buse nbd --home HOME` on $T/sock in the background (BUSE_PID).
lnbd_start() {
  local home=$1; shift
  rm -f "$T/sock"
  start_buse nbd --unix "$T/sock" --home "$home" "$@"
  wait_for test -S "$T/sock"
}
# lnbd_stop: stop the server started by lnbd_start (TERM: it flushes and closes).
lnbd_stop() { stop_pid "$BUSE_PID"; }
luri() { echo "nbd+unix:///$1?socket=$T/sock"; }
# python3 with libnbd's bindings (Debian's python3; a pyenv python may shadow it).
lpy() { PATH=/usr/bin:$PATH python3 "$@"; }
requires_libnbd_py() {
  requires nbdsh
  lpy -c 'import nbd' >/dev/null 2>&1 || skip "python3-libnbd not usable"
}
# jfield JSON KEY: a top-level field of `buse inspect` output.
jfield() { lpy -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
