#!/usr/bin/env bash
# Hostile layer tars through ApplyDiff: path traversal, absolute names, a symlink then a write
# through it, a hardlink to a host file, a truncated archive.  Each fails (or, for absolute
# names and a symlink chain climbing above the root, lands inside the layer as in a chroot), nothing is written outside the layer, and
# the daemon keeps serving.
source "$(dirname "$0")/lib.sh"
requires_fuse
requires python3
api_start
api_init

out=$T/outside
mkdir -p "$out"
echo secret >"$out/secret"
snapshot() { (cd "$out" && find . -printf '%p %s %T@\n' | sort; cat secret); }
before=$(snapshot)

# mk NAME PYTHON-SNIPPET: a tar built by python tarfile; `add(name, data)`, `link(name,
# target, sym)` are available.
mk() {
  python3 - "$T/$1.tar" "$out" <<PY
import io, sys, tarfile
t = tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT)
out = sys.argv[2]
def add(name, data=b"pwned\n"):
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
def link(name, target, sym=True):
    i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE if sym else tarfile.LNKTYPE
    i.linkname = target; t.addfile(i)
$2
t.close()
PY
}

up='"../../../../../../../../../../../../.."'
mk traversal "add($up + out + '/trav'); add('a/' + $up + out + '/trav2')"
mk absolute 'add(out + "/abs")'
mk symlink-abs 'link("evil", out); add("evil/through-abs")'
mk symlink-rel "link('up', $up + out); add('up/through-rel')"
mk symlink-chain 'link("a", "."); link("b", "a/../.."); add("b/b/b/b/b/b/b/b/b/b/b/b/b/b/b" + out + "/chain")'
mk hardlink 'link("hl", out + "/secret", sym=False); add("hl", b"overwritten\n")'
mk hardlink-rel "link('hl2', $up + out + '/secret', sym=False)"
python3 - "$T/big.tar" <<'PY'
import io, sys, tarfile
t = tarfile.open(sys.argv[1], "w")
i = tarfile.TarInfo("big"); data = b"x" * 300000; i.size = len(data); t.addfile(i, io.BytesIO(data))
t.close()
PY
head -c 150000 "$T/big.tar" >"$T/truncated.tar"

n=0
for t in traversal absolute symlink-abs symlink-rel symlink-chain hardlink hardlink-rel truncated; do
  n=$((n + 1))
  create "h$n"
  apply_diff "h$n" "" "$T/$t.tar"
  if [ "$CODE" = 200 ]; then
    # confined resolution (as in a chroot) is fine: the file must then be inside the layer
    case $t in absolute) f=abs ;; symlink-chain) f=chain ;; *) fail "$t: ApplyDiff succeeded: $BODY" ;; esac
    d=$(get "h$n")
    [ -f "$d$out/$f" ] || fail "$t: neither refused nor kept inside the layer"
    put "h$n"
    ok "$t: applied inside the layer"
  else
    jq -e '.Err | length > 0' <<<"$BODY" >/dev/null || fail "$t: no Err in $BODY"
    ok "$t: refused: $(jq -r .Err <<<"$BODY" | cut -c1-150)"
  fi
  assert_eq "$(snapshot)" "$before" "$t: nothing outside the layer changed"
done
ok_call GraphDriver.Exists '{"ID":"h1"}'
# every layer still mounts cleanly
for ((i = 1; i <= n; i++)); do get "h$i" >/dev/null; put "h$i"; done
ok "all layers still mount"
