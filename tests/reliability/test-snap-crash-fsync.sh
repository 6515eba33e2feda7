#!/usr/bin/env bash
# kill -9 of buse's containerd snapshotter under containers that write with fsync (dockerd
# 28.5.2, containerd 2.1.9), ROUNDS times (default 10; CI 3), CONTAINERS writers each (3).
# A writer appends numbered records of varying length (16..2015 bytes) to /data/log, fsyncs
# the file after each (busybox `sync FILE`: fsync(2)) and only then prints "ack N" (docker
# logs, kept by dockerd outside the container).  After a random delay the snapshotter is
# SIGKILLed and started again.  What each writer saw is reported exactly: kept writing after
# the restart, or died with the failing call, its record and message (write, fsync), or hung.
# Then the containers are stopped and /data/log read back through the restarted snapshotter
# (docker cp): every acknowledged record must be there, in order, byte for byte (0 fsynced
# bytes lost; what follows them is counted: records written but not acknowledged, torn
# lines).  The first writer of each round is started again and must acknowledge new
# records.  The container layers are checked with e2fsck -fn (`buse fsck` with the
# snapshotter stopped, so that no ext4 is mounted), the containers removed, and the home,
# mounts, loop devices and processes are back to their state at start.
# STRICT_IO=1 also fails the test when a writer saw an I/O error.  SEED repeats the delays.
source "$(dirname "$0")/../docker28/lib.sh"
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/snap.sh"
ROUNDS=${ROUNDS:-10} CONTAINERS=${CONTAINERS:-3} SEED=${SEED:-$$} STRICT_IO=${STRICT_IO:-0}
RANDOM=$SEED
echo "ROUNDS=$ROUNDS CONTAINERS=$CONTAINERS SEED=$SEED"
requires e2fsck
d28_setup buse
busybox_import bb bu
SNAP_BASE_LS=$(snap_home_ls) SNAP_BASE_COUNT=$(snap_count)
base_leaks=$(snap_leaks)

# The writer: exit 12 when a write fails, 13 when an fsync fails (stderr says why).
# shellcheck disable=SC2016
writer='f=/data/log; mkdir -p /data && : >$f && sync $f /data || exit 11
pad=x; while [ ${#pad} -lt 2048 ]; do pad=$pad$pad; done
i=0
while :; do
  i=$((i + 1))
  printf "%08d %s\n" $i "${pad:0:$(( (i * 7919) % 2000 + 16 ))}" >>$f || { echo "FAILED write of record $i"; exit 12; }
  sync $f || { echo "FAILED fsync of record $i"; exit 13; }
  echo "ack $i"
done'

# check_log FILE ACKED: prints "records bytes-of-acked extra torn" or fails with the first
# acknowledged record that is missing or differs.
check_log() {
  awk -v acked="$2" '
    BEGIN { pad = "x"; while (length(pad) < 2048) pad = pad pad }
    { want = sprintf("%08d %s", NR, substr(pad, 1, (NR * 7919) % 2000 + 16)) }
    bad { next }
    $0 == want && !torn { good = NR; if (NR <= acked) bytes += length($0) + 1; next }
    NR <= acked { printf "record %d of %d acknowledged differs: %.40s...\n", NR, acked, $0; bad = 1; next }
    { torn++ }
    END { if (bad) exit 2
          if (good < acked) { printf "only %d records, %d acknowledged\n", good, acked; exit 2 }
          printf "%d %d %d %d\n", good, bytes, good - acked, torn }' "$1"
}

# layer_of CONTAINER: the buse layer id of the container's active snapshot (containerd's
# backend key is NAMESPACE/N/KEY, and dockerd's KEY is the container id).
layer_of() {
  local cid
  cid=$(dk bu inspect -f '{{.Id}}' "$1")
  python3 - "$SNAP_HOME/snapshots" "$cid" <<'EOT'
import json, os, sys
d, cid = sys.argv[1], sys.argv[2]
for f in sorted(os.listdir(d)):
    if f.endswith(".json"):
        r = json.load(open(os.path.join(d, f)))
        if r["key"].endswith("/" + cid) and r["kind"] == "active":
            print(r["id"])
EOT
}

acks() { dk bu logs "$1" 2>/dev/null | grep -c '^ack ' || true; }
restarted=0 kills=0 verified=0 vbytes=0 extra=0 torn_total=0 fscks=0 kept=0 died=0 hung=0
declare -A fate_count=()
for ((k = 1; k <= ROUNDS; k++)); do
  names=()
  for ((c = 1; c <= CONTAINERS; c++)); do
    dk bu run -d --name "w${k}_$c" --network none bb sh -c "$writer" >/dev/null || fail "round $k: docker run w${k}_$c"
    names+=("w${k}_$c")
  done
  for n in "${names[@]}"; do
    for ((i = 0; i < 300; i++)); do [ "$(acks "$n")" -ge 20 ] && break; sleep 0.2; done
    [ "$(acks "$n")" -ge 20 ] || fail "round $k: $n acknowledged $(acks "$n") records in 60 s: $(dk bu logs "$n" 2>&1 | tail -n 3)"
  done
  delay=$(rand_delay 0.1 2)
  sleep "$delay"
  declare -A before=()
  for n in "${names[@]}"; do before[$n]=$(acks "$n"); done
  kill9 "$SNAP_PID" || fail "round $k: the snapshotter SIGKILLed under $CONTAINERS writers cannot exit (above)"
  kills=$((kills + 1))
  SNAP_PID=''
  start_snap
  # Give every writer 5 s after the restart to show what it does.
  sleep 5
  for n in "${names[@]}"; do
    running=$(dk bu inspect -f '{{.State.Running}}' "$n")
    now=$(acks "$n")
    if [ "$running" = true ]; then
      sleep 1
      if [ "$(acks "$n")" -gt "$now" ]; then fate="kept writing (acks $now at +5 s, $(acks "$n") at +6 s)"; kept=$((kept + 1)); fc=kept
      else fate="hung: running, no ack since $now"; hung=$((hung + 1)); fc=hung
      fi
      dk bu kill "$n" >/dev/null 2>&1 || true
    else
      code=$(dk bu inspect -f '{{.State.ExitCode}}' "$n")
      fate="died, exit $code: $(dk bu logs "$n" 2>&1 | grep -v '^ack ' | tr '\n' ' ' | cut -c1-200)"
      died=$((died + 1)) fc="exit $code"
    fi
    fate_count[$fc]=$((${fate_count[$fc]:-0} + 1))
    echo "round $k: $n: ${before[$n]} acks before the kill; $fate"
    [ "$STRICT_IO" = 0 ] || [ "$fc" = kept ] || fail "round $k: $n saw the kill (STRICT_IO=1): $fate"
  done
  for n in "${names[@]}"; do dk bu wait "$n" >/dev/null 2>&1 || true; done
  for n in "${names[@]}"; do
    a=$(acks "$n")
    rm -rf "$T/got" && mkdir "$T/got"
    for ((i = 0; i < 20; i++)); do
      dk bu cp "$n:/data/log" - 2>"$T/cp.err" | tar -C "$T/got" -xf - 2>/dev/null && break
      sleep 1
    done
    [ -f "$T/got/log" ] || fail "round $k: docker cp $n:/data/log after the restart: $(cat "$T/cp.err")"
    res=$(check_log "$T/got/log" "$a") || fail "round $k: $n: acknowledged data lost: $res (log: $(wc -c <"$T/got/log") bytes)"
    read -r _ b x t <<<"$res"
    verified=$((verified + a)) vbytes=$((vbytes + b)) extra=$((extra + x)) torn_total=$((torn_total + t))
    ok "round $k: $n: all $a acknowledged records ($b bytes) intact; $x more written, $t torn"
  done
  # The first writer starts again on the restarted snapshotter (its log starts anew) and
  # acknowledges 10 new records.
  n=${names[0]} a=$(acks "$n")
  for ((i = 0; i < 20; i++)); do dk bu start "$n" >/dev/null 2>&1 && break; sleep 1; done
  for ((i = 0; i < 100; i++)); do [ "$(acks "$n")" -ge $((a + 10)) ] && break; sleep 0.2; done
  [ "$(acks "$n")" -ge $((a + 10)) ] ||
    fail "round $k: $n started again after the restart acknowledged $(($(acks "$n") - a)) records in 20 s: $(dk bu logs "$n" 2>&1 | tail -n 2)"
  dk bu kill "$n" >/dev/null 2>&1 || true
  dk bu wait "$n" >/dev/null 2>&1 || true
  restarted=$((restarted + 1))
  # e2fsck -fn of each container's layer, offline: the snapshotter stopped (TERM unmounts).
  ids=()
  for n in "${names[@]}"; do ids+=("$(layer_of "$n")"); done
  stop_snap
  for ((c = 0; c < CONTAINERS; c++)); do
    [ -n "${ids[c]}" ] || fail "round $k: no snapshot record for ${names[c]}"
    "$BUSE" fsck --home "$SNAP_HOME" --tmpdir "$T" "${ids[c]}" >"$T/fsck.$k.$c" 2>&1 ||
      { cat "$T/fsck.$k.$c"; fail "round $k: buse fsck (e2fsck -fn) of ${names[c]}'s layer ${ids[c]}"; }
    grep -q "^layer ${ids[c]}: filesystem clean" "$T/fsck.$k.$c" ||
      { cat "$T/fsck.$k.$c"; fail "round $k: buse fsck did not check the filesystem of ${names[c]}'s layer ${ids[c]} (above)"; }
    fscks=$((fscks + 1))
  done
  start_snap
  for n in "${names[@]}"; do
    for ((i = 0; i < 20; i++)); do dk bu rm "$n" >/dev/null 2>&1 && break; sleep 1; done
    dk bu inspect "$n" >/dev/null 2>&1 && fail "round $k: docker rm $n: $(dk bu rm "$n" 2>&1)"
  done
  snap_gc_wait 60 || {
    diff <(echo "$SNAP_BASE_LS") <(snap_home_ls) | head -n 20
    fail "round $k: 60 s after docker rm: $(snap_count) snapshots in containerd (at start $SNAP_BASE_COUNT), home differs from the start (above)"
  }
  now=$(snap_leaks)
  [ "$now" = "$base_leaks" ] || { diff <(echo "$base_leaks") <(echo "$now"); fail "round $k: leaked mounts, loops or processes (above)"; }
  ok "round $k: kill -9 at +$delay s: ${names[0]} started again and writing, $CONTAINERS layers e2fsck clean, home and processes back to the start"
done
dk bu rmi bb >/dev/null
snap_stop_all
assert_eq "$(snap_leaks)" "" "mounts, loops, processes after every daemon stopped"
fates=$(for f in "${!fate_count[@]}"; do echo "$f: ${fate_count[$f]}"; done | sort | tr '\n' ',' | sed 's/,$//')
echo "writers after the kill: $fates"
counts "kills=$kills writers=$((ROUNDS * CONTAINERS)) kept-writing=$kept died=$died hung=$hung acked-records-verified=$verified acked-bytes-verified=$vbytes fsynced-bytes-lost=0 unacked-records-found=$extra torn=$torn_total e2fsck-clean=$fscks restarted-and-writing=$restarted"
