#!/usr/bin/env bash
# Block volumes on dockerd 28.5.2 (volume plugins outlived graphdriver plugins): images on
# buse's snapshotter, volumes from `buse serve` on its plugin socket (no GraphDriver.Init
# ever comes).  The same checks as tests/docker/test-volumes.sh, plus a kill -9 of buse serve
# under a container that fsyncs into a volume, and a dockerd restart with a volume in use.
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/docker/volumes-lib.sh"
source "$TOP/tests/reliability/lib.sh"
d28_setup buse
bu_is_buse || skip "test-volumes is for buse only"
BUSE_SOCK=$T/buse.sock
claim_plugin_name
BUSE_HOME=$T/gd-home start_buse_daemon
make_busybox_image bb bu
VOL_D=bu
base=$(vol_store_bytes)
vol_check_basic
vol_check_clone_live
vol_check_enospc
vol_check_ro
vol_check_bad_input

# kill -9 of buse serve while a container fsyncs into v1; the fsynced files survive
dk bu run -d --name wr --network none -v v1:/data bb sh -c 'i=0; mkdir -p /data/k; sync /data
  while :; do i=$((i+1)); echo "rec $i" >/data/k/f$i; sync /data/k/f$i /data/k || exit 1; echo $i; done' >/dev/null
wait_for _vol_logged wr 10
kill9 "$BUSE_PID" || fail "buse serve SIGKILLed cannot exit (above)"
BUSE_PID=''
start_buse_daemon
dk bu kill wr >/dev/null 2>&1 || true
last=$(dk bu logs wr 2>/dev/null | tail -n 1)
dk bu rm -f wr >/dev/null
vrun v1 "i=1; while [ \$i -le $last ]; do [ \"\$(cat /data/k/f\$i)\" = \"rec \$i\" ] || exit 1; i=\$((i+1)); done" ||
  fail "a file fsynced before the kill -9 is lost"
ok "all $last files fsynced before the kill -9 of buse serve are there"

# dockerd restart while a container uses v1
dk bu run -d --name keep --network none -v v1:/data bb sh -c 'echo kept >/data/kept; sync /data/kept; sleep 1000' >/dev/null
wait_for dk bu exec keep cat /data/kept
restart_dockerd28 bu
dk bu start keep >/dev/null 2>&1 || true
assert_eq "$(vrun v1 'cat /data/kept /data/a')" "kept
hello" "v1's data after a dockerd restart"
dk bu rm -f keep >/dev/null
vol_check_rm_frees "$base"
