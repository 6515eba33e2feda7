#!/usr/bin/env bash
# Test runner: every unit test binary ($BUILD/tests/unit/test-*), then every integration
# test script tests/<area>/test-*.sh.  Exit 0 passes, 77 skips, anything else fails.
# TESTS='pattern' (a shell glob on the test name, e.g. 'nbd/*') picks a subset.
# Ends with one line "N passed, N failed, N skipped"; exits non-zero on any failure.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export BUILD=${BUILD:-$top/build}
export BUSE=${BUSE:-$top/buse}
export TOP=$top
pattern=${TESTS:-*}
per_test_timeout=${TEST_TIMEOUT:-900}
logdir=$BUILD/test-logs
mkdir -p "$logdir"
pass=0 fail=0 skip=0 failed=()

run_one() { # name cmd...
  local name=$1; shift
  # shellcheck disable=SC2053
  [[ $name == $pattern ]] || return 0
  local log=$logdir/${name//\//_}.log start=$SECONDS rc
  timeout --foreground -k 10 "$per_test_timeout" "$@" >"$log" 2>&1 </dev/null
  rc=$?
  local t=$((SECONDS - start))
  case $rc in
    0) pass=$((pass + 1)); printf 'PASS  %-40s %4ss\n' "$name" "$t" ;;
    77) skip=$((skip + 1)); printf 'SKIP  %-40s %4ss  %s\n' "$name" "$t" \
          "$(grep -m1 -i 'skip' "$log" | cut -c1-80)" ;;
    *) fail=$((fail + 1)); failed+=("$name")
       printf 'FAIL  %-40s %4ss  (exit %s, log %s)\n' "$name" "$t" "$rc" "$log"
       # the test's own failure line (with what led to it) first: daemons' logs follow it
       if grep -q '^FAIL: ' "$log"; then
         grep -m1 -B8 '^FAIL: ' "$log" | cut -c1-300 | sed 's/^/      | /'
         echo '      | ...'
       elif grep -q '^ERR: ' "$log"; then
         grep '^ERR: ' "$log" | tail -n 3 | cut -c1-300 | sed 's/^/      | /'
         echo '      | ...'
       fi
       tail -n 15 "$log" | cut -c1-300 | sed 's/^/      | /' ;;
  esac
}

for bin in "$BUILD"/tests/unit/test-*; do
  [ -x "$bin" ] || continue
  run_one "unit/$(basename "$bin")" "$bin"
done
for script in "$top"/tests/*/test-*.sh; do
  [ -f "$script" ] || continue
  area=$(basename "$(dirname "$script")")
  case $area in kernel|reliability) continue ;; esac
  run_one "$area/$(basename "$script" .sh)" bash "$script"
done

[ ${#failed[@]} -eq 0 ] || printf 'failed: %s\n' "${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
