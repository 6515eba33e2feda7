#!/usr/bin/env bash
# Row 3: snapshot cost — the graph driver's Create of a child layer whose parent holds a 1 MiB,
# 1 GiB or 10 GiB file (QUICK: 1 MiB, 256 MiB), parent written through Get then Put.  Timed by
# bench/gdbench, dockerd-free: buse through its plugin socket (HTTP on a kept-alive connection,
# as dockerd's plugin client does), vfs and overlay2 through moby 20.10's own driver code.
# vfs copies the parent (it is skipped at 10 GiB: O(size) is plain at 1 GiB).
# Goal: buse flat (largest ≤ 2× the 1 MiB time) and < 5 ms.
source "$(dirname "$0")/../lib.sh"

SIZES=$(q "1 256" "1 1024 10240")

half() {
  local drv=$1 bin mib target home v
  bin=$(gdbench)
  for mib in $SIZES; do
    [ "$drv" != vfs ] || [ "$mib" -lt 10240 ] || { na "vfs.create.$mib" "skipped (copies 10 GiB)"; continue; }
    home=$T/root-$mib
    target=$drv
    if [ "$drv" = buse ]; then
      [ -n "$BUSE_PID" ] || start_buse_daemon
      target=unix:$BUSE_SOCK home=$BUSE_HOME-$mib
    fi
    GDBENCH_OPTS=buse.basesize=$(q 4G 16G) "$bin" snapshot "$target" "$home" "$mib" "$RUNS" \
      >"$T/out" || fail "gdbench $drv $mib MiB failed"
    while read -r v; do sample "$drv.create.$mib" "$v"; done < <(awk '$1 == "create_ms" { print $2 }' "$T/out")
    [ "$drv" = buse ] || rm -rf "$home"
  done
}

report() {
  local mib last
  for mib in $SIZES; do
    emit 3 "layer Create, parent with $mib MiB" ms "buse.create.$mib" overlay2 \
      "overlay2.create.$mib" lt 5 "< 5 ms"
    emit 3 "layer Create, parent with $mib MiB" ms "buse.create.$mib" vfs "vfs.create.$mib" - - "(info)"
    last=$mib
  done
  emit 3 "Create flatness: $last MiB vs 1 MiB parent" ms "buse.create.$last" "buse 1 MiB" \
    buse.create.1 le 2 "flat (≤ 2×)"
}

bench_main "$@" buse overlay2 vfs
