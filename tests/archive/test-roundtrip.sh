#!/usr/bin/env bash
# GNU tar of a tree with every kind of entry → ar_apply_tar into an empty dir: same tree
# (content, modes, owners, mtimes, links, xattrs, capabilities, sparseness); the size
# reported is ar_diff_size less the symlinks' lengths; gzip, xz and zstd streams apply the same.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_root
requires tar setcap getcap getfattr setfattr python3
scratch
S=$T/src
mkdir -p "$S/d/sub" "$S/empty"
echo hello >"$S/d/f"
ln "$S/d/f" "$S/d/hard"
ln -s ../d/f "$S/d/rel-link"
ln -s /etc/absolute "$S/abs-link"
mkfifo "$S/fifo"
mknod "$S/null" c 1 3
mknod "$S/blk" b 7 200
truncate -s 100M "$S/sparse"
printf 'middle' | dd of="$S/sparse" bs=1 seek=$((50 << 20)) conv=notrunc status=none
printf 'x%.0s' {1..5000} >"$S/d/sub/data"
cp /bin/true "$S/suid" && chmod 4755 "$S/suid"
chmod 2750 "$S/d/sub" && chmod 1777 "$S/empty"
chown 4321:8765 "$S/d/sub/data" && chown 70000:70001 "$S/empty"
setcap cap_net_raw,cap_net_admin+ep "$S/suid"
setfattr -n user.note -v "some value" "$S/d/f"
setfattr -n trusted.t -v tv "$S/d/sub"
touch "$S/ünïcödé-日本" "$S/$(printf 'raw\xff')"
long=$(printf 'long-name-%.0s' {1..12})/$(printf 'n%.0s' {1..150})
mkdir -p "$S/$(dirname "$long")" && echo long >"$S/$long"
touch -h -d '2001-02-03 04:05:06.789' "$S/d/rel-link" "$S/d/f" "$S/d"
touch -d '1999-12-31 23:59:59' "$S/empty"

tar --xattrs --xattrs-include='*' --numeric-owner -S -cf "$T/t.tar" -C "$S" .
mkdir "$T/dst"
size=$("$GDA" apply "$T/dst" <"$T/t.tar") || fail "apply failed"
same_trees "$S" "$T/dst" "gnu tar round trip"
[ "$(stat -c %i "$T/dst/d/f")" = "$(stat -c %i "$T/dst/d/hard")" ] || fail "hardlink lost"
ok "hardlink kept"
getcap "$T/dst/suid" | grep -q cap_net_admin || fail "capability lost"
ok "security.capability kept"
[ "$(stat -c %A "$T/dst/suid")" = -rwsr-xr-x ] || fail "setuid lost"
used=$(du -k "$T/dst/sparse" | cut -f1)
[ "$used" -lt 1024 ] || fail "sparse file takes $used KiB"
ok "sparse file takes $used KiB"
# DiffSize (moby's ChangesSize) counts what ApplyDiff's size does plus each symlink's length
dsize=$("$GDA" size "$T/dst")
links=$(find "$T/dst" -type l -printf '%s\n' | awk '{s+=$1} END {print s+0}')
assert_eq "$dsize" "$((size + links))" "diff size = apply size + symlink lengths"
want=$(find "$S" -type f -links 1 -printf '%s\n' | awk '{s+=$1} END {print s + 6}')
assert_eq "$size" "$want" "size = regular file bytes (hardlinks once)"

for z in gzip xz zstd; do
  command -v $z >/dev/null || continue
  mkdir "$T/dst-$z"
  $z -c <"$T/t.tar" >"$T/t.tar.$z"
  zsize=$("$GDA" apply "$T/dst-$z" <"$T/t.tar.$z") || fail "$z apply failed"
  assert_eq "$zsize" "$size" "$z size"
  same_trees "$S" "$T/dst-$z" "$z stream"
done
