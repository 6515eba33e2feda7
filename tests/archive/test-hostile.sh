#!/usr/bin/env bash
# Hostile layer tars: "..", absolute names, symlinks and hard links pointing out of the
# root, writes through planted symlinks, truncated archives, absurd sizes, a 10,000-deep
# path.  Each must fail cleanly or stay confined: nothing outside the root changes.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires python3
scratch
S=$T/sentinel
mkdir -p "$S" && echo precious >"$S/precious"
tag=buse-hostile-$$
passwd_links=$(stat -c %h /etc/passwd)

# mk CASE: write tar $T/CASE.tar with python (members described in the heredoc below).
python3 - "$T" "$S" "$tag" <<'PY'
import io, sys, tarfile
out, sentinel, tag = sys.argv[1:4]
def tar(name, members, fmt=tarfile.PAX_FORMAT):
    t = tarfile.open(f"{out}/{name}.tar", "w", format=fmt)
    for m in members:
        kind, mname, arg = m
        i = tarfile.TarInfo(mname); i.mtime = 1000000000; i.mode = 0o644
        data = None
        if kind == "f":
            data = (arg or b"evil"); i.size = len(data); data = io.BytesIO(data)
        elif kind == "d": i.type = tarfile.DIRTYPE; i.mode = 0o755
        elif kind == "l": i.type = tarfile.SYMTYPE; i.linkname = arg
        elif kind == "h": i.type = tarfile.LNKTYPE; i.linkname = arg
        t.addfile(i, data)
    t.close()
tar("dotdot", [("f", f"../{tag}-dotdot", None)])
tar("dotdot2", [("f", f"a/../../{tag}-dotdot2", None)])
tar("abs", [("f", f"/tmp/{tag}-abs", None)])
tar("abs-link", [("l", "l", sentinel), ("f", "l/evil", None), ("f", "l/precious", b"gotcha")])
tar("rel-link", [("l", "up", "../../../../../../../../../.." + sentinel),
                 ("f", "up/evil", None)])
tar("chain", [("l", "s1", ".."), ("l", "s2", "s1/../s1/.."), ("d", "s2/x", None),
              ("f", "s2/x/evil", None)])
tar("over-link", [("l", "p", sentinel + "/precious"), ("f", "p", b"replaced")])
tar("wh-link", [("l", "w", sentinel), ("f", "w/.wh.precious", b""),
                ("f", "w/.wh..wh..opq", b"")])
tar("hl-abs", [("h", "pw", "/etc/passwd")])
tar("hl-rel", [("h", "out", f"../../{tag}-x")])
tar("hl-link", [("l", "dir", sentinel), ("h", "pre", "dir/precious")])
tar("deep", [("f", "a/" * 10000 + "f", None)])
# A sane archive to cut: a header, some data, no end.
tar("whole", [("f", "big", b"z" * 100000)])
data = open(f"{out}/whole.tar", "rb").read()
open(f"{out}/truncated.tar", "wb").write(data[:20000])
open(f"{out}/truncated-header.tar", "wb").write(data[:300])
# Size fields: octal maximum, base-256 huge, and a pax size of 2^70.
def raw(name, size_field):
    h = bytearray(512); h[0:len(name)] = name; h[100:108] = b"0000644\0"
    h[108:116] = h[116:124] = b"0000000\0"; h[124:136] = size_field
    h[136:148] = b"00000000000\0"; h[156:157] = b"0"; h[257:263] = b"ustar\0"; h[263:265] = b"00"
    h[148:156] = b" " * 8; s = sum(h); h[148:156] = b"%06o\0 " % s
    return bytes(h)
open(f"{out}/giant-octal.tar", "wb").write(raw(b"g1", b"77777777777\0") + b"x" * 1024)
open(f"{out}/giant-b256.tar", "wb").write(raw(b"g2", b"\x80" + b"\x7f" + b"\xff" * 10) + b"x" * 1024)
t = tarfile.open(f"{out}/giant-pax.tar", "w", format=tarfile.PAX_FORMAT)
i = tarfile.TarInfo("g3"); i.size = 0; i.pax_headers = {"size": str(2**70)}
t.addfile(i); t.close()
open(f"{out}/garbage.tar", "wb").write(b"\x1f\x8b" + b"\x55" * 5000)
PY

outside_ok() {
  [ "$(ls -A "$S")" = precious ] && [ "$(cat "$S/precious")" = precious ] ||
    fail "$1: the sentinel directory changed: $(ls -A "$S")"
  [ -z "$(find /tmp "$T" -maxdepth 2 -name "$tag*" 2>/dev/null)" ] || fail "$1: wrote outside"
  [ "$(stat -c %h /etc/passwd)" = "$passwd_links" ] || fail "$1: linked /etc/passwd"
}

for c in dotdot dotdot2 abs abs-link rel-link chain over-link wh-link hl-abs hl-rel hl-link \
         deep truncated truncated-header giant-octal giant-b256 giant-pax garbage; do
  rm -rf "$T/root" && mkdir "$T/root"
  rc=0
  timeout 60 "$GDA" apply "$T/root" <"$T/$c.tar" >"$T/$c.out" 2>&1 || rc=$?
  [ $rc -le 1 ] || fail "$c: exit $rc (crash?): $(cat "$T/$c.out")"
  outside_ok "$c"
  echo "ok: $c: $([ $rc = 0 ] && echo confined || echo refused: "$(cat "$T/$c.out")")"
  case $c in
    dotdot | dotdot2 | hl-rel | truncated* | giant* | garbage)
      [ $rc = 1 ] || fail "$c: should be refused" ;;
    abs) [ -f "$T/root/tmp/$tag-abs" ] || fail "abs: not placed below the root" ;;
    over-link) assert_eq "$(cat "$T/root/p")" replaced "over-link: symlink replaced" ;;
    hl-link) [ -L "$T/root/pre" ] || [ $rc = 1 ] || fail "hl-link: linked through a symlink" ;;
  esac
done
ok "all hostile archives refused or confined"
