#!/usr/bin/env bash
# buse gc: a dry run lists an unreferenced diff and a stale mount dir and removes nothing; gc
# is refused while another process (`buse nbd --home`, like `buse serve`) holds the store's
# lock; then it removes exactly those two, and the layers still read the same.
source "$(dirname "$0")/lib.sh"
scratch
H=$T/home
scan_store "$H"
"$BUSE" export --home "$H" l2 "$T/before.img" || fail "export"

nbd_home_start "$H"
mkdir -p "$H/mnt/gone"
rc=0; "$BUSE" gc --home "$H" >"$T/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && grep -q 'lock' "$T/out" || { cat "$T/out"; fail "gc while the store is held"; }
[ -d "$H/mnt/gone" ] || fail "refused gc removed a dir"
ok "gc refused while the store is held (exit $rc): $(cat "$T/out")"
stop_pid "$BUSE_PID"

# garbage: a diff no layer names (a copy of l2's top under a new id), a mount dir of no layer
d2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["top"])' "$H/layers/l2.json")
g=0123456789abcdef0123456789abcdef
cp -a "$H/diffs/$d2" "$H/diffs/$g"
sed -i "s/$d2/$g/" "$H/diffs/$g/meta.json"
mkdir -p "$H/mnt/gone/rootfs" "$H/mnt/l1/rootfs"

"$BUSE" gc --home "$H" --dry-run >"$T/out" || fail "gc --dry-run"
grep -q "would remove diffs/$g" "$T/out" || { cat "$T/out"; fail "dry run misses the diff"; }
grep -q "would remove mnt/gone" "$T/out" || { cat "$T/out"; fail "dry run misses mnt/gone"; }
grep -q "mnt/l1" "$T/out" && fail "dry run lists the mount dir of an existing layer"
[ -d "$H/diffs/$g" ] && [ -d "$H/mnt/gone" ] || fail "dry run removed something"
ok "dry run lists 2, removes nothing"


"$BUSE" gc --home "$H" >"$T/out" || { cat "$T/out"; fail "gc"; }
[ ! -e "$H/diffs/$g" ] && [ ! -e "$H/mnt/gone" ] || fail "gc left garbage"
[ -d "$H/diffs/$d2" ] && [ -d "$H/mnt/l1" ] || fail "gc removed something owned"
grep -q '^2 removed' "$T/out" || { cat "$T/out"; fail "gc count"; }
ok "gc removed the diff and the stale mount dir"
"$BUSE" export --home "$H" l2 "$T/after.img" || fail "export after gc"
cmp "$T/before.img" "$T/after.img" || fail "l2 changed"
"$BUSE" fsck --home "$H" --no-e2fsck >/dev/null || fail "fsck after gc"
ok "layers intact after gc"
