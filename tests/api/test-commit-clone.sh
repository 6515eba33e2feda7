#!/usr/bin/env bash
# Commit by clone (archive/commit-clone.c): an ApplyDiff fed by a Diff in flight (as
# dockerd's commit does) gives the same tree as a plain ApplyDiff of the same tar, and its new
# layer owns only what the container changed (1 byte of an 8 MiB file here), not the file.
# The init layer's files (/.dockerenv, /etc/hosts, /dev/console, /proc) stay out.  A tar
# that starts like the Diff in flight but then differs (whiteouts, an opaque directory, a
# path below a directory it does not name, none of the container's other changes) also gives
# exactly what a plain apply of it gives.
source "$(dirname "$0")/lib.sh"
requires_fuse
requires tar python3 setfattr getfattr md5sum mkfifo
api_start
api_init

src=$T/src
mkdir -p "$src/etc" "$src/bin" "$src/var/log/sub" "$src/usr/share"
head -c $((8 << 20)) /dev/urandom >"$src/a-big"
printf 'root:x:0:0\n' >"$src/etc/passwd"
echo motd >"$src/etc/motd"
echo log >"$src/var/log/sub/l"
echo sh >"$src/bin/sh"
ln "$src/bin/sh" "$src/bin/hard"
ln -s sh "$src/bin/link"
setfattr -n user.keep -v 1 "$src/usr/share"
tar --numeric-owner --owner=0 --group=0 --xattrs -C "$src" -cf "$T/base.tar" .
create img
apply_diff img "" "$T/base.tar"
assert_eq "$CODE" 200 "ApplyDiff of the image"

# The container: an init layer as dockerd makes it, then the container's own changes.
create_rw c-init img
d=$(get c-init)
mkdir -p "$d/proc" "$d/sys" "$d/dev/pts"
touch "$d/.dockerenv" "$d/dev/console" "$d/etc/hosts" "$d/etc/hostname"
put c-init
create_rw c c-init
d=$(get c)
printf x | dd of="$d/a-big" bs=1 seek=$((4 << 20)) conv=notrunc status=none
echo new >"$d/etc/newf"
rm "$d/etc/motd"
rm -r "$d/var/log"
ln "$d/bin/sh" "$d/bin/h3"
chmod 700 "$d/usr"
diff_to c c-init "$T/c.tar"
assert_eq "$CODE" 200 "Diff of the container"

# tree LAYER [NODIRTIME]: every path with type, mode, owner, size, link target, mtime
# (directories too unless NODIRTIME, never the root's), content digest and xattrs.  A tar that
# does not name a directory it changes leaves that directory's mtime to the time of the apply.
tree() {
  local r
  r=$(get "$1")
  (cd "$r" && find . -mindepth 1 -printf '%p %y %m %U:%G %s %l %n %T@\n' |
    if [ -n "${2-}" ]; then awk '$2 == "d" { $NF = "-" } 1'; else cat; fi | sort &&
    find . -type f -exec md5sum {} + | sort -k2 && getfattr -R -d -m - -h . 2>/dev/null)
  put "$1"
}

# owned LAYER: bytes of blocks its top diff holds.
owned() { "$BUSE" inspect --home "$T/home" "$1" | jq .owned_bytes; }

# clone_apply NEW TAR-OR-DIFF: ApplyDiff of NEW on img while a Diff of c is in flight.
# With "-" the Diff itself is the tar; otherwise TAR is sent while the Diff stalls.
clone_apply() {
  local new=$1 tar=$2 pid
  create "$new" img
  if [ "$tar" = - ]; then
    curl -sS --unix-socket "$SOCK" -H 'Host:' -H 'Content-Type:' -X POST \
      --data-binary '{"ID":"c","Parent":"c-init"}' http://plugin/GraphDriver.Diff |
      curl -sS --unix-socket "$SOCK" -H 'Host:' -H 'Content-Type:' \
        -H 'Transfer-Encoding: chunked' -X POST -T - -o "$T/reply" \
        "http://plugin/GraphDriver.ApplyDiff?id=$new&parent=img"
  else
    rm -f "$T/fifo" && mkfifo "$T/fifo"
    curl -sS --unix-socket "$SOCK" -H 'Host:' -H 'Content-Type:' -X POST \
      --data-binary '{"ID":"c","Parent":"c-init"}' -o "$T/fifo" http://plugin/GraphDriver.Diff &
    pid=$!
    exec 3<"$T/fifo" # opened, never read: the Diff stalls with its first bytes sent
    sleep 1
    apply_diff "$new" img "$tar"
    echo "$BODY" >"$T/reply"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    exec 3<&-
  fi
  jq -e .Size "$T/reply" >/dev/null || fail "ApplyDiff $new: $(cat "$T/reply")"
  grep -q "ApplyDiff $new: cloned c" "$T/buse.log" || { tail -n 30 "$T/buse.log"; fail "ApplyDiff $new did not clone c"; }
}

clone_apply n1 -
create p1 img
apply_diff p1 img "$T/c.tar"
assert_eq "$CODE" 200 "plain ApplyDiff"
grep -q "ApplyDiff p1: cloned" "$T/buse.log" && fail "p1 was cloned with no Diff in flight"
tree n1 >"$T/n1.txt"
tree p1 >"$T/p1.txt"
diff "$T/p1.txt" "$T/n1.txt" || fail "the clone apply differs from the plain one (< plain)"
ok "a commit by clone gives exactly the plain apply's tree"
grep -qE '^\./(\.dockerenv|proc|dev|etc/hosts) ' "$T/n1.txt" && fail "init files in the commit"
ok "no init layer file in the commit"
n=$(owned n1)
p=$(owned p1)
[ "$n" -lt $((1 << 20)) ] || fail "the cloned layer owns $n bytes"
ok "the cloned layer owns $((n >> 10)) KiB (the plain apply: $((p >> 10)) KiB)"

# A tar that starts as the Diff does (its first member, the big file) and then differs.
python3 - "$T/c.tar" "$T/foreign.tar" <<'EOF'
import io, sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
with tarfile.open(src) as tf:
    first = tf.next()
    end = first.offset_data + (first.size + 511) // 512 * 512
raw = open(src, "rb").read(end)
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as out:
    def add(name, data=None, kind=tarfile.REGTYPE, mode=0o644):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime = kind, mode, 1700000000
        ti.size = len(data) if data is not None else 0
        out.addfile(ti, io.BytesIO(data) if data is not None else None)
    add("bin/.wh.link", b"")
    add("etc/passwd", b"root:x:0:0:changed\n")
    add("var", kind=tarfile.DIRTYPE, mode=0o755)
    add("var/.wh..wh..opq", b"")
    add("var/new.txt", b"new\n")
    add("zz/below/file", b"implied parents\n")
body = buf.getvalue()
body = body[:len(body) - 1024] if body.endswith(b"\0" * 1024) else body
open(dst, "wb").write(raw + body.rstrip(b"\0") + b"\0" * (-len(raw + body.rstrip(b"\0")) % 512) + b"\0" * 1024)
EOF
clone_apply n2 "$T/foreign.tar"
create p2 img
apply_diff p2 img "$T/foreign.tar"
assert_eq "$CODE" 200 "plain ApplyDiff of the foreign tar"
tree n2 nodirtime >"$T/n2.txt"
tree p2 nodirtime >"$T/p2.txt"
diff "$T/p2.txt" "$T/n2.txt" || fail "foreign tar: the clone apply differs (< plain)"
grep -q '^\./etc/newf ' "$T/n2.txt" && fail "a change the tar lacks stayed"
ok "a tar that is not the Diff in flight applies exactly as plainly"
put c
