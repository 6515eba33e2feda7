#!/usr/bin/env bash
# Quick CI variant (make check) of tests/reliability/test-enospc.sh: a 256 MiB home and three
# writers at once instead of 400 MiB and six (about 15 s).
# The full run is `make check-reliability`.
SMALL=${SMALL:-256M} FILLERS=${FILLERS:-3} exec bash "$(dirname "$0")/../reliability/test-enospc.sh"
