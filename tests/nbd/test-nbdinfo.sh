#!/usr/bin/env bash
# nbdinfo sees a fixed-newstyle server with structured replies and every capability of the
# file backend; --read-only turns writing off; --list names every export.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires nbdinfo jq
scratch
truncate -s 64M "$T/a.img" "$T/b.img"
nbd_start --workers 4 a=$T/a.img b=$T/b.img
j=$(nbdinfo --json "$(nbd_uri a)")
assert_eq "$(jq -r .protocol <<<"$j")" newstyle-fixed protocol
assert_eq "$(jq -r .structured <<<"$j")" true structured
e=$(jq -c '.exports[0]' <<<"$j")
for k in can_flush can_fua can_trim can_zero can_fast_zero can_multi_conn can_cache can_df; do
  assert_eq "$(jq -r ".$k" <<<"$e")" true "$k"
done
assert_eq "$(jq -r .is_read_only <<<"$e")" false is_read_only
assert_eq "$(jq -r '."export-size"' <<<"$e")" $((64 << 20)) export-size
assert_eq "$(jq -r .description <<<"$e")" "$T/a.img" description
assert_eq "$(jq -r '.contexts[0]' <<<"$e")" base:allocation context
assert_eq "$(jq -r .block_size_preferred <<<"$e")" 4096 block_size_preferred
assert_eq "$(jq -r .block_size_maximum <<<"$e")" $((32 << 20)) block_size_maximum
names=$(nbdinfo --json --list "$(nbd_uri '')" | jq -r '.exports[]."export-name"' | sort | tr '\n' ' ')
assert_eq "$names" "a b " "exports listed"
if nbdinfo "$(nbd_uri nope)" >/dev/null 2>&1; then fail "unknown export accepted"; fi
ok "unknown export refused"

stop_pid "$BUSE_PID"
rm -f "$T/sock"
nbd_start --read-only a=$T/a.img
e=$(nbdinfo --json "$(nbd_uri a)" | jq -c '.exports[0]')
assert_eq "$(jq -r .is_read_only <<<"$e")" true "read-only: is_read_only"
for k in can_trim can_zero can_fua; do
  assert_eq "$(jq -r ".$k" <<<"$e")" false "read-only: $k"
done
