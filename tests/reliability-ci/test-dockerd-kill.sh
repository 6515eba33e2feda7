#!/usr/bin/env bash
# Quick CI variant (make check) of tests/reliability/test-dockerd-kill.sh: 2 rounds of 2 containers instead of 6 of 4.
# The full run is `make check-reliability`.
ROUNDS=${ROUNDS:-2} CONTAINERS=${CONTAINERS:-2} exec bash "$(dirname "$0")/../reliability/test-dockerd-kill.sh"
