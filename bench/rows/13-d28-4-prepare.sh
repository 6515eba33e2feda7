#!/usr/bin/env bash
# Row 13 (Docker 28), snapshot cost: Prepare of a child of a committed snapshot holding a
# 1 GiB or a 9 GiB file (QUICK: 64 MiB, 256 MiB) through containerd 2.1.9's snapshots
# service, timed by bench/preptime (a warm gRPC connection; median of RUNS calls, each child
# removed untimed and the bench fs synced before the next; no dockerd).  9 GiB, not 10: a
# buse snapshot is a 10 GiB ext4 (the layer store's default base size; `buse snapshotter`
# has no option for it), which a 10 GiB file does not fit.  The parent is made with ctr: prepare, mount
# (ctr snapshots mounts), random data written and fsync'd, unmount, commit.  buse's
# snapshotter against overlayfs (goal: < 5 ms, and flat: largest ≤ 2× the smallest), native
# (copies the parent's tree) and blockfile (copies the parent's block file: its scratch is
# sized to each parent, size + 5% + 256 MiB; at 9 GiB native and blockfile run 3 times).
export BENCH_TAG=row13-prepare
source "$(dirname "$0")/../d28.sh"

SIZES=$(q "64 256" "1024 9216")

scratch_for() { echo $(($1 + $1 / 20 + 256)); }

half() {
  local drv=$1 mib bin mnt=$T/mnt n first=1 r
  bin=$(preptime_bin)
  for mib in $SIZES; do
    if [ $first = 1 ]; then
      d28_start "$drv" "$(scratch_for "$mib")" nodockerd
      first=0
      mkdir -p "$mnt"
    elif [ "$drv" = blockfile ]; then
      blockfile_restart "$(scratch_for "$mib")"
    fi
    ctr28 -n bench snapshots --snapshotter "$SN" prepare "base-$mib" >/dev/null
    # Held by containerd's garbage collector as a root until the row ends.
    ctr28 -n bench snapshots --snapshotter "$SN" label "base-$mib" containerd.io/gc.root=bench >/dev/null
    sh -c "$(ctr28 -n bench snapshots --snapshotter "$SN" mounts "$mnt" "base-$mib")" ||
      fail "mounting snapshot base-$mib failed"
    fill_file "$mnt/big" "$mib"
    umount "$mnt"
    # named like dockerd's init layer: a Prepare over it is a container layer, which buse
    # mounts by its first Mounts (--lazy docker, the default), as in dockerd's container create
    ctr28 -n bench snapshots --snapshotter "$SN" commit "parent-$mib-init" "base-$mib"
    ctr28 -n bench snapshots --snapshotter "$SN" label "parent-$mib-init" containerd.io/gc.root=bench >/dev/null
    n=$RUNS
    [ "$mib" -lt 4096 ] || [ "$drv" = buse ] || [ "$drv" = overlayfs ] || n=3
    # One call per preptime run, the fs synced in between: the copies blockfile and native
    # make are written back (and a removed 10 GiB copy's blocks are free again only once
    # ext4's journal has committed its removal).
    for ((r = 0; r < n; r++)); do
      fs_sync
      "$bin" "$C28_SOCK" bench "$SN" "parent-$mib-init" 1 >"$T/out" ||
        fail "preptime $drv $mib MiB failed (run $r; $(df --output=avail -BM "$BENCH_FS" | tail -n 1) free)"
      sample "$drv.prep.$mib" "$(awk '$1 == "prepare_ms" { print $2 }' "$T/out")"
    done
    # blockfile gets a new scratch for the next size; the others keep theirs.
    if [ "$drv" = blockfile ] || [ "$drv" = native ]; then
      ctr28 -n bench snapshots --snapshotter "$SN" rm "parent-$mib-init"
    fi
  done
}

report() {
  local mib first='' last=''
  for mib in $SIZES; do
    emit 13 "d28: Prepare, parent with $mib MiB" ms "buse.prep.$mib" overlayfs "overlayfs.prep.$mib" \
      lt 5 "< 5 ms"
    emit 13 "d28: Prepare, parent with $mib MiB" ms "buse.prep.$mib" native "native.prep.$mib" - - "(info)"
    emit 13 "d28: Prepare, parent with $mib MiB" ms "buse.prep.$mib" blockfile "blockfile.prep.$mib" - - "(info)"
    [ -n "$first" ] || first=$mib
    last=$mib
  done
  emit 13 "d28: Prepare flatness: $last MiB vs $first MiB parent" ms "buse.prep.$last" \
    "buse $first MiB" "buse.prep.$first" le 2 "flat (≤ 2×)"
  emit 13 "d28: Prepare flatness: $last MiB vs $first MiB parent" ms "blockfile.prep.$last" \
    "blockfile $first MiB" "blockfile.prep.$first" - - "(info: blockfile)"
}

# shellcheck disable=SC2086
bench_main "$@" $D28_HALVES
