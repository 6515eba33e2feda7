#!/usr/bin/env bash
# Quick CI variant (make check) of tests/reliability/test-snap-crash-load.sh: 3 kills of the
# snapshotter during `docker load` of the 120 MiB image instead of 10 (about 40 s).  Its known
# failure (README.md: a layer unpacked during the kill committed without its content) is
# counted, not failed (KNOWN_FAILURES=tolerate: the test exits 77 when it was the only one);
# every other check fails as in the full run.  The full run is `make check-reliability`.
ROUNDS=${ROUNDS:-3} KNOWN_FAILURES=${KNOWN_FAILURES:-tolerate} exec bash "$(dirname "$0")/../reliability/test-snap-crash-load.sh"
