#!/usr/bin/env bash
# Row 12: a real image.  A Debian bookworm minbase rootfs made once with debootstrap (python3,
# gcc, make; QUICK: python3 only) and cached as a tar under bench/work, then on dockerd:
# `docker import`, `docker run --rm IMG python3 -c 'import json'`, `dpkg -l; dpkg --verify
# coreutils`, a build (COPY + compileall of a stdlib dir + a small C build) and `docker save`.
# The halves run ABAB (buse, overlay2, buse, overlay2): the machine is shared, so medians of
# interleaved rounds.  vfs only in the full run (its import copies the whole tree per layer).
source "$(dirname "$0")/../lib.sh"

INCLUDE=$(q python3 python3,gcc,make)
N=$(q 3 7)

# debian_tar: the cached rootfs tar (built once per include set).
debian_tar() {
  local tar=$BENCH_WORK/debian-${INCLUDE//,/-}.tar d mirror
  if [ ! -f "$tar" ]; then
    requires debootstrap
    mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
    d=$(mktemp -d "$BENCH_WORK/debootstrap.XXXXXX")
    debootstrap --variant=minbase --include="$INCLUDE" bookworm "$d" "$mirror" >&2 ||
      fail "debootstrap failed"
    rm -rf "$d"/var/cache/apt/archives/*.deb
    tar --numeric-owner -C "$d" -cf "$tar.tmp" .
    rm -rf "$d"
    mv "$tar.tmp" "$tar"
  fi
  echo "$tar"
}

build_ctx() { # DIR
  mkdir -p "$1/src"
  printf '#include <stdio.h>\nint f%s(void) { return %s; }\n' 1 1 >"$1/src/a.c"
  printf '#include <stdio.h>\nint f1(void);\nint main(void) { printf("%%d\\n", f1()); }\n' >"$1/src/main.c"
  printf 'all: hello\nhello: a.o main.o\n\t$(CC) -o $@ $^\n' >"$1/src/Makefile"
  local run='python3 -m compileall -q /usr/lib/python3.11/json /usr/lib/python3.11/email'
  [[ $INCLUDE == *gcc* ]] && run="$run && make -C /src"
  printf 'FROM deb\nCOPY src /src\nRUN %s\n' "$run" >"$1/Dockerfile"
}

half() {
  local drv=$1 tar i ctx=$T/ctx
  tar=$(debian_tar)
  start_driver "$drv"
  fs_sync
  sample "$drv.import" "$(timed docker import "$tar" deb)"
  docker run --rm --network none deb true
  for ((i = 0; i < N; i++)); do
    sample "$drv.py" "$(timed docker run --rm --network none deb python3 -c 'import json')"
    sample "$drv.dpkg" "$(timed docker run --rm --network none deb sh -c \
      'dpkg -l >/dev/null; dpkg --verify coreutils')"
  done
  build_ctx "$ctx"
  sample "$drv.build" "$(timed docker build --network none -q -t deb2 "$ctx")"
  fs_sync
  sample "$drv.save" "$(timed docker save -o "$T/save.tar" deb2)"
  rm -f "$T/save.tar"
}

report() {
  local w="debian bookworm minbase ($INCLUDE)"
  emit 12 "$w: docker import" s buse.import overlay2 overlay2.import le 1.2 "≤ 1.2×"
  emit 12 "$w: run python3 -c 'import json'" s buse.py overlay2 overlay2.py le 1.3 "≤ 1.3×"
  emit 12 "$w: run dpkg -l; dpkg --verify" s buse.dpkg overlay2 overlay2.dpkg le 1.3 "≤ 1.3×"
  emit 12 "$w: docker build (COPY, compileall, cc)" s buse.build overlay2 overlay2.build le 1.2 "≤ 1.2×"
  emit 12 "$w: docker save" s buse.save overlay2 overlay2.save le 1.3 "≤ 1.3×"
  [ "$QUICK" = 1 ] || emit 12 "$w: docker import" s buse.import vfs vfs.import - - "(info)"
}

# Built before the halves, outside their timeout (debootstrap takes minutes the first time).
[ "${1:-}" = --half ] || debian_tar >/dev/null
if [ "$QUICK" = 1 ]; then
  bench_main "$@" buse overlay2 buse overlay2
else
  bench_main "$@" buse overlay2 buse overlay2 vfs
fi
