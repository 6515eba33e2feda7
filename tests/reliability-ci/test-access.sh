#!/usr/bin/env bash
# Quick CI variant (make check) of tests/reliability/test-access.sh: the same test (a few seconds).
# The full run is `make check-reliability`.
 exec bash "$(dirname "$0")/../reliability/test-access.sh"
