#!/usr/bin/env bash
# kill -9 of buse's containerd snapshotter during `docker load` (dockerd 28.5.2, containerd
# 2.1.9), ROUNDS times (default 10; CI 3).  The image (MB MiB, default 120: busybox + ~3,000
# small files with links, odd modes and owners + a few big files + a whiteout layer; 4
# layers) is built and saved once by the overlayfs dockerd "ref" (cached, see snap.sh), which
# also prints the tree's checksums.  Round 0 loads it on "bu" (buse) without a fault, to time
# it.  Each round then starts `docker load` and SIGKILLs the snapshotter at a random point of
# it (KILL_AT=load: a delay within 90% of round 0's time; KILL_AT=unpack: within 0.5 s after
# the snapshotter made its second snapshot record, while the first big layer unpacks;
# default mixed: odd rounds load, even rounds unpack), starts it again, and retries the load
# (1 s apart, at most 10 attempts) until it succeeds: output without "Error unpacking image"
# (docker load exits 0 even then) and every layer a committed snapshot.  Attempts failing
# with Unavailable are containerd's gRPC client still backing off from the dead socket
# (counted).  Then a container on "bu" checksums the tree (as on overlayfs: every name,
# mode, owner, size, link count, mtime, symlink target and md5), the image is removed, and
# within 60 s containerd's GC has removed every snapshot and the snapshotter's home
# (layers/, diffs/, snapshots/, mnt/, state/kdev/) is back to its listing at start; no mount
# or loop device under the test's dirs, no nbdfuse or other stray process.  SEED repeats the
# delays.
# Known failure (README.md): a kill during the unpack of a layer can leave that layer
# committed without its content while docker load reports success; the test then fails, or
# with KNOWN_FAILURES=tolerate (the CI variant) counts it, goes on with the other checks and
# rounds, and exits 77 (skip) at the end when that was the only failure.
source "$(dirname "$0")/../docker28/lib.sh"
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/snap.sh"
ROUNDS=${ROUNDS:-10} MB=${MB:-120} SEED=${SEED:-$$} KNOWN_FAILURES=${KNOWN_FAILURES:-fail}
KILL_AT=${KILL_AT:-mixed}
RANDOM=$SEED
echo "ROUNDS=$ROUNDS MB=$MB SEED=$SEED KILL_AT=$KILL_AT"
d28_setup buse
snap_image "$MB"
files=$(grep -c ' regular file ' "$SNAPIMG_SUMS") bytes=$(sums_bytes "$SNAPIMG_SUMS")
echo "reference (overlayfs): $files regular files, $bytes bytes, $(wc -l <"$SNAPIMG_SUMS") lines"
SNAP_BASE_LS=$(snap_home_ls)
base_leaks=$(snap_leaks)
echo "baseline: $(echo "$SNAP_BASE_LS" | grep -c . || true) entries in the home; processes: $(echo "$base_leaks" | tr '\n' ';')"

# sums_report REF GOT: which names are missing on buse, and which differ, in a few lines.
sums_report() {
  python3 - "$1" "$2" <<'EOT'
import collections, sys
def load(p):
    d = {}
    for line in open(p, errors="replace"):
        line = line.rstrip("\n")
        name = line.split("  ", 1)[1] if len(line) > 34 and line[32:34] == "  " else line.split(" ", 1)[0]
        d.setdefault(name, []).append(line)
    return d
ref, got = load(sys.argv[1]), load(sys.argv[2])
missing = [n for n in ref if n not in got]
differ = [n for n in ref if n in got and sorted(ref[n]) != sorted(got[n])]
extra = [n for n in got if n not in ref]
by_dir = collections.Counter("/".join(n.split("/")[:3]) for n in missing)
print(f"sums: {len(ref)} names in the reference, {len(got)} on buse: {len(missing)} missing, {len(differ)} differ, {len(extra)} extra")
print("missing by directory:", ", ".join(f"{d} {c}" for d, c in sorted(by_dir.items())[:12]))
for n in differ[:5]:
    print("differs:", n, "| ref:", " / ".join(ref[n])[:150], "| buse:", " / ".join(got[n])[:150])
EOT
}

# verify WHAT: the image on bu checksums as on overlayfs; remove it; GC back to baseline.
verify() {
  in_use=$(snap_home_ls | grep -c .)
  dk bu run --rm --network none snapimg sh -c "$TREE_SUMS" >"$T/got.sums" 2>"$T/got.err" ||
    fail "$1: checksum run on bu failed: $(head -c 300 "$T/got.err")"
  lost=0
  diff "$SNAPIMG_SUMS" "$T/got.sums" >"$T/sums.diff" || {
    sums_report "$SNAPIMG_SUMS" "$T/got.sums"
    [ -z "${KEEP_FAILED:-}" ] || { mkdir -p "$KEEP_FAILED"; cp "$T"/got.sums "$T"/load.* "$T"/snap.log "$KEEP_FAILED/" 2>/dev/null || true; }
    local what
    what="$1: the tree on buse differs from overlayfs: $(grep -c '^<' "$T/sums.diff") reference lines missing or different, $(grep -c '^>' "$T/sums.diff") lines on buse not in the reference (above), after docker load said: $(tail -n 2 "$T/load.$k.$attempts" 2>/dev/null | tr '\n' ' ' | cut -c1-200)"
    [ "$1" != "round 0" ] || fail "$what"
    what="$what. KNOWN FAILURE (README.md, known failures: a layer unpacked when the snapshotter is SIGKILLed is committed without the writes of the dead mount)"
    [ "$KNOWN_FAILURES" = tolerate ] || fail "$what"
    echo "$what"
    lost=1
  }
  dk bu rmi snapimg >/dev/null || fail "$1: docker rmi snapimg"
  [ "$(dk bu images -aq | wc -l)" -eq 0 ] || fail "$1: images left: $(dk bu images -a)"
  local t0=$SECONDS
  snap_gc_wait 60 || {
    diff <(echo "$SNAP_BASE_LS") <(snap_home_ls) | head -n 20
    ctr28 -n bu snapshots --snapshotter buse ls | head -n 10
    fail "$1: 60 s after rmi: $(snap_count) snapshots in containerd, home differs from baseline (above)"
  }
  gc=$((SECONDS - t0))
  local now
  now=$(snap_leaks)
  [ "$now" = "$base_leaks" ] || { diff <(echo "$base_leaks") <(echo "$now"); fail "$1: leaked mounts, loops or processes (above)"; }
}

# loaded OUTPUT: the load succeeded: docker load exits 0 even when unpacking failed
# ("Error unpacking image ...": the image is then known but not unpacked), so the output must
# name the image and no error, and every layer must be a committed snapshot of namespace bu.
layers=$(tar -xOf "$SNAPIMG_TAR" manifest.json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)[0]["Layers"]))')
loaded() {
  grep -q '^Loaded image: snapimg:latest' "$1" && ! grep -qi 'error' "$1" &&
    [ "$(ctr28 -n bu snapshots --snapshotter buse ls | grep -c ' Committed *$')" -ge "$layers" ]
}

# Round 0: no fault; its time bounds the random delays.
start=$(date +%s.%N) k=0 attempts=1
dk bu load -i "$SNAPIMG_TAR" >"$T/load.0.1" 2>&1 || true
loaded "$T/load.0.1" || fail "round 0: docker load on bu: $(cat "$T/load.0.1")"
t_load=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
verify "round 0"
ok "round 0: load ($layers layers) in $t_load s, $files files / $bytes bytes verified, GC back to baseline ($in_use -> $(echo "$SNAP_BASE_LS" | grep -c .) home entries) in $gc s"

known=0 kills=0 unavail=0 retries=0 during=0 after=0 verified=0 vbytes=0
for ((k = 1; k <= ROUNDS; k++)); do
  delay=$(rand_delay 0.2 "$(awk -v t="$t_load" 'BEGIN { print t * 0.9 }')")
  how=$KILL_AT
  [ "$how" != mixed ] || { how=load; [ $((k % 2)) -eq 1 ] || how=unpack; }
  [ "$how" = load ] || delay=$(rand_delay 0 0.5)
  start=$(date +%s.%N)
  dk bu load -i "$SNAPIMG_TAR" >"$T/load.$k.1" 2>&1 &
  lp=$!
  if [ "$how" = unpack ]; then # the second record: the first layer is in, the next unpacking
    for ((i = 0; i < 1000; i++)); do
      [ "$(find "$SNAP_HOME/snapshots" -name '*.json' | wc -l)" -ge 2 ] || ! kill -0 "$lp" 2>/dev/null && break
      sleep 0.01
    done
  fi
  sleep "$delay"
  delay=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  if kill -0 "$lp" 2>/dev/null; then phase=during during=$((during + 1)); else phase=after after=$((after + 1)); fi
  records=$(find "$SNAP_HOME/snapshots" -name '*.json' 2>/dev/null | wc -l)
  kill9 "$SNAP_PID" || fail "round $k: the snapshotter SIGKILLed $delay s into the load cannot exit (above)"
  kills=$((kills + 1))
  SNAP_PID=''
  start_snap
  wait "$lp" || true
  attempts=1
  while ! loaded "$T/load.$k.$attempts"; do
    echo "round $k: attempt $attempts failed: $(tr '\n' ' ' <"$T/load.$k.$attempts" | cut -c1-300)"
    [ "$attempts" -lt 10 ] || fail "round $k: docker load still fails after $attempts attempts"
    grep -q 'Unavailable' "$T/load.$k.$attempts" && unavail=$((unavail + 1))
    attempts=$((attempts + 1)) retries=$((retries + 1))
    sleep 1
    dk bu load -i "$SNAPIMG_TAR" >"$T/load.$k.$attempts" 2>&1 || true
  done
  verify "round $k"
  if [ "$lost" = 1 ]; then
    known=$((known + 1))
    echo "round $k: kill -9 at $delay s ($how: $phase the load, $records snapshot records), $attempts attempt(s): content lost (known failure), GC back in $gc s"
    continue
  fi
  verified=$((verified + files)) vbytes=$((vbytes + bytes))
  ok "round $k: kill -9 at $delay s ($how: $phase the load, $records snapshot records), $attempts attempt(s), $files files verified, GC back ($in_use -> $(echo "$SNAP_BASE_LS" | grep -c .) home entries) in $gc s"
done
snap_stop_all
assert_eq "$(snap_leaks)" "" "mounts, loops, processes after every daemon stopped"
counts "kills=$kills during-load=$during after-load=$after retries=$retries unavailable=$unavail files-verified=$verified bytes-verified=$vbytes rounds-with-content-lost=$known leaks=0 load-time=${t_load}s"
[ "$known" -eq 0 ] || skip "known failure in $known of $ROUNDS rounds (KNOWN_FAILURES=tolerate): a load that reported success after the kill had lost content (see README.md); everything else held"
