#!/usr/bin/env bash
# Init's UIDMaps/GIDMaps (dockerd --userns-remap): a layer without parent has its rootfs owned
# by the host ids of the container's root, ApplyDiff maps tar owners to host ids, and Diff maps
# them back.
source "$(dirname "$0")/lib.sh"
requires_fuse
requires tar
api_start
maps='[{"container_id":0,"host_id":100000,"size":65536}]'
ok_call GraphDriver.Init "{\"Home\":\"$T/home\",\"Opts\":[],\"UIDMaps\":$maps,\"GIDMaps\":$maps}"

create l1
d=$(get l1)
assert_eq "$(stat -c '%u:%g' "$d")" "100000:100000" "rootfs owner under userns"
put l1

mkdir -p "$T/src"
echo a >"$T/src/owned"
tar --numeric-owner --owner=5 --group=7 -C "$T/src" -cf "$T/l2.tar" owned
create l2 l1
apply_diff l2 l1 "$T/l2.tar"
assert_eq "$CODE" 200 "ApplyDiff under userns"
d=$(get l2)
assert_eq "$(stat -c '%u:%g' "$d/owned")" "100005:100007" "applied file owner mapped to the host"
put l2
diff_to l2 l1 "$T/d2.tar"
assert_eq "$(tar --numeric-owner -tvf "$T/d2.tar" | awk '/owned$/ {print $2}')" "5/7" \
  "Diff maps owners back to the container's"
err_call GraphDriver.Init "{\"Home\":\"$T/home2\",\"Opts\":[],\"UIDMaps\":[{\"container_id\":0}]}" "UIDMaps"
ok_call GraphDriver.Exists '{"ID":"l2"}'
assert_eq "$(jq -r .Exists <<<"$BODY")" true "a refused Init leaves the running one alone"
