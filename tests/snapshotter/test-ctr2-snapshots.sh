#!/usr/bin/env bash
# test-ctr-snapshots.sh with containerd 2.1 (unpacked from sid by tests/docker28/fetch.sh; skipped
# when it is not in the cache).
CTRD_GEN=2 exec bash "$(dirname "$0")/test-ctr-snapshots.sh"
