#!/usr/bin/env bash
# Quick CI variant (make check) of tests/reliability/test-hostile-tars.sh: 20 mutants instead of 200.
# The full run is `make check-reliability`.
MUTANTS=${MUTANTS:-20} exec bash "$(dirname "$0")/../reliability/test-hostile-tars.sh"
