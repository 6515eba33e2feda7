#!/usr/bin/env bash
# A child sees its parent's files; a child made while the parent is mounted and being written
# gets the parent's content at that moment (freeze, seal, thaw), and the parent stays
# writable afterwards without the child seeing later writes.  A parent can be mounted while
# its children are.
source "$(dirname "$0")/lib.sh"
requires_fuse
api_start
api_init

create base
d=$(get base)
echo one >"$d/one"
put base
create img2 base
d=$(get img2)
assert_eq "$(cat "$d/one")" one "child sees parent's file"
echo two >"$d/two"
rm "$d/one"

# a writable parent mounted while a child is created
create_rw ctr img2
dc=$(get ctr)
echo before >"$dc/state"
create_rw snap ctr
echo after >"$dc/state"
echo new >"$dc/late"
ds=$(get snap)
assert_eq "$(cat "$ds/state")" before "snapshot has the content at Create"
[ ! -e "$ds/late" ] || fail "snapshot sees a file written after it was made"
ok "later writes to the parent stay out of the child"
assert_eq "$(cat "$dc/state")" after "parent still writable"
assert_eq "$(cat "$ds/two")" two "snapshot sees the grandparent's file"
[ ! -e "$ds/one" ] || fail "deleted file came back"
put snap
put ctr

# a parent mounted while its child is, and written again
d=$(get img2)
dc=$(get ctr)
echo again >"$d/again"
[ ! -e "$dc/again" ] || fail "child sees a write to its parent made after the child"
ok "parent written while the child exists"
put ctr
put img2
d=$(get img2)
assert_eq "$(cat "$d/again")" again "parent's new write kept"
put img2
