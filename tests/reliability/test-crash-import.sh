#!/usr/bin/env bash
# kill -9 of `buse serve` at ROUNDS random points of a large `docker import` (dockerd streams
# it to ApplyDiff).  After each kill buse is restarted (dockerd's plugin client retries for
# 30 s, so its cleanup Remove reaches the new daemon): `buse fsck` is clean (structure of the
# store, e2fsck of the layer); buse holds no layer dockerd does not know (the interrupted one
# is absent, or complete if the import finished); the retried import succeeds and its image
# verifies every file by checksum; no mount, loop device or nbdfuse process is left.
source "$(dirname "$0")/../docker/lib.sh"
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bigtar.sh"
ROUNDS=${ROUNDS:-20} MB=${MB:-200}
docker_setup
make_big_tar "$T/big.tar" "$MB"
ok "tarball: $(du -m "$T/big.tar" | cut -f1) MiB, $(tar -tf "$T/big.tar" | wc -l) entries"

# buse layers that dockerd does not know (images, containers and their -init layers)
strays() {
  local root=$T/d1/root/image/$BUSE_DRIVER/layerdb
  comm -23 <("$BUSE" ls --home "$BUSE_HOME" | tail -n +2 | awk '{ print $1 }' | sort) \
    <({ cat "$root"/sha256/*/cache-id 2>/dev/null; echo
        for m in "$root"/mounts/*/mount-id; do [ -f "$m" ] && cat "$m" && echo && echo "$(cat "$m")-init"; done
      } | grep . | sort -u)
}
import_check() { # TAG: import big.tar as TAG, run it: every file verifies
  docker import "$T/big.tar" "$1" >/dev/null || return 1
  docker run --rm --network none "$1" md5sum -c -s /manifest.md5
}

start=$SECONDS
import_check big:0 || fail "first import"
took=$((SECONDS - start))
docker rmi big:0 >/dev/null
ok "clean import + verify: ${took}s"
base_state=$(kernel_state "$T")
kills=0 done_before=0 problems=()
for ((k = 1; k <= ROUNDS; k++)); do
  docker import "$T/big.tar" "big:$k" >/dev/null 2>"$T/import.err" &
  ipid=$!
  # a random point of the import: 0.3 s .. (clean import time) s
  sleep "$(awk -v s="$RANDOM" -v t="$took" 'BEGIN { printf "%.2f", 0.3 + (s / 32767) * t }')"
  if ! kill9 "$BUSE_PID"; then
    printf '%s\n' "${problems[@]}"
    fail "round $k: buse serve SIGKILLed cannot exit (above)"
  fi
  kills=$((kills + 1))
  BUSE_PID=''
  start_buse_daemon
  if wait $ipid; then done_before=$((done_before + 1)); fi
  docker rmi "big:$k" >/dev/null 2>&1 || true
  sleep 1 # dockerd's deferred cleanup of a failed import
  s=$(strays)
  # known bug (see the report): kept going so every round's other checks still run
  [ -z "$s" ] || problems+=("round $k: buse keeps layer(s) dockerd does not know: $s")
  "$BUSE" fsck --home "$BUSE_HOME" --tmpdir "$T" >"$T/fsck.$k" 2>&1 ||
    { cat "$T/fsck.$k"; fail "round $k: buse fsck after the crash"; }
  import_check "big:r$k" || fail "round $k: retried import failed: $(cat "$T/import.err")"
  docker rmi "big:r$k" >/dev/null
  st=$(kernel_state "$T")
  [ "$st" = "$base_state" ] || problems+=("round $k: kernel objects $st, baseline $base_state")
done
ok "$kills kills during import ($done_before imports had finished first); every retry verified"
"$BUSE" fsck --home "$BUSE_HOME" --tmpdir "$T" >"$T/fsck.end" 2>&1 || { cat "$T/fsck.end"; fail "final fsck"; }
# shut down the way an operator would: everything buse made is gone afterwards
stop_dockerd d1
stop_buse_daemon
assert_eq "$(kernel_state "$T")" "mounts=0 loops=0 nbdfuse=0" "after dockerd and buse stopped"
if [ ${#problems[@]} -gt 0 ]; then
  printf '%s\n' "${problems[@]}"
  fail "${#problems[@]} problems in $ROUNDS rounds: an interrupted layer or kernel objects left behind"
fi
counts "kills=$kills imports-retried=$ROUNDS files-verified=$((ROUNDS * $(grep -c . <(tar -tf "$T/big.tar" | grep '^./data/.*[^/]$')))) data-lost=0 tar=${MB}MiB"
