#!/usr/bin/env bash
# build.sh OUT: compile moby's graphtest suite against buse (graphtest_test.go) into the test
# binary OUT, in GOPATH mode over Debian's Go sources (/usr/share/gocode) plus the stand-ins in
# gopath/ for the two moby packages Debian leaves out (quota, plugin/v2) and a gotest.tools/v3
# alias.  Exits 77 when go or a Go source package is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT}
command -v go >/dev/null || { echo "SKIP: go not installed (golang-go)"; exit 77; }
for d in github.com/docker/docker/daemon/graphdriver/graphtest github.com/vbatts/tar-split \
  gotest.tools/assert; do
  [ -d "/usr/share/gocode/src/$d" ] || {
    echo "SKIP: /usr/share/gocode/src/$d missing (golang-github-docker-docker-dev," \
      "golang-github-vbatts-tar-split-dev, golang-github-gotestyourself-gotest.tools-dev)"
    exit 77
  }
done
export GO111MODULE=off GOFLAGS='' GOPATH=$here/gopath:/usr/share/gocode
export GOCACHE=${GOCACHE:-${BUILD:-$here/../../build}/go-cache}
cd "$here"
go test -c -o "$out" .
