#!/usr/bin/env bash
# Hostile layer tars through ApplyDiff of a running `buse serve`: the corpus of
# tests/archive/test-hostile.sh (its generator, run from that file unchanged: traversal,
# absolute names, symlink and hardlink escapes, 10,000-deep path, giant headers, truncated
# and garbage streams), the fuzz seeds of tests/fuzz/seeds-fuzz-tar, hostile-extra.py (device
# nodes, 1 MiB names, deep directories, links planted then written through) and MUTANTS
# random mutants of a valid layer.  Each is refused or confined; nothing outside the layer
# changes; buse answers after every input; the layers that were applied still mount and the
# store passes buse fsck.
source "$(dirname "$0")/../api/lib.sh"
source "$(dirname "$0")/lib.sh"
requires_fuse
requires python3
MUTANTS=${MUTANTS:-200}
api_start
api_init
S=$T/sentinel tag=buse-rel-hostile-$$
mkdir -p "$S" && echo precious >"$S/precious"
passwd_links=$(stat -c %h /etc/passwd)
C=$T/corpus
mkdir -p "$C"

gen=$TOP/tests/archive/test-hostile.sh
sed -n '/^python3 - "\$T" "\$S" "\$tag" <<.PY.$/,/^PY$/p' "$gen" | sed '1d;$d' >"$T/gen.py"
[ -s "$T/gen.py" ] || fail "corpus generator not found in $gen"
python3 "$T/gen.py" "$C" "$S" "$tag" || fail "corpus generator"
ncorpus=$(find "$C" -name '*.tar' | wc -l)
[ "$ncorpus" -ge 15 ] || fail "corpus generator made $ncorpus tars"
for f in "$TOP"/tests/fuzz/seeds-fuzz-tar/*; do cp "$f" "$C/seed-$(basename "$f").tar"; done
python3 "$(dirname "$0")/hostile-extra.py" "$C" "$S" "$tag" "${SEED:-$$}" "$MUTANTS" >/dev/null ||
  fail "hostile-extra.py"

outside_ok() {
  [ "$(ls -A "$S")" = precious ] && [ "$(cat "$S/precious")" = precious ] ||
    fail "$1: the sentinel directory changed: $(ls -A "$S")"
  [ -z "$(find / -maxdepth 1 -name "$tag*"; find /tmp "$T" -maxdepth 3 -name "$tag*" ! -path "$C/*")" ] ||
    fail "$1: wrote outside the layer: $(find /tmp "$T" -maxdepth 3 -name "$tag*")"
  [ "$(stat -c %h /etc/passwd)" = "$passwd_links" ] || fail "$1: linked /etc/passwd"
}

must_refuse=" dotdot dotdot2 hl-rel truncated truncated-header giant-octal giant-b256 giant-pax garbage x-dev-out "
n=0 refused=0 applied=0 good=()
for f in "$C"/*.tar; do
  c=$(basename "$f" .tar)
  n=$((n + 1))
  create "h$n"
  apply_diff "h$n" "" "$f"
  kill -0 "$BUSE_PID" 2>/dev/null || fail "$c: buse serve died"
  activate "$SOCK" || fail "$c: buse serve does not answer"
  outside_ok "$c"
  if [ "$CODE" = 200 ]; then
    [[ $must_refuse != *" $c "* ]] || fail "$c: should have been refused: $BODY"
    applied=$((applied + 1)) good+=("h$n")
    case $c in
      abs) d=$(get "h$n"); [ -f "$d/tmp/$tag-abs" ] || fail "abs: not placed below the root"; put "h$n" ;;
      x-devnodes) d=$(get "h$n"); [ -c "$d/dev/null2" ] && [ -b "$d/dev/sda9" ] && [ -p "$d/fifo" ] ||
          fail "device nodes not kept in the layer"; put "h$n" ;;
    esac
    [[ $c == m* ]] || echo "ok: $c: confined"
  else
    jq -e '.Err | length > 0' <<<"$BODY" >/dev/null || fail "$c: HTTP $CODE without Err: $BODY"
    refused=$((refused + 1))
    [[ $c == m* ]] || echo "ok: $c: refused: $(jq -r .Err <<<"$BODY" | cut -c1-120)"
    ok_call GraphDriver.Remove "{\"ID\":\"h$n\"}" # what dockerd does after a failed ApplyDiff
  fi
done
ok "$n inputs: $refused refused, $applied confined"
# the applied layers still mount; the store is consistent
for l in "${good[@]}"; do get "$l" >/dev/null; put "$l"; done
ok "${#good[@]} applied layers mount"
"$BUSE" fsck --home "$T/home" --no-e2fsck >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out"; fail "buse fsck"; }
for l in "${good[@]:0:3}"; do
  "$BUSE" fsck --home "$T/home" --tmpdir "$T" "$l" >>"$T/fsck.out" 2>&1 ||
    { tail "$T/fsck.out"; fail "buse fsck $l (e2fsck)"; }
done
ok "buse fsck clean (structure of all, e2fsck of 3)"
counts "inputs=$n refused=$refused confined=$applied escapes=0 daemon-crashes=0"
