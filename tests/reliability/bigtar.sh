# shellcheck shell=bash
# make_big_tar OUT MB: MB MiB of data (one large file, many small ones, a sparse one) and
# /manifest.md5 covering every data file (`cd ROOT && md5sum -c manifest.md5` checks it), on a
# busybox root when busybox_tar (tests/docker/lib.sh) is defined, so an image checks itself.
make_big_tar() {
  local out=$1 mb=$2 d=$T/bigroot.$$ i
  rm -rf "$d" && mkdir -p "$d/data/small"
  ! declare -F busybox_tar >/dev/null || tar -C "$d" -xf "$(busybox_tar)"
  head -c $((mb / 2))M /dev/urandom >"$d/data/large"
  for ((i = 0; i < mb * 8; i++)); do head -c $((RANDOM * 2 + 1)) /dev/urandom >"$d/data/small/f$i"; done
  truncate -s 64M "$d/data/sparse" && echo tail | dd of="$d/data/sparse" bs=1 seek=50M conv=notrunc 2>/dev/null
  (cd "$d" && find data -type f -print0 | xargs -0 md5sum >manifest.md5)
  tar -C "$d" --numeric-owner -cf "$out" .
  rm -rf "$d"
}
