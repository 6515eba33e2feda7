#!/usr/bin/env bash
# Quick CI variant (make check) of tests/reliability/test-load.sh: 60 s, 2 importers and
# 4 containers instead of 300 s, 8 and 20.
# The full run is `make check-reliability`.
DURATION=${DURATION:-60} IMPORTS=${IMPORTS:-2} CONTAINERS=${CONTAINERS:-4} exec bash "$(dirname "$0")/../reliability/test-load.sh"
