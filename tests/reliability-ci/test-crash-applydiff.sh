#!/usr/bin/env bash
# Quick CI variant (make check) of tests/reliability/test-crash-applydiff.sh: 3 kills during a 60 MiB ApplyDiff instead of 20 during 200 MiB.
# The full run is `make check-reliability`.
ROUNDS=${ROUNDS:-3} MB=${MB:-60} exec bash "$(dirname "$0")/../reliability/test-crash-applydiff.sh"
