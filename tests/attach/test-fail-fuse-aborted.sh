#!/usr/bin/env bash
# The FUSE connection under a mounted layer is lost (our own FUSE server's, aborted through
# fusectl as a dead server's would be): buse attach notices, reports the layer, unmounts and
# detaches, exits 1, and leaves nothing behind.  (test-fail-nbdfuse-dies: the same with the
# nbdfuse helper.)
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_fuse
requires mkfs.ext4
scratch
make_image "$T/img" 64M
mkdir "$T/mnt"
attach_bg a --file "$T/img" --state "$T/state" --mode fuse --mount "$T/mnt" lost1
attach_wait a >/dev/null
echo hello >"$T/mnt/f" && sync -f "$T/mnt"
fmnt=$(echo "$T"/state/lost1.*/fuse)
assert_eq "$(findmnt -n -o FSTYPE --mountpoint "$fmnt")" fuse.buse "the file is served by buse itself"
[ ! -e "$T"/state/lost1.*/nbdfuse.pid ] || fail "an nbdfuse was started"
fuse_abort "$fmnt"
attach_lost lost1 "FUSE connection was aborted"
