#!/usr/bin/env bash
# Every C file follows .clang-format (make check-style).
source "$(dirname "$0")/../functions.sh"
requires clang-format git
cd "$TOP"
git rev-parse --git-dir >/dev/null 2>&1 || skip "not a git checkout"
make -s check-style || fail "clang-format finds files to reformat (run: make format)"
ok "style"
