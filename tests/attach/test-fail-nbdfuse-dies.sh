#!/usr/bin/env bash
# The connection under a mounted layer dies (its nbdfuse is killed): buse attach notices,
# reports the layer, unmounts and detaches, exits 1, and leaves nothing behind.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires_fuse
requires mkfs.ext4
scratch
export BUSE_FUSE_HELPER=nbdfuse # the helper path (the default is our own FUSE server)
make_image "$T/img" 64M
mkdir "$T/mnt"
attach_bg a --file "$T/img" --state "$T/state" --mode fuse --mount "$T/mnt" dies1
attach_wait a >/dev/null
echo hello >"$T/mnt/f" && sync -f "$T/mnt"
pid=$(cat "$T"/state/dies1.*/nbdfuse.pid)
kill -9 "$pid"
attach_lost dies1 "nbdfuse was killed"
