#!/usr/bin/env bash
# make bench: every row of the benchmark table (bench/rows/N-*.sh), each measuring buse and its
# references in the same run, then the table on stdout, bench/results.md and bench/results.png.
#   QUICK=1   small sizes and fewer runs (under 5 minutes); the full run takes ~30 minutes
#   ROWS='2 5' only these rows;  BENCH_DRIVERS='buse overlay2' only these halves
# One journaled ext4 on a loop device holds every data root for the whole run (the root fs has
# no journal and would flatter the reference drivers).  bench/nbd.sh and bench/layers.sh, when
# present, add their own numbers.  Logs and raw samples stay in bench/work/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export TOP=$top QUICK=${QUICK:-0} BENCH_WORK=$top/bench/work
source "$top/bench/lib.sh"
requires_root
[ -x "$BUSE" ] || { echo "bench: $BUSE not built (make)" >&2; exit 1; }
start=$SECONDS
mkdir -p "$BENCH_WORK"
rm -f "$BENCH_WORK"/*.log "$BENCH_WORK"/*.samples "$BENCH_WORK"/results.tsv "$BENCH_WORK"/extra.txt
# The same binary for the whole run, whatever `make` does in the checkout meanwhile.
cp "$BUSE" "$BENCH_WORK/buse"
export BUSE=$BENCH_WORK/buse
: >"$BENCH_WORK/results.tsv"
BENCH_FS='' bench_fs
echo "bench: QUICK=$QUICK, data roots on $BENCH_FS ($BENCH_DEV, journaled ext4)"

# A row script that dies (not just a half) still gives its row a line (several scripts may
# share a row number: 13-*.sh).
run_row() { # script
  local s=$1 n rc=0 t0=$SECONDS lines
  n=$(basename "$s" .sh)
  echo "==== row ${n%%-*} ($n)"
  lines=$(wc -l <"$BENCH_WORK/results.tsv")
  timeout -k 30 "${ROW_TIMEOUT:-$(q 400 2400)}" bash "$s" || rc=$?
  if [ $rc -ne 0 ] && [ "$(wc -l <"$BENCH_WORK/results.tsv")" -eq "$lines" ]; then
    printf '%s\t%s\t-\tn/a (row failed: exit %s)\t-\t-\tn/a\t-\tn/a\t-\t-\n' "${n%%-*}" "$n" \
      "$rc" >>"$BENCH_WORK/results.tsv"
  fi
  echo "     ($((SECONDS - t0)) s)"
  # Give freed blocks back to the host (the image is sparse; a full run writes ~100 GiB).
  fstrim "$BENCH_FS" 2>/dev/null || true
}

# Other engineers' scripts: their output goes into results.md as it is.
run_extra() { # script title
  [ -f "$1" ] || return 0
  [ -z "${ROWS:-}" ] || [[ " $ROWS " == *" ${3:-x} "* ]] || return 0
  echo "==== $2 (${1#"$top"/})"
  local out rc=0 t0=$SECONDS
  # QUICK: at most 150 s (what is printed by then is kept).
  out=$(BENCH_DIR=$BENCH_FS timeout -k 30 "$(q 150 1200)" bash "$1" 2>&1) || rc=$?
  echo "$out"
  { echo "### $2 (\`${1#"$top"/}\`)"; echo '```'; echo "$out"
    [ $rc -eq 0 ] || echo "(exit $rc)"; echo '```'; echo; } >>"$BENCH_WORK/extra.txt"
  [ -z "${4:-}" ] || echo "$out" | "$4"
  echo "     ($((SECONDS - t0)) s)"
}

# bench/nbd.sh: rows of its own in the results format, or free text.
nbd_rows() {
  grep -P '^1\t' >>"$BENCH_WORK/results.tsv" || true
}

run_extra "$top/bench/nbd.sh" "NBD server vs nbdkit" 1 nbd_rows
for s in "$top"/bench/rows/[0-9]*-*.sh; do
  r=$(basename "$s" | cut -d- -f1)
  [ -z "${ROWS:-}" ] || [[ " $ROWS " == *" $r "* ]] || continue
  run_row "$s"
done
run_extra "$top/bench/layers.sh" "Layer store through the C API" 3

bash "$top/bench/report.sh" "$BENCH_WORK" "$top/bench" "$((SECONDS - start))"
