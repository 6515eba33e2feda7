#!/usr/bin/env bash
# buse export: a layer's stack as a sparse raw image equal, byte for byte, to what its NBD
# export shows (read independently with nbdcopy) and to the filesystem image put in it; the
# same bytes streamed to stdout; e2fsck -fn clean; a missing layer is an error.
source "$(dirname "$0")/lib.sh"
scratch
H=$T/home
scan_store "$H"

"$BUSE" export --home "$H" l2 "$T/l2.img" 2>"$T/err" || { cat "$T/err"; fail "buse export l2"; }
cmp "$T/l2.img" "$T/fs.img" || fail "export of l2 differs from the image written into l1"
ok "export of the child equals its parent's content"
size=$(stat -c %s "$T/l2.img") used=$(($(stat -c %b "$T/l2.img") * 512))
assert_eq "$size" $((64 << 20)) "image size (virtual size)"
[ "$used" -lt $((24 << 20)) ] || fail "image not sparse: $used bytes allocated"
ok "image is sparse: $used of $size bytes allocated"
! grep -q '%' "$T/err" || fail "progress bar shown though stderr is not a terminal"

nbd_home_start "$H"
nbdcopy "$(uri l2)" "$T/nbd.img" || fail "nbdcopy from l2"
stop_pid "$BUSE_PID"
cmp "$T/l2.img" "$T/nbd.img" || fail "export differs from the NBD view"
ok "export equals the NBD view (nbdcopy)"

"$BUSE" export --home "$H" l2 - | cat >"$T/stream.img" || fail "export to stdout"
cmp "$T/stream.img" "$T/l2.img" || fail "streamed export differs"
ok "export to a pipe"
"$BUSE" export --home "$H" --progress l1 "$T/l1.img" 2>"$T/err" || fail "export l1"
grep -q '100%' "$T/err" || fail "no progress bar with --progress"
cmp "$T/l1.img" "$T/fs.img" || fail "export of l1"

e2fsck -fn "$T/l2.img" >"$T/fsck" 2>&1 || { cat "$T/fsck"; fail "e2fsck of the export"; }
ok "e2fsck -fn clean"
! "$BUSE" export --home "$H" nosuch "$T/x.img" 2>"$T/err" || fail "export of a missing layer"
grep -q nosuch "$T/err" || fail "error does not name the layer: $(cat "$T/err")"
ok "missing layer refused"
