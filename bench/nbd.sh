#!/usr/bin/env bash
# bench/nbd.sh: buse's NBD server against nbdkit's file plugin, serving the same file on unix
# sockets, measured alternately in one run: sequential read and write (nbdcopy, MB/s) and
# 4 KiB random read and write IOPS at 64 in flight over 4 connections (nbd-randio).
# Prints a table with ratios (buse / nbdkit, higher is better) and, for bench/run.sh, the
# same numbers as row-1 lines of results.tsv.
#   QUICK=1 smaller file and shorter runs;  RUNS=N samples per cell (default 5)
#   BENCH_DIR where the test file lives (default /var/tmp);  KINDS='randread randwrite' a subset
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUSE=${BUSE:-$top/buse}
randio=${BUILD:-$top/build}/tests/tools/nbd-randio
for c in nbdkit nbdcopy "$BUSE" "$randio"; do
  command -v "$c" >/dev/null || { echo "nbd.sh: $c not found (make; apt install nbdkit libnbd-bin)" >&2; exit 1; }
done
quick=${QUICK:-0}
mib=$([ "$quick" = 1 ] && echo 256 || echo 1024)
secs=$([ "$quick" = 1 ] && echo 2 || echo 5)
runs=${RUNS:-5}
dir=$(mktemp -d "${BENCH_DIR:-/var/tmp}/buse-bench-nbd.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT

dd if=/dev/urandom of="$dir/src.img" bs=1M count="$mib" status=none
cp "$dir/src.img" "$dir/disk.img"
"$BUSE" nbd --unix "$dir/buse.sock" disk="$dir/disk.img" 2>"$dir/buse.log" &
pids+=($!)
nbdkit --foreground --unix "$dir/nbdkit.sock" file "$dir/disk.img" 2>"$dir/nbdkit.log" &
pids+=($!)
for s in buse nbdkit; do
  for ((i = 0; i < 100; i++)); do [ -S "$dir/$s.sock" ] && break; sleep 0.1; done
done
declare -A uri=([buse]="nbd+unix:///disk?socket=$dir/buse.sock"
  [nbdkit]="nbd+unix:///?socket=$dir/nbdkit.sock")

now() { date +%s.%N; }
mbs() { awk -v t0="$1" -v t1="$(now)" -v m="$mib" 'BEGIN { printf "%.1f\n", m * 1.048576 / (t1 - t0) }'; }
# measure KIND SERVER: one sample.
measure() {
  local t0
  case $1 in
    seqread) t0=$(now); nbdcopy "${uri[$2]}" null: && mbs "$t0" ;;
    seqwrite) t0=$(now); nbdcopy --flush "$dir/src.img" "${uri[$2]}" && mbs "$t0" ;;
    randread) "$randio" -c 4 -q 16 -t "$secs" "${uri[$2]}" | awk '{ print $2 }' ;;
    randwrite) "$randio" -c 4 -q 16 -t "$secs" -w 100 "${uri[$2]}" | awk '{ print $2 }' ;;
  esac
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { sort -g | awk '{ v[NR] = $1 } END { printf "%s–%s", v[1], v[NR] }'; }

declare -A title=([seqread]="sequential read, nbdcopy, $mib MiB" [seqwrite]="sequential write + flush, nbdcopy, $mib MiB"
  [randread]="4 KiB random read, 4 conns x 16 in flight" [randwrite]="4 KiB random write, 4 conns x 16 in flight")
declare -A unit=([seqread]=MB/s [seqwrite]=MB/s [randread]=IOPS [randwrite]=IOPS)
read -r -a kinds <<<"${KINDS:-seqread seqwrite randread randwrite}"
declare -A samples
for k in "${kinds[@]}"; do
  measure "$k" buse >/dev/null # warm-up (page cache, connections)
  for ((r = 0; r < runs; r++)); do # ABBA order: neither server always runs first
    order=(buse nbdkit)
    [ $((r % 2)) = 0 ] || order=(nbdkit buse)
    for s in "${order[@]}"; do samples[$k.$s]+="$(measure "$k" "$s") "; done
  done
done

printf '\n%-48s %-6s %22s %22s %7s\n' test unit "buse nbd" "nbdkit file" ratio
tsv=()
for k in "${kinds[@]}"; do
  b=$(tr ' ' '\n' <<<"${samples[$k.buse]}" | grep . | median)
  n=$(tr ' ' '\n' <<<"${samples[$k.nbdkit]}" | grep . | median)
  br=$(tr ' ' '\n' <<<"${samples[$k.buse]}" | grep . | range)
  nr=$(tr ' ' '\n' <<<"${samples[$k.nbdkit]}" | grep . | range)
  ratio=$(awk -v b="$b" -v n="$n" 'BEGIN { printf "%.2f", b / n }')
  met=$(awk -v r="$ratio" 'BEGIN { print (r >= 1.0) ? "yes" : "no" }')
  printf '%-48s %-6s %22s %22s %6s×\n' "${title[$k]}" "${unit[$k]}" "$b ($br)" "$n ($nr)" "$ratio"
  tsv+=("$(printf '1\tNBD %s\t%s\t%s (%s, n=%d)\tnbdkit\t%s (%s, n=%d)\t%s\t≥ 1.0×\t%s\tge\t1.0' \
    "${title[$k]}" "${unit[$k]}" "$b" "$br" "$runs" "$n" "$nr" "$runs" "$ratio" "$met")")
done
echo
printf '%s\n' "${tsv[@]}"
