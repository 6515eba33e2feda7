#!/usr/bin/env bash
# image.sh OUT.tar [TAG]: a docker-save style image tar (manifest.json, config, one layer)
# of the busybox root filesystem of tests/images/busybox.sh, for `ctr images import`.
set -euo pipefail
out=${1:?usage: image.sh OUT.tar [TAG]}
tag=${2:-buse-test/busybox:latest}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/buse-image.XXXXXX")
trap 'rm -rf "$dir"' EXIT
bash "$here/../images/busybox.sh" "$dir/layer.tar"
diff_id=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
mkdir "$dir/img" "$dir/img/$diff_id"
mv "$dir/layer.tar" "$dir/img/$diff_id/layer.tar"
cat >"$dir/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"2023-11-14T22:13:20Z",
 "config":{"Cmd":["/bin/sh"],"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},
 "history":[{"created":"2023-11-14T22:13:20Z","created_by":"tests/images/busybox.sh"}]}
JSON
cfg=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
mv "$dir/config.json" "$dir/img/$cfg.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' \
  "$cfg" "$tag" "$diff_id" >"$dir/img/manifest.json"
tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner -C "$dir/img" \
  -cf "$out" .
