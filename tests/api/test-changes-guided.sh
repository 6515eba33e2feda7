#!/usr/bin/env bash
# Changes and Diff guided by the block maps (archive/changes-guide.c) give exactly what
# the naive walk gives.  The daemon runs with BUSE_CHANGES=verify: every guided walk is
# checked against a naive one and the call fails on any difference.  Several seeds of random
# mutations of a child layer (create, delete, rename, chmod, chown, capabilities and xattrs,
# hard and symbolic links, same-size overwrite with the old mtime put back, truncate, mkdir,
# rmdir, deep directories, fifos), with the child mounted or not, and a parent written after
# its child was made; each Diff tar applied onto the parent gives the child's tree back.
# A parent that is not mounted is read in-process (archive/changes-ext2.c), not mounted:
# verify's naive walk then mounts it and compares (device numbers, far-future mtimes too).
source "$(dirname "$0")/lib.sh"
requires_fuse
requires setcap setfattr mkfifo md5sum mknod
export BUSE_CHANGES=verify
api_start
api_init

SEEDS=${SEEDS:-6}

# populate DIR: a tree of ~400 entries over nested directories.
populate() {
  local d=$1 i j
  for i in $(seq 0 11); do
    mkdir -p "$d/d$i/sub/deeper"
    for j in $(seq 0 24); do echo "file $i $j" >"$d/d$i/f$j"; done
    for j in 0 1 2; do echo "deep $i $j" >"$d/d$i/sub/deeper/g$j"; done
    ln -s "f0" "$d/d$i/link"
    ln "$d/d$i/f1" "$d/d$i/hard"
    mkfifo "$d/d$i/fifo"
  done
  mknod "$d/d2/cdev" c 1 3 && mknod "$d/d2/bdev" b 7 200 && mknod "$d/d2/wide" c 300 70000
  cp /bin/true "$d/d0/captool"
  setcap cap_net_raw+ep "$d/d0/captool"
  setfattr -n user.x -v 1 "$d/d1/f2"
  # a v3 capability with root id 0, which getxattr shows as v2; its inode's neighbour changes
  echo v3 >"$d/d5/v3cap" && echo next >"$d/d5/v3next"
  setfattr -n security.capability -v 0x010000030020000000000000000000000000000000000000 "$d/d5/v3cap"
  touch -d '2001-02-03 04:05:06' "$d"/d*/f*
  touch -d '2300-01-02 03:04:05.123456789' "$d/d3/f3" "$d/d4/f4"
}

# mutate DIR N: N random changes (the same ones for the same seed of RANDOM).
mutate() {
  local d=$1 n=$2 k p t all
  for ((k = 0; k < n; k++)); do
    mapfile -t all < <(cd "$d" && find . -mindepth 1 | sort)
    [ ${#all[@]} -gt 0 ] || return 0
    p=${all[RANDOM % ${#all[@]}]}
    t="$d/$p"
    case $((RANDOM % 17)) in
      0) echo "new $k" >"$t.new$k" 2>/dev/null || echo "new $k" >"$d/top$k" ;;
      1) rm -rf "$t" ;;
      2) mv "$t" "$d/d$((RANDOM % 12))/moved$k" 2>/dev/null || true ;;
      3) chmod 0$((RANDOM % 8))$((RANDOM % 8))$((RANDOM % 8)) "$t" 2>/dev/null || true ;;
      4) chown -h $((RANDOM % 3)):$((RANDOM % 3)) "$t" ;;
      5) [ -f "$t" ] && [ ! -L "$t" ] && { setcap cap_net_admin+ep "$t" || true; } ;;
      6) [ -L "$t" ] || { setfattr -n user.k$k -v v "$t" 2>/dev/null || true; } ;;
      7) [ -f "$t" ] && [ ! -L "$t" ] && { setcap -r "$t" 2>/dev/null || true; } ;;
      8) [ -f "$t" ] && [ ! -L "$t" ] && ln "$t" "$d/d$((RANDOM % 12))/hl$k" 2>/dev/null ;;
      9) ln -sf "../$p" "$d/d$((RANDOM % 12))/sl$k" 2>/dev/null || true ;;
      10) if [ -f "$t" ] && [ ! -L "$t" ] && [ -s "$t" ]; then # same size, old mtime back
        local m s
        m=$(stat -c %y "$t") s=$(stat -c %s "$t")
        head -c "$s" /dev/urandom >"$t.tmp" && cat "$t.tmp" >"$t" && rm "$t.tmp"
        touch -d "$m" "$t"
      fi ;;
      11) [ -f "$t" ] && [ ! -L "$t" ] && truncate -s $((RANDOM % 100)) "$t" ;;
      12) mkdir -p "$d/d$((RANDOM % 12))/n$k/a/b/c" && echo x >"$d/d$((RANDOM % 12))/n$k-f" ;;
      13) [ -d "$t" ] && [ ! -L "$t" ] && { rmdir "$t" 2>/dev/null || rm -rf "$t"; } ;;
      14) mkfifo "$d/d$((RANDOM % 12))/fifo$k" ;;
      15) rm -f "$d/d2/cdev" && mknod "$d/d2/cdev" c $((RANDOM % 300)) $((RANDOM % 70000)) ;;
      16) [ -f "$t" ] && [ ! -L "$t" ] && touch -d "2$((RANDOM % 400 + 100))-01-01 00:00:00.$k" "$t" ;;
    esac 2>/dev/null || true # a mutation that does not apply to what was picked is skipped
  done
}

# tree DIR: what must match after applying a Diff (times of non-directories, whole seconds),
# with the contents of the regular files listed in $T/changed (a same-size overwrite with the
# old mtime put back is no change for Docker's naive diff, so it is not in the Diff either).
tree() {
  (cd "$1" && find . -mindepth 1 -printf '%p %y %m %U %G %l ' \( -type d -printf '\n' -o \
    -printf '%s %TY%Tm%Td%TH%TM%TS\n' \) | sed 's/\.[0-9]*$//' | sort)
  (cd "$1" && while read -r f; do if [ -f ".$f" ] && [ ! -L ".$f" ]; then md5sum ".$f"; fi; done <"$T/changed")
  (cd "$1" && getcap -r . 2>/dev/null | sort)
}

# check ID PARENT [mounted]: Changes (verified by the daemon) are not empty and came from the
# guide, reading PARENT in-process unless it is mounted; the Diff applied on PARENT gives ID's
# tree.
check() {
  local id=$1 parent=$2 dir line cand all n0 n1
  n0=$(grep -c "changes of $id: parent $parent read in-process" "$T/buse.log" || true)
  ok_call GraphDriver.Changes "{\"ID\":\"$id\",\"Parent\":\"$parent\"}"
  n1=$(grep -c "changes of $id: parent $parent read in-process" "$T/buse.log" || true)
  if [ "${3:-}" = mounted ]; then
    [ "$n1" = "$n0" ] || fail "$id: parent $parent is mounted, yet was read in-process"
  else
    [ "$n1" -gt "$n0" ] || fail "$id: parent $parent was not read in-process"
    grep -q "guided walk (parent in-process)" "$T/buse.log" || fail "$id: no in-process walk"
    ok "$id: parent $parent read in-process, not mounted, for the guided walk"
  fi
  [ "$(jq '.Changes | length' <<<"$BODY")" -gt 0 ] || fail "$id: no changes"
  line=$(grep "changes of $id: guided" "$T/buse.log" | tail -n 1) || fail "$id: the guide was not used"
  read -r cand all < <(sed -E 's/.*guided, ([0-9]+) of ([0-9]+) inodes.*/\1 \2/' <<<"$line")
  [ "$cand" -lt $((all / 4)) ] || fail "$id: the guide names $cand inodes of $all"
  ok "$id: guided changes ($cand of $all inodes) equal the naive ones ($(jq '.Changes | length' <<<"$BODY") changes)"
  jq -r '.Changes[] | select(.Kind != 2) | .Path' <<<"$BODY" >"$T/changed"
  ok_call GraphDriver.DiffSize "{\"ID\":\"$id\",\"Parent\":\"$parent\"}"
  diff_to "$id" "$parent" "$T/$id.tar"
  [ "$CODE" = 200 ] || fail "$id: Diff: HTTP $CODE"
  create "$id-copy" "$parent"
  apply_diff "$id-copy" "$parent" "$T/$id.tar"
  [ "$CODE" = 200 ] || fail "$id: ApplyDiff: HTTP $CODE $BODY"
  dir=$(get "$id")
  tree "$dir" >"$T/want"
  put "$id"
  dir=$(get "$id-copy")
  tree "$dir" >"$T/got"
  put "$id-copy"
  diff "$T/want" "$T/got" || fail "$id: the Diff applied on $parent does not give $id back"
  ok "$id: Diff applied on $parent gives the same tree"
}

create base
populate "$(get base)"
put base

for ((s = 1; s <= SEEDS; s++)); do
  RANDOM=$s
  create_rw "c$s" base
  mutate "$(get "c$s")" 30
  touch "$(get "c$s")/d5/v3next" 2>/dev/null || true
  put "c$s"
  ((s % 2)) && put "c$s" # odd seeds: not mounted when Changes comes
  check "c$s" base
  if ! ((s % 2)); then # mounted: settled by syncfs and a scan of its journal
    grep -q "layer c$s: [0-9]* journal blocks scanned" "$T/buse.log" || fail "c$s: journal not scanned"
    put "c$s"
  fi
done

# A parent written after its child was made: both sides of the fork changed.
create_rw p base
dp=$(get p)
mutate "$dp" 10
create_rw q p # p mounted: sealed live, p gets a fresh top
RANDOM=99
mutate "$dp" 20
mutate "$(get q)" 20
put q
check q p mounted
put p
