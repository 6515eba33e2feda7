#!/usr/bin/env bash
# Whiteouts: ".wh.x" removes x (a file or a whole directory); ".wh..wh..opq" empties its
# directory of what was there before but keeps what the same tar put there; AUFS metadata
# (.wh..wh.plnk) is never created; a file replaces a directory and a directory merges
# into a directory.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires python3
scratch
R=$T/root
mkdir -p "$R/d/sub" "$R/o/old-dir" "$R/m" "$R/rep/inside"
echo x >"$R/x"
echo a >"$R/d/a"
echo b >"$R/d/b"
echo s >"$R/d/sub/s"
echo p >"$R/o/p"
echo q >"$R/o/old-dir/q"
echo keep >"$R/m/keep"
python3 - "$T/wh.tar" <<'PY'
import io, sys, tarfile
t = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
def add(name, kind=tarfile.REGTYPE, data=b"", mode=0o644):
    i = tarfile.TarInfo(name); i.type = kind; i.mode = mode; i.mtime = 1000000000
    i.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if i.size else None)
add(".wh.x")
add("d/.wh.a")
add("d/.wh.sub")
add("o/", tarfile.DIRTYPE, mode=0o755)
add("o/early", data=b"early")
add("o/.wh..wh..opq")
add("o/late", data=b"late")
add(".wh..wh.plnk/123", data=b"aufs")
add("d/.wh..wh.aufs")
add("m/", tarfile.DIRTYPE, mode=0o700)
add("m/new", data=b"new")
add("rep", data=b"a file now")
add(".wh.nonexistent")
t.close()
PY
"$GDA" apply "$R" <"$T/wh.tar" >/dev/null || fail "apply failed"
[ ! -e "$R/x" ] || fail "x not removed"
[ ! -e "$R/d/a" ] && [ -f "$R/d/b" ] || fail "d/.wh.a wrong"
[ ! -e "$R/d/sub" ] || fail "directory sub not removed"
ok ".wh.NAME removes files and directories"
assert_eq "$(cd "$R/o" && ls -A | tr '\n' ' ')" "early late " "opaque directory content"
[ ! -e "$R/.wh..wh.plnk" ] && [ ! -e "$R/d/.wh..wh.aufs" ] || fail "AUFS metadata created"
ok "AUFS metadata skipped"
[ -f "$R/m/keep" ] && [ -f "$R/m/new" ] || fail "directory not merged"
assert_eq "$(stat -c %a "$R/m")" 700 "merged directory takes the tar's mode"
assert_eq "$(cat "$R/rep")" "a file now" "file replaces a directory"
[ -z "$(find "$R" -name '.wh.*')" ] || fail "a whiteout file was created"
ok "no whiteout files left"
