#!/usr/bin/env bash
# User namespaces: with the map container 0 → host 100000 (65536 ids) ApplyDiff stores
# container ids as host ids, Diff maps them back, and an id outside the map is refused.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires python3
scratch
python3 - "$T" <<'PY'
import io, sys, tarfile
def tar(path, members):
    t = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)
    for name, uid, gid in members:
        i = tarfile.TarInfo(name); i.uid, i.gid = uid, gid; i.size = 2; i.mtime = 1000000000
        t.addfile(i, io.BytesIO(b"x\n"))
    t.close()
tar(sys.argv[1] + "/ok.tar", [("root-file", 0, 0), ("user-file", 1000, 5)])
tar(sys.argv[1] + "/bad.tar", [("outside", 70000, 0)])
PY
map=0:100000:65536
mkdir "$T/root" "$T/bad"
"$GDA" apply "$T/root" --map $map <"$T/ok.tar" >/dev/null || fail "apply failed"
assert_eq "$(stat -c %u:%g "$T/root/root-file")" 100000:100000 "container 0:0 on the host"
assert_eq "$(stat -c %u:%g "$T/root/user-file")" 101000:100005 "container 1000:5 on the host"
"$GDA" diff "$T/root" --map $map >"$T/out.tar" || fail "diff failed"
owners=$(python3 -c "
import sys, tarfile
print(' '.join(f'{m.name}={m.uid}:{m.gid}' for m in tarfile.open(sys.argv[1])))" "$T/out.tar")
assert_eq "$owners" "root-file=0:0 user-file=1000:5" "diff maps back to container ids"
if "$GDA" apply "$T/bad" --map $map <"$T/bad.tar" 2>"$T/err"; then
  fail "an unmapped id was accepted"
fi
grep -q "not mapped" "$T/err" || fail "unexpected error: $(cat "$T/err")"
ok "unmapped id refused: $(cat "$T/err")"
