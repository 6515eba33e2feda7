#!/usr/bin/env bash
# Cross-check against moby 20.10's own pkg/archive (Debian's golang-github-docker-docker-dev,
# built here with go): the same change list, the same tar members from Diff, each side
# applies the other's tar to the same tree, and ApplyDiff sizes agree.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires go setcap setfattr python3
src=/usr/share/gocode/src/github.com/docker/docker/pkg/archive
[ -d $src ] || skip "golang-github-docker-docker-dev not installed"
scratch
MOBY=$T/moby-archive
(cd "$(dirname "$0")/moby" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$T/gocache \
  go build -o "$MOBY" .) || fail "building the moby reference failed"
rm -rf "$T/gocache"

P=$T/parent C=$T/child
mkdir -p "$P/a" "$P/b/x" "$P/c" "$P/d" "$P/e" "$P/r"
echo one >"$P/a/f1"; echo two >"$P/a/f2"; echo deep >"$P/b/x/y"; echo m >"$P/c/m"
echo o >"$P/c/o"; cp /bin/true "$P/d/cap"; echo target >"$P/e/t"; echo r >"$P/r/file"
cp -a "$P" "$C"
"$GDA" diff "$C" "$P" >"$T/ours-empty.tar" && "$MOBY" export "$C" "$P" >"$T/moby-empty.tar"
cmp "$T/ours-empty.tar" "$T/moby-empty.tar" || fail "empty diffs differ"
ok "empty diff byte-identical to moby's"

echo new >"$C/new"; echo 'ONE!!' >"$C/a/f1"; rm "$C/a/f2"; rm -r "$C/b"; chmod 4711 "$C/c/m"
chown 1000:2000 "$C/c/o"; setcap cap_net_raw+ep "$C/d/cap"; ln -s t "$C/e/s"; ln "$C/e/t" "$C/e/h"
echo n1 >"$C/e/n1"; ln "$C/e/n1" "$C/e/n2"; mkfifo "$C/e/fifo"; mknod "$C/e/null" c 1 3
rm -r "$C/r" && echo "now a file" >"$C/r"; mkdir -p "$C/new-dir/sub"; touch "$C/new-dir/sub/f"
truncate -s 5M "$C/sparse"; touch -d '2001-01-01 00:00:00.5' "$C/c/m"

assert_eq "$("$GDA" changes "$C" "$P")" "$("$MOBY" changes "$C" "$P")" "changes equal moby's"

"$GDA" diff "$C" "$P" >"$T/ours.tar" || fail "our diff"
"$MOBY" export "$C" "$P" >"$T/moby.tar" || fail "moby export"
members() {
  python3 - "$1" <<'PY'
import sys, tarfile
for m in tarfile.open(sys.argv[1]):
    x = sorted((k, v) for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr."))
    t = "-" if "/.wh." in "/" + m.name else m.mtime
    # moby 20.10 also puts the file type bits in the mode field and host user names in
    # uname/gname; readers ignore both, and libarchive writes neither.
    print(m.name, m.type, oct(m.mode & 0o7777), m.uid, m.gid, m.size, t, m.linkname,
          m.devmajor, m.devminor, x)
PY
}
diff <(members "$T/moby.tar") <(members "$T/ours.tar") || fail "tar members differ from moby's"
ok "Diff tar members equal moby's ExportChanges"

SIG_TIME=%Ts
cp -a "$P" "$T/moby-applied-ours" && cp -a "$P" "$T/ours-applied-moby"
msize=$("$MOBY" apply "$T/moby-applied-ours" <"$T/ours.tar") || fail "moby cannot apply our tar"
same_trees "$C" "$T/moby-applied-ours" "moby applies our Diff"
osize=$("$GDA" apply "$T/ours-applied-moby" <"$T/moby.tar") || fail "we cannot apply moby's tar"
same_trees "$C" "$T/ours-applied-moby" "we apply moby's ExportChanges"
assert_eq "$osize" "$msize" "ApplyDiff size equals moby's"
# DiffSize is moby's ChangesSize (SizeRw): every file type of the change above — regular,
# hard links (once), a symlink (its target's length), a fifo, a device, directories (not
# counted), a sparse file (its length).
assert_eq "$("$GDA" size "$C" "$P")" "$("$MOBY" size "$C" "$P")" "DiffSize equals moby's ChangesSize"

# Whiteouts, opaque directories, replacements: both sides apply one tar to one tree.
B=$T/base
mkdir -p "$B/d/sub" "$B/o/old" "$B/m" "$B/rep/in" "$B/f2d"
for f in x d/a d/b d/sub/s o/p o/old/q m/keep rep/in/z f2d/k; do echo "$f" >"$B/$f"; done
ln -s d "$B/lnk"
python3 - "$T/layer.tar" <<'PY'
import io, sys, tarfile
t = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
def add(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link=""):
    i = tarfile.TarInfo(name); i.type = kind; i.mode = mode; i.mtime = 1000000000
    i.linkname = link; i.uid = 7; i.gid = 8
    i.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if i.size else None)
for args in [(".wh.x",), ("d/.wh.a",), ("d/.wh.sub",), ("o/", tarfile.DIRTYPE, b"", 0o750),
             ("o/early", tarfile.REGTYPE, b"early"), ("o/.wh..wh..opq",), ("o/late",),
             ("m/", tarfile.DIRTYPE, b"", 0o700), ("m/new", tarfile.REGTYPE, b"n"),
             ("rep", tarfile.REGTYPE, b"file now"), ("f2d/k/", tarfile.DIRTYPE),
             ("lnk", tarfile.SYMTYPE, b"", 0o777, "m"), ("h1", tarfile.REGTYPE, b"hh"),
             ("h2", tarfile.LNKTYPE, b"", 0o644, "h1"), ("deep/er/file", tarfile.REGTYPE, b"d")]:
    add(*args)
t.close()
PY
cp -a "$B" "$T/by-moby" && cp -a "$B" "$T/by-us"
msize=$("$MOBY" apply "$T/by-moby" <"$T/layer.tar") || fail "moby apply"
osize=$("$GDA" apply "$T/by-us" <"$T/layer.tar") || fail "our apply"
unset SIG_TIME
# moby creates missing parents (deep/, deep/er/) with mode 0600 (we use 0755); directories
# that the tar changes without naming them (d/, f2d/) get the time of now on both sides.
chmod 755 "$T/by-moby/deep" "$T/by-moby/deep/er"
for d in deep deep/er d f2d; do touch -r "$T/by-us/$d" "$T/by-moby/$d"; done
same_trees "$T/by-moby" "$T/by-us" "whiteouts and replacements as moby"
assert_eq "$osize" "$msize" "layer size equals moby's"
