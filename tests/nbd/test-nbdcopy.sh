#!/usr/bin/env bash
# nbdcopy round-trips a 1 GiB sparse file with random data regions through buse nbd, in and
# out, with one connection and with 4 connections x 64 requests: the copies are identical
# (cmp) and stay sparse (du).
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires nbdcopy cmp
scratch
sparse_file "$T/src.img" 1024
src_kib=$(disk_kib "$T/src.img")
for mode in single multi; do
  opts=()
  [ $mode = multi ] && opts=(--connections=4 --requests=64)
  rm -f "$T/in.img" "$T/out.img" "$T/sock"
  truncate -s 1G "$T/in.img" "$T/out.img"
  dd if=/dev/urandom of="$T/in.img" bs=1M count=8 seek=100 conv=notrunc status=none # stale data to overwrite
  nbd_start --max-requests 64 in=$T/in.img
  nbdcopy "${opts[@]}" "$T/src.img" "$(nbd_uri in)"
  cmp "$T/src.img" "$T/in.img" || fail "$mode: file -> nbd copy differs"
  ok "$mode: file -> nbd identical"
  nbdcopy "${opts[@]}" "$(nbd_uri in)" "$T/out.img"
  cmp "$T/src.img" "$T/out.img" || fail "$mode: nbd -> file copy differs"
  ok "$mode: nbd -> file identical"
  for f in in out; do
    k=$(disk_kib "$T/$f.img")
    [ "$k" -le $((src_kib + 4096)) ] || fail "$mode: $f.img not sparse: $k KiB vs $src_kib KiB"
    ok "$mode: $f.img sparse ($k KiB, source $src_kib KiB)"
  done
  stop_pid "$BUSE_PID"
done
