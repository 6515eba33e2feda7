# Helpers for tests/nbd: source after ../functions.sh.
# nbd_start ARGS...: `buse nbd --unix $T/sock ARGS` in the background; waits for the socket.
nbd_start() {
  start_buse nbd --unix "$T/sock" "$@"
  wait_for test -S "$T/sock"
}
# nbd_uri NAME: the URI of export NAME on $T/sock.
nbd_uri() { echo "nbd+unix:///$1?socket=$T/sock"; }
# nbdsh and python with libnbd's bindings: Debian's python3 (a pyenv python may shadow it).
nbdsh() { PATH=/usr/bin:$PATH command nbdsh "$@"; }
nbdpy() { PATH=/usr/bin:$PATH python3 "$@"; }
requires_nbdsh() {
  requires nbdsh
  nbdsh -c 'pass' >/dev/null 2>&1 || skip "nbdsh: python3-libnbd not usable"
}
# sparse_file PATH SIZE_MIB: a sparse file with random data regions (1 MiB, at 37 MiB steps,
# plus a few unaligned small ones).
sparse_file() {
  local f=$1 size=$2 i
  truncate -s "${size}M" "$f"
  for ((i = 1; i < size; i += 37)); do
    dd if=/dev/urandom of="$f" bs=1M count=1 seek="$i" conv=notrunc status=none
  done
  for i in 5 77 301; do
    [ "$i" -lt "$size" ] || continue
    dd if=/dev/urandom of="$f" bs=1000 count=3 seek=$((i * 1049)) conv=notrunc status=none
  done
}
# disk_kib PATH: allocated KiB.
disk_kib() { du -k "$1" | cut -f1; }
