#!/usr/bin/env bash
# ApplyDiff of a layer tar (chunked upload), then Diff, Changes and DiffSize agree with it:
# DiffSize is ApplyDiff's Size plus the symlinks' lengths (moby's ChangesSize), Diff holds the same entries, Changes lists them; a child
# layer's whiteouts show as deletes; an empty change is exactly 1024 zero bytes.
source "$(dirname "$0")/lib.sh"
requires_fuse
requires tar
api_start
api_init

src=$T/src
mkdir -p "$src/etc" "$src/bin" "$src/var/empty"
printf 'root:x:0:0\n' >"$src/etc/passwd"
head -c 100000 /dev/urandom >"$src/bin/tool"
chmod 755 "$src/bin/tool"
ln -s tool "$src/bin/link"
ln "$src/bin/tool" "$src/bin/hard"
echo data >"$src/etc/gone"
tar --numeric-owner --owner=0 --group=0 -C "$src" -cf "$T/l1.tar" .
want=$((11 + 100000 + 5)) # regular file bytes (the hardlink counts once)

create l1
apply_diff l1 "" "$T/l1.tar"
assert_eq "$CODE" 200 "ApplyDiff status"
size=$(jq -r .Size <<<"$BODY")
assert_eq "$size" "$want" "ApplyDiff Size"
ok_call GraphDriver.DiffSize '{"ID":"l1","Parent":""}'
assert_eq "$(jq -r .Size <<<"$BODY")" "$((size + 4))" "DiffSize = ApplyDiff Size + the symlink (-> tool)"

d=$(get l1)
cmp "$src/bin/tool" "$d/bin/tool" || fail "file content differs"
assert_eq "$(readlink "$d/bin/link")" tool "symlink"
assert_eq "$(stat -c %i "$d/bin/tool")" "$(stat -c %i "$d/bin/hard")" "hardlink shares the inode"
assert_eq "$(stat -c %a "$d/bin/tool")" 755 "mode kept"
put l1

diff_to l1 "" "$T/d1.tar"
assert_eq "$CODE" 200 "Diff status"
tar -tf "$T/d1.tar" | sed 's|^\./||; s|/$||' | grep -v '^\.\?$' | sort >"$T/d1.list"
(cd "$src" && find . -mindepth 1 | sed 's|^\./||' | sort) >"$T/src.list"
diff -u "$T/src.list" "$T/d1.list" || fail "Diff entries differ from what was applied"
ok "Diff lists what ApplyDiff wrote"
mkdir "$T/x" && tar -C "$T/x" -xf "$T/d1.tar"
cmp "$src/bin/tool" "$T/x/bin/tool" || fail "Diff content differs"
ok "Diff content round trips"

ok_call GraphDriver.Changes '{"ID":"l1"}'
jq -e '.Changes | map(select(.Path == "/bin/tool" and .Kind == 1)) | length == 1' <<<"$BODY" >/dev/null ||
  fail "Changes lacks the add of /bin/tool: $BODY"
jq -e '.Changes | all(.Kind == 1)' <<<"$BODY" >/dev/null || fail "a layer without parent has only adds: $BODY"
ok "Changes of l1: $(jq -c '.Changes | length' <<<"$BODY") adds"

# a child: modify, add, delete (whiteout)
c=$T/c
mkdir -p "$c/etc"
printf 'root:x:0:0\nme:x:1:1\n' >"$c/etc/passwd"
echo new >"$c/etc/new"
: >"$c/etc/.wh.gone"
tar --numeric-owner --owner=0 --group=0 -C "$c" -cf "$T/l2.tar" .
create l2 l1
apply_diff l2 l1 "$T/l2.tar"
size2=$(jq -r .Size <<<"$BODY")
assert_eq "$size2" $((20 + 4)) "ApplyDiff Size of the child"
ok_call GraphDriver.DiffSize '{"ID":"l2","Parent":"l1"}'
assert_eq "$(jq -r .Size <<<"$BODY")" "$size2" "child DiffSize equals ApplyDiff Size"
ok_call GraphDriver.Changes '{"ID":"l2","Parent":"l1"}'
got=$(jq -c '[.Changes[] | [.Path, .Kind]]' <<<"$BODY")
assert_eq "$got" '[["/etc",0],["/etc/gone",2],["/etc/new",1],["/etc/passwd",0]]' "child Changes"
diff_to l2 l1 "$T/d2.tar"
list=$(tar -tf "$T/d2.tar")
grep -q 'etc/\.wh\.gone$' <<<"$list" || fail "Diff lacks the whiteout: $list"
ok "child Diff carries the whiteout"
d=$(get l2)
[ ! -e "$d/etc/gone" ] || fail "whiteout did not delete"
assert_eq "$(cat "$d/etc/new")" new "child add"
put l2

# nothing changed: exactly two zero records
create l3 l2
diff_to l3 l2 "$T/d3.tar"
assert_eq "$(stat -c %s "$T/d3.tar")" 1024 "empty Diff size"
cmp -s "$T/d3.tar" <(head -c 1024 /dev/zero) || fail "empty Diff is not zeros"
ok_call GraphDriver.DiffSize '{"ID":"l3","Parent":"l2"}'
assert_eq "$(jq -r .Size <<<"$BODY")" 0 "empty DiffSize"
ok_call GraphDriver.Changes '{"ID":"l3","Parent":"l2"}'
assert_eq "$(jq -c .Changes <<<"$BODY")" '[]' "empty Changes"
