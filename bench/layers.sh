#!/usr/bin/env bash
# Layer store numbers through the C API: snapshot latency (1 MiB / 1 GiB / 10 GiB written
# parent; QUICK=1 skips 10 GiB), read throughput at depth 1/16/64/128, merged index memory.
# BENCH_DIR picks the scratch directory (default /var/tmp; needs ~11 GiB free without QUICK).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${BUILD:-$top/build}/tests/tools/layers-bench
[ -x "$bin" ] || { echo "layers.sh: build first (make)" >&2; exit 1; }
dir=$(mktemp -d "${BENCH_DIR:-/var/tmp}/buse-bench-layers.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$bin" snapshot "$dir/snap" "${QUICK:-0}"
"$bin" read "$dir/read"
"$bin" index "$dir/index"
