# Helpers for tests/archive: source after functions.sh.
GDA=$BUILD/tests/tools/gd-archive
[ -x "$GDA" ] || skip "gd-archive not built"

# tree_sig DIR: one line per entry — path, type, mode, owner, size, mtime, link target,
# xattrs — sorted; two trees with the same signature carry the same metadata.
tree_sig() {
  (cd "$1" && find . -mindepth 1 -printf "%p %y %m %U:%G %s ${SIG_TIME:-%T@} %l\\n" | sort)
  (cd "$1" && getfattr -R -P -d -m - --absolute-names . 2>/dev/null |
     grep -v '^$' | grep -v security.selinux)
}

# same_trees A B WHAT: same metadata, same content, no naive-diff changes between them.
same_trees() {
  diff <(tree_sig "$1") <(tree_sig "$2") || fail "$3: metadata differs"
  diff <(cd "$1" && find . -type f -exec md5sum {} + | sort) \
    <(cd "$2" && find . -type f -exec md5sum {} + | sort) || fail "$3: content differs"
  local ch
  ch=$("$GDA" changes "$1" "$2") || fail "$3: changes failed"
  [ -z "$ch" ] || fail "$3: changes between the trees: $ch"
  ok "$3: trees identical"
}
