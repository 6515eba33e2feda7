#!/usr/bin/env bash
# Quick CI variant (make check) of tests/reliability/test-snap-crash-fsync.sh: 3 kills of the
# snapshotter under 2 fsyncing writers instead of 10 under 3 (about 40 s).
# The full run is `make check-reliability`.
ROUNDS=${ROUNDS:-3} CONTAINERS=${CONTAINERS:-2} exec bash "$(dirname "$0")/../reliability/test-snap-crash-fsync.sh"
