# Checks of buse's block volumes (`docker volume create -d buse`) that run the same under
# dockerd 20.10 (tests/docker/test-volumes*.sh) and dockerd 28.5.2 (tests/docker28/):
# source it after the Docker library, with `buse serve` started by start_buse_daemon (its
# volume plugin is $BUSE_DRIVER) and an image "bb" on dockerd VOL_D.
#   VOL_D             the dockerd to use (dk "$VOL_D" ...)
#   vol_home          the volume store: $BUSE_STATE/volumes
#   vol_store_bytes   host bytes the volume store's layer files hold
# Each vol_check_* prints ok: lines and fails with a message naming the volume.

vol_home() { echo "$BUSE_STATE/volumes"; }
vd() { dk "$VOL_D" "$@"; }
vol_store_bytes() { du -s --block-size=1 "$(vol_home)/store/layers" | cut -f1; }
# vrun VOLUME[:OPTS] CMD: a throw-away container with VOLUME on /data.
vrun() { local v=$1; shift; vd run --rm --network none -v "$v:/data" bb sh -c "$*"; }

# Create, write from one container, read from another, inspect and ls.
vol_check_basic() {
  vd volume create -d "$BUSE_DRIVER" -o size=1G v1 >/dev/null || fail "volume create v1"
  vrun v1 'echo hello >/data/a; mkdir /data/d; head -c 1048576 /dev/urandom >/data/d/big;
    md5sum /data/d/big >/data/sum; ln -s a /data/l; sync' || fail "writing into v1"
  assert_eq "$(vrun v1 'cat /data/a; md5sum -c /data/sum >/dev/null && echo sum-ok;
    readlink /data/l; ls /data')" "hello
sum-ok
a
a
d
l
sum" "a second container sees v1's files"
  assert_eq "$(vrun v1 'df -k /data | awk "NR==2 {print (\$2 > 900000 && \$2 < 1100000)}"')" 1 \
    "v1's filesystem has about 1G"
  assert_eq "$(vd volume inspect -f '{{.Driver}} {{.Options.size}} {{.Scope}}' v1)" \
    "$BUSE_DRIVER 1G local" "volume inspect: driver, options, scope"
  vd volume inspect -f '{{json .Status}}' v1 | grep -q '"DiskBytes"' ||
    fail "volume inspect v1 shows no Status: $(vd volume inspect v1)"
  vd volume ls --format '{{.Driver}} {{.Name}}' | grep -qx "$BUSE_DRIVER v1" ||
    fail "volume ls: $(vd volume ls)"
  ok "volume ls lists v1"
  # --volume-driver with -v NAME:/d sends "Opts": null
  vd run --rm --network none --volume-driver "$BUSE_DRIVER" -v v0:/data bb sh -c 'echo x >/data/x' ||
    fail "run --volume-driver $BUSE_DRIVER -v v0:/data (Opts null)"
  assert_eq "$(vd volume inspect -f '{{.Driver}}' v0)" "$BUSE_DRIVER" "implicit volume v0 on buse"
  vd volume rm v0 >/dev/null
}

_vol_logged() { [ "$(vd logs "$1" 2>/dev/null | wc -l)" -gt "$2" ]; } # CONTAINER N

# A clone (-o from=v1) taken while a container fsyncs files into v1.
vol_check_clone_live() {
  local before after last n i
  vd run -d --name vw --network none -v v1:/data bb sh -c 'i=0; mkdir -p /data/w
    while :; do i=$((i+1)); echo "rec $i" >/data/w/f$i; sync /data/w/f$i /data/w || exit 1
      echo "$i"; done' >/dev/null || fail "writer on v1"
  wait_for _vol_logged vw 20
  before=$(vol_store_bytes)
  last=$(vd logs vw 2>/dev/null | tail -n 1)
  vd volume create -d "$BUSE_DRIVER" -o from=v1 c1 >/dev/null || fail "volume create c1 from=v1 (v1 busy)"
  after=$(vol_store_bytes)
  ok "clone c1 of a busy v1: store +$((after - before)) bytes"
  [ $((after - before)) -lt 1048576 ] || fail "the clone cost $((after - before)) bytes (want < 1 MiB)"
  vd rm -f vw >/dev/null
  n=$(vrun c1 'ls /data/w | wc -l')
  [ "$n" -ge "$last" ] || fail "clone c1 holds $n files, the writer had fsynced $last before it"
  vrun c1 "i=1; while [ \$i -le $last ]; do [ \"\$(cat /data/w/f\$i)\" = \"rec \$i\" ] || exit 1; i=\$((i+1)); done" ||
    fail "clone c1: a file fsynced before the clone is wrong or missing"
  ok "clone c1 holds every one of the $last files fsynced before it"
  vrun c1 'echo clone-only >/data/conly; rm /data/a'
  vrun v1 'echo orig-only >/data/vonly'
  assert_eq "$(vrun v1 'cat /data/a; ls /data/conly 2>&1 | grep -c "No such"')" "hello
1" "v1 does not see the clone's writes"
  assert_eq "$(vrun c1 'cat /data/conly; ls /data/vonly 2>&1 | grep -c "No such"')" "clone-only
1" "the clone does not see v1's later writes"
  "$BUSE" fsck --home "$(vol_home)/store" --tmpdir "$T" c1 >"$T/fsck.c1" 2>&1 ||
    { cat "$T/fsck.c1"; fail "buse fsck (e2fsck -fn) of clone c1"; }
  ok "clone c1 is fsck-clean"
  vd volume rm c1 >/dev/null
}

# size=64M: a 100 MiB write fails with ENOSPC, the daemon keeps serving.
vol_check_enospc() {
  local out
  vd volume create -d "$BUSE_DRIVER" -o size=64M small >/dev/null || fail "volume create small"
  out=$(vrun small 'dd if=/dev/zero of=/data/big bs=1M count=100; echo rc=$?' 2>&1) || true
  grep -q 'No space left on device' <<<"$out" || fail "100 MiB into a 64M volume: $out"
  grep -q 'rc=0' <<<"$out" && fail "100 MiB into a 64M volume succeeded: $out"
  ok "100 MiB into a 64M volume: No space left on device"
  assert_eq "$(vrun small 'rm /data/big; echo ok >/data/f; cat /data/f')" ok "small works after ENOSPC"
  vd volume rm small >/dev/null
}

# Bad input: a clear error, nothing created.
vol_check_bad_input() {
  local out name opts want
  local before
  before=$(vd volume ls -q | sort | tr '\n' ' ')
  while IFS='|' read -r name opts want; do
    # shellcheck disable=SC2086
    out=$(vd volume create -d "$BUSE_DRIVER" $opts "$name" 2>&1) &&
      fail "volume create $name $opts succeeded"
    grep -qF "$want" <<<"$out" || fail "volume create $name $opts: '$out' does not say '$want'"
    ok "create $name $opts: $(tr '\n' ' ' <<<"$out" | cut -c1-110)"
  done <<EOT
b1|-o bogus=1|unknown volume option 'bogus' (known: size, from, ro, fs)
b2|-o size=12Q|bad size '12Q'
b3|-o size=1M|bad size '1M'
b4|-o from=missing|no such volume: missing
b5|-o fs=xfs|unsupported fs 'xfs'
..|-o size=1G|invalid volume name
a..b|-o size=1G|invalid volume name
EOT
  assert_eq "$(vd volume ls -q | sort | tr '\n' ' ')" "$before" "no volume created by bad input"
  assert_eq "$(ls "$(vol_home)/vols" | grep -cv '^v1.json$' || true)" 0 "no record made by bad input"
}

# -o ro: the container cannot write.
vol_check_ro() {
  vd volume create -d "$BUSE_DRIVER" -o ro rov >/dev/null || fail "volume create -o ro"
  vrun rov 'touch /data/x' 2>/dev/null && fail "a write into an ro volume succeeded"
  ok "ro volume refuses writes"
  vd volume rm rov >/dev/null
}

# docker volume rm frees the space: back to BASE bytes (within 1 MiB).
vol_check_rm_frees() {
  local base=$1 now
  vd volume rm v1 >/dev/null || fail "volume rm v1"
  now=$(vol_store_bytes)
  ok "store after rm: $now bytes (baseline $base)"
  [ $((now - base)) -lt 1048576 ] || fail "volume rm left $((now - base)) bytes"
  assert_eq "$(ls "$(vol_home)/vols")" "" "no volume record left"
}

# `buse volume` beside the running daemon: create, snapshot of a volume in use, ls, inspect,
# rm, and errors that name the volume.
vol_check_cli() {
  local bv=("$BUSE" volume --socket "$BUSE_SOCK") out
  "${bv[@]}" create cli1 -o size=256M >/dev/null || fail "buse volume create cli1"
  vrun cli1 'echo from-cli >/data/f; sync /data/f'
  vd run -d --name vcli --network none -v cli1:/data bb sleep 1000 >/dev/null
  "${bv[@]}" snapshot cli1 cli2 >/dev/null || fail "buse volume snapshot cli1 cli2 (cli1 in use)"
  vd rm -f vcli >/dev/null
  assert_eq "$(vrun cli2 'cat /data/f')" from-cli "the snapshot cli2 has cli1's file"
  out=$("${bv[@]}" ls)
  grep -qE '^cli1 +268435456 ' <<<"$out" && grep -qE '^cli2 ' <<<"$out" || fail "buse volume ls: $out"
  ok "buse volume ls lists cli1 (256M) and cli2"
  "${bv[@]}" inspect cli2 | grep -q '"from": "cli1"' || fail "buse volume inspect cli2: $("${bv[@]}" inspect cli2)"
  ok "buse volume inspect cli2 shows from=cli1"
  out=$("${bv[@]}" inspect nope 2>&1) && fail "inspect of a missing volume succeeded"
  grep -q 'no such volume: nope' <<<"$out" || fail "inspect nope: $out"
  out=$("${bv[@]}" snapshot nope x 2>&1) && fail "snapshot of a missing volume succeeded"
  grep -q 'no such volume: nope' <<<"$out" || fail "snapshot nope: $out"
  ok "missing volumes named in the errors"
  "${bv[@]}" rm cli2 >/dev/null && "${bv[@]}" rm cli1 >/dev/null || fail "buse volume rm"
  ! "${bv[@]}" ls | grep -q '^cli' || fail "buse volume rm left: $("${bv[@]}" ls)"
  ok "buse volume rm"
}
