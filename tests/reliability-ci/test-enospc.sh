#!/usr/bin/env bash
# Quick CI variant (make check) of tests/reliability/test-enospc.sh: the same test.
# The full run is `make check-reliability`.
 exec bash "$(dirname "$0")/../reliability/test-enospc.sh"
