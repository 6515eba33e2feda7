#!/usr/bin/env bash
# ar_changes lists exactly the changes made to a copy of a tree (Kind codes and order as
# moby's naive diff); the ar_write_diff tar applied onto another copy of the parent gives
# the child back; its size is ar_diff_size less the changed symlinks; no change is exactly 1024 zero bytes.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires setcap getfattr setfattr cmp
scratch
P=$T/parent C=$T/child
mkdir -p "$P/a" "$P/b/x" "$P/c" "$P/d" "$P/e" "$P/z"
echo one >"$P/a/f1"
echo two >"$P/a/f2"
echo deep >"$P/b/x/y"
echo m >"$P/c/m"
echo o >"$P/c/o"
cp /bin/true "$P/d/cap"
echo target >"$P/e/t"
echo keep >"$P/keep"
setfattr -n user.u -v 1 "$P/z"
cp -a "$P" "$C"

"$GDA" diff "$C" "$P" >"$T/empty.tar" || fail "empty diff failed"
cmp "$T/empty.tar" <(head -c 1024 /dev/zero) || fail "empty diff is not 1024 zero bytes"
ok "empty diff is exactly 1024 zero bytes"
assert_eq "$("$GDA" changes "$C" "$P")" "" "no changes"

echo new >"$C/new"
echo 'ONE!!' >"$C/a/f1"
rm "$C/a/f2"
rm -r "$C/b"
chmod 600 "$C/c/m"
chown 1000:1000 "$C/c/o"
setcap cap_net_raw+ep "$C/d/cap"
ln -s t "$C/e/s"
ln "$C/e/t" "$C/e/h"
echo n1 >"$C/e/n1"
ln "$C/e/n1" "$C/e/n2"
setfattr -n user.u -v 2 "$C/z" # a user xattr is not a change for Docker's naive diff

want='C /a
C /a/f1
D /a/f2
D /b
C /c
C /c/m
C /c/o
C /d
C /d/cap
C /e
A /e/h
A /e/n1
A /e/n2
A /e/s
A /new'
assert_eq "$("$GDA" changes "$C" "$P")" "$want" "changes"

SIG_TIME=%Ts # Diff tars carry whole seconds, as Docker's do
"$GDA" diff "$C" "$P" >"$T/diff.tar" || fail "diff failed"
list=$(tar tvf "$T/diff.tar")
grep -q '^h.* e/n2 link to e/n1$' <<<"$list" || fail "n2 is not a hard link in the tar"
grep -q ' a/.wh.f2$' <<<"$list" || fail "no whiteout for a/f2"
grep -q ' .wh.b$' <<<"$list" || fail "no whiteout for b"
ok "tar has hard links and whiteouts"
cp -a "$P" "$T/result"
size=$("$GDA" apply "$T/result" <"$T/diff.tar") || fail "apply failed"
# The diff carries user xattrs only of changed entries (z is unchanged for Docker).
setfattr -n user.u -v 2 "$T/result/z"
same_trees "$C" "$T/result" "diff applied onto the parent"
[ "$(stat -c %i "$T/result/e/n1")" = "$(stat -c %i "$T/result/e/n2")" ] || fail "n1/n2 not linked"
# DiffSize (moby's ChangesSize) = ApplyDiff's size + the lengths of the changed symlinks
links=$("$GDA" changes "$C" "$P" | awk '$1 != "D" {print $2}' | while read -r p; do
  if [ -L "$C$p" ]; then stat -c %s "$C$p"; fi; done | awk '{s+=$1} END {print s+0}')
assert_eq "$("$GDA" size "$C" "$P")" "$((size + links))" "diff size = apply size + changed symlinks"

# Diff of a whole tree (no parent) re-creates it.
mkdir "$T/full"
"$GDA" diff "$C" | "$GDA" apply "$T/full" >/dev/null || fail "full diff apply"
same_trees "$C" "$T/full" "parentless diff"
