#!/usr/bin/env bash
# Quick CI variant (make check) of tests/reliability/test-crash-writes.sh: 3 kills instead of 20.
# The full run is `make check-reliability`.
ROUNDS=${ROUNDS:-3} exec bash "$(dirname "$0")/../reliability/test-crash-writes.sh"
