#!/usr/bin/env bash
# Bad ids and operations fail with a message naming the id and the problem, and leave the
# store unchanged.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
scratch
H=$T/home

"$BUSE" layer create a --home "$H" --base-size 64M || fail "create a"
"$BUSE" layer create b --parent a --home "$H" || fail "create b"
snap() { (cd "$H" && find . -path ./lock -prune -o -type f -print | sort | xargs md5sum); }
want=$(snap)

# expect_fail WORDS... -- CMD...: CMD fails and its stderr contains every WORD
expect_fail() {
  local words=() w
  while [ "$1" != -- ]; do words+=("$1"); shift; done
  shift
  if "$@" 2>"$T/err"; then fail "succeeded: $*"; fi
  for w in "${words[@]}"; do grep -qF -- "$w" "$T/err" || fail "'$*' said '$(cat "$T/err")', no '$w'"; done
  ok "$* -> $(cat "$T/err")"
}
expect_fail a exists -- "$BUSE" layer create a --home "$H"
expect_fail c nope "does not exist" -- "$BUSE" layer create c --parent nope --home "$H"
expect_fail ghost "does not exist" -- "$BUSE" layer rm ghost --home "$H"
expect_fail "../etc" invalid -- "$BUSE" layer create ../etc --home "$H"
expect_fail ".hidden" invalid -- "$BUSE" layer create .hidden --home "$H"
expect_fail "a/b" invalid -- "$BUSE" layer create a/b --parent a --home "$H"
expect_fail x smaller -- "$BUSE" layer create x --parent a --size 1M --home "$H"
expect_fail ghost "does not exist" -- "$BUSE" inspect ghost --home "$H"
long=$(printf 'l%.0s' {1..129})
expect_fail invalid -- "$BUSE" layer create "$long" --home "$H"
assert_eq "$(snap)" "$want" "store contents after the failed operations"
[ ! -e "$H/layers/c.json" ] && [ ! -e "$T/etc.json" ] || fail "a failed create left a file"

# while a server holds the store, changes are refused with a clear message; ls still works
if command -v nbdsh >/dev/null; then
  lnbd_start "$H"
  expect_fail "in use" -- "$BUSE" layer rm b --home "$H"
  "$BUSE" ls --home "$H" | grep -q '^b ' || fail "ls beside a running server"
  lnbd_stop
fi
"$BUSE" layer rm a --home "$H" || fail "removing a layer with children"
"$BUSE" layer rm b --home "$H" || fail "rm b"
assert_eq "$(ls "$H/diffs" | wc -l)" 1 "diffs left (the base)"
