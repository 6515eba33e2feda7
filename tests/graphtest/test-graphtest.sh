#!/usr/bin/env bash
# moby's graph driver suite (graphtest v20.10: CreateEmpty, CreateBase, CreateSnap,
# DeepLayerRead with 128 layers, DiffApply, Changes, SetQuota) through moby's plugin proxy
# against a running `buse serve`.  Every case must pass: a skip inside the suite (e.g. the
# driver was not found) counts as a failure here.
source "$(dirname "$0")/../docker/lib.sh"
requires_root
requires findmnt curl
[ -x "$BUSE" ] || fail "$BUSE not built"
docker_scratch
mkdir -p "$BUILD"
bash "$TOP/tests/graphtest/build.sh" "$BUILD/graphtest.test" || exit $?

BUSE_HOME=$T/buse-home start_buse_daemon
mkdir -p "$T/roots"
set +e
TMPDIR=$T/roots BUSE_PLUGIN=$BUSE_DRIVER "$BUILD/graphtest.test" -test.v -test.timeout 800s \
  -test.count 1 >"$T/graphtest.out" 2>&1
rc=$?
set -e
cat "$T/graphtest.out"
[ $rc -eq 0 ] || { tail -n 30 "$T/buse.log"; fail "graphtest exited $rc"; }
! grep -q -- '--- SKIP' "$T/graphtest.out" || fail "graphtest skipped a case"
assert_eq "$(grep -c -- '--- PASS' "$T/graphtest.out")" 7 "graphtest cases passed"
assert_eq "$(mounts_under "$T/roots")" "" "mounts left under the graphtest roots"
