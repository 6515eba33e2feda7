#!/usr/bin/env bash
# Opening a store finishes or rolls back what a crash left half done: a diff left "creating",
# a layer json left "creating" or "removing", an empty layer json (a create whose one journal
# commit a crash stopped: its files are written first and synced together), an unfinished
# atomic write (*.tmp), a diff no layer uses and a stale mkfs tree are all removed; committed
# layers are untouched.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
scratch
H=$T/home

"$BUSE" layer create a --home "$H" --base-size 64M || fail "create a"
"$BUSE" layer create b --parent a --home "$H" || fail "create b"
ndiffs=$(ls "$H/diffs" | wc -l)
top_b=$(jfield "$("$BUSE" inspect b --home "$H")" top_diff)

# plant the leftovers of interrupted operations
d=$H/diffs/0123456789abcdef0123456789abcdef
mkdir "$d" && : >"$d/data" && : >"$d/map"
sed 's/"state": "ready"/"state": "creating"/' "$H/diffs/$top_b/meta.json" >"$d/meta.json"
orphan=$H/diffs/fedcba9876543210fedcba9876543210
mkdir "$orphan" && cp "$H/diffs/$top_b/"* "$orphan/"
sed 's/"id": "b"/"id": "c"/; s/"state": "ready"/"state": "creating"/' "$H/layers/b.json" >"$H/layers/c.json"
sed 's/"id": "b"/"id": "r"/; s/"state": "ready"/"state": "removing"/' "$H/layers/b.json" >"$H/layers/r.json"
echo '{' >"$H/layers/b.json.tmp"
: >"$H/layers/e.json"
mkdir -p "$H/mkfs.abc123/rootfs"

"$BUSE" layer create z --home "$H" || fail "open the store and create z"
for f in "$d" "$orphan" "$H/layers/c.json" "$H/layers/r.json" "$H/layers/e.json" "$H/layers/b.json.tmp" \
  "$H/mkfs.abc123"; do
  [ ! -e "$f" ] || fail "left over after recovery: $f"
done
ok "half-done diffs, layers, temp files and trees removed"
assert_eq "$("$BUSE" ls --home "$H" | tail -n +2 | awk '{print $1}' | tr '\n' ' ')" "a b z " "layers"
assert_eq "$(ls "$H/diffs" | wc -l)" $((ndiffs + 1)) "diffs (the old ones and z's)"
"$BUSE" inspect b --home "$H" >/dev/null || fail "b is intact"
