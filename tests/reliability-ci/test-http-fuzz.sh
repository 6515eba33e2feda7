#!/usr/bin/env bash
# Quick CI variant (make check) of tests/reliability/test-http-fuzz.sh: 1,000 hostile requests instead of 20,000.
# The full run is `make check-reliability`.
REQUESTS=${REQUESTS:-1000} exec bash "$(dirname "$0")/../reliability/test-http-fuzz.sh"
