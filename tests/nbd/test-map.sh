#!/usr/bin/env bash
# nbdinfo --map (NBD_CMD_BLOCK_STATUS, base:allocation) matches the file's real data/hole
# layout, as SEEK_DATA/SEEK_HOLE see it from outside the server.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires nbdinfo jq python3
scratch
sparse_file "$T/a.img" 256
nbd_start a=$T/a.img
nbdinfo --map --json "$(nbd_uri a)" |
  jq -r '.[] | "\(.offset) \(.length) \(if .type == 0 then "data" else "hole" end)"' |
  awk 'NR > 1 && $3 == t { l += $2; next } NR > 1 { print o, l, t } { o = $1; l = $2; t = $3 }
       END { print o, l, t }' >"$T/got"
python3 - "$T/a.img" >"$T/want" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
pos = 0
while pos < size:
    try:
        data = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:
        data = size
    if data > pos:
        print(pos, data - pos, "hole")
    if data >= size:
        break
    hole = os.lseek(fd, data, os.SEEK_HOLE)
    print(data, hole - data, "data")
    pos = hole
PY
diff -u "$T/want" "$T/got" || fail "map differs from the file's layout"
n=$(grep -c data "$T/got")
[ "$n" -ge 7 ] || fail "expected several data extents, got $n"
ok "map matches the file layout ($n data extents)"
