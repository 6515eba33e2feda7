#!/usr/bin/env bash
# `docker save`/`docker load` between buse and vfs.  The same build on buse and on a second
# dockerd on vfs gives layers with the same files (content, mode, owner, links, xattrs); every
# layer buse saves hashes to its diff id; buse's save loads and runs on vfs; vfs's save loaded
# into buse is saved back byte for byte (ApplyDiff then Get shows exactly what was applied).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/buildlib.sh"
requires setfattr python3 sha256sum
docker_setup
start_dockerd d2 vfs
use_dockerd d1
make_build_context "$T/ctx"
for n in d1 d2; do
  make_busybox_image bb "$n"
  DOCKER_BUILDKIT=0 dk "$n" build -q -t built "$T/ctx" >"$T/build-$n.out" 2>&1 ||
    { cat "$T/build-$n.out"; fail "build on $n"; }
  mkdir -p "$T/save-$n"
  dk "$n" save built:latest | tar -x -C "$T/save-$n"
done

# save_layers DIR: "tar diffid" per layer; checks that each tar hashes to its diff id.
save_layers() {
  local tar id
  python3 "$TOP/tests/docker/tarlist.py" --save-layers "$1" | while read -r tar id; do
    [ "sha256:$(sha256sum <"$tar" | cut -d' ' -f1)" = "$id" ] || fail "$tar does not hash to $id"
    echo "$tar"
  done
}
mapfile -t l1 < <(save_layers "$T/save-d1")
mapfile -t l2 < <(save_layers "$T/save-d2")
assert_eq "${#l1[@]}" "${#l2[@]}" "layers in the saved images"
ok "every layer saved from buse hashes to its diff id"
for i in "${!l1[@]}"; do
  python3 "$TOP/tests/docker/tarlist.py" "${l1[i]}" >"$T/l1-$i.txt"
  python3 "$TOP/tests/docker/tarlist.py" "${l2[i]}" >"$T/l2-$i.txt"
  diff "$T/l2-$i.txt" "$T/l1-$i.txt" || fail "layer $i differs between vfs (<) and buse (>)"
done
ok "each layer built on buse has the same files as on vfs"

# buse's save into vfs: it loads and its containers see the build.  (`docker save REPO`
# saves every tag of REPO: always name the tag.)
dk d1 tag built:latest frombuse:latest
dk d1 save -o "$T/buse.tar" frombuse:latest
dk d2 load -i "$T/buse.tar" >/dev/null
use_dockerd d2
check_built_image frombuse:latest
use_dockerd d1

# vfs's save into buse and back out: byte-identical layers.
dk d2 save -o "$T/vfs.tar" built:latest
dk d1 rmi built:latest frombuse:latest >/dev/null
dk d1 load -i "$T/vfs.tar" >/dev/null
check_built_image built:latest
mkdir -p "$T/resave"
dk d1 save built:latest | tar -x -C "$T/resave"
mapfile -t l3 < <(save_layers "$T/resave")
for i in "${!l2[@]}"; do
  cmp -s "${l2[i]}" "${l3[i]}" || fail "layer $i of the vfs image changed through buse"
done
ok "vfs layers loaded into buse are saved back byte for byte"
