#!/usr/bin/env bash
# make check-reliability: the long reliability and security tests, tests/reliability/test-*.sh
# (crash injection, dockerd killed, full host disk, load, hostile input, access).  Quick
# variants of them run in `make check` from tests/reliability-ci/.  Same conventions as
# tests/run.sh: exit 0 passes, 77 skips; TESTS='pattern' picks a subset (e.g. 'crash*');
# RELIABILITY_DURATION (seconds, default 300) sets the load test's length.
# Ends with one line "N passed, N failed, N skipped"; exits non-zero on any failure.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
export BUILD=${BUILD:-$top/build}
export BUSE=${BUSE:-$top/buse}
export TOP=$top
pattern=${TESTS:-*}
per_test_timeout=${TEST_TIMEOUT:-3600}
logdir=$BUILD/test-logs
mkdir -p "$logdir"
pass=0 fail=0 skip=0 failed=()

for script in "$top"/tests/reliability/test-*.sh; do
  name=$(basename "$script" .sh)
  # shellcheck disable=SC2053
  [[ $name == $pattern || reliability/$name == $pattern ]] || continue
  log=$logdir/reliability_$name.log start=$SECONDS
  timeout --foreground -k 10 "$per_test_timeout" bash "$script" >"$log" 2>&1 </dev/null
  rc=$?
  t=$((SECONDS - start))
  case $rc in
    0) pass=$((pass + 1)); printf 'PASS  %-40s %5ss  %s\n' "reliability/$name" "$t" \
         "$(grep -m1 '^counts:' "$log" | cut -c9-120)" ;;
    77) skip=$((skip + 1)); printf 'SKIP  %-40s %5ss  %s\n' "reliability/$name" "$t" \
          "$(grep -m1 -i 'skip' "$log" | cut -c1-80)" ;;
    *) fail=$((fail + 1)); failed+=("$name")
       printf 'FAIL  %-40s %5ss  (exit %s, log %s)\n' "reliability/$name" "$t" "$rc" "$log"
       tail -n 15 "$log" | sed 's/^/      | /' ;;
  esac
done

[ ${#failed[@]} -eq 0 ] || printf 'failed: %s\n' "${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
