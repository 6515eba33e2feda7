#!/usr/bin/env bash
# Includes run only downwards (docs/ARCHITECTURE.md): every #include "dir/file.h" of a module
# folder names the module itself or one below it, and another module only by its public
# header (never its internal.h).  Also: one file-name separator ('-') across the sources.
source "$(dirname "$0")/../functions.sh"
requires python3
cd "$TOP"
python3 tests/meta/layering.py "$TOP" || fail "an include runs up or sideways (see above)"
ok "the tree's includes run only downwards; one file-name separator"

# The checker itself catches what it is for: a tree with an upward, a sideways and an
# internal include, and an '_' in a file name.
scratch
mkdir -p "$T/layers" "$T/nbd" "$T/graphdriver" "$T/snapshotter" "$T/archive"
echo '#include "mounts/mounts.h"' >"$T/layers/up.c"
echo '#include "attach/attach.h"' >"$T/nbd/side.c"
echo '#include "graphdriver/graphdriver.h"' >"$T/snapshotter/gd.c"
echo '#include "mounts/internal.h"' >"$T/archive/inner.c"
echo '#include "common/common.h"' >"$T/graphdriver/api_x.c"
out=$(python3 tests/meta/layering.py "$T" 2>&1) && fail "the checker passed a bad tree"
for want in 'layers/up.c:1' 'nbd/side.c:1' 'snapshotter/gd.c:1' 'archive/inner.c:1' "graphdriver/api_x.c: file names use '-'"; do
  grep -qF "$want" <<<"$out" || fail "the checker missed $want: $out"
done
ok "the checker finds upward, sideways and internal includes and '_' names"
