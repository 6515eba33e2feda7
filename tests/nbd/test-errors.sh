#!/usr/bin/env bash
# Errors a libnbd client sees: reading past the end is EINVAL, writing past it ENOSPC,
# writing/trimming/zeroing a read-only export EPERM, and the connection stays usable.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_nbdsh
scratch
truncate -s 1M "$T/a.img"
nbd_start a=$T/a.img
nbdsh -u "$(nbd_uri a)" -c '
import errno
def expect(fn, want, what):
    try:
        fn()
    except nbd.Error as e:
        got = e.errno if isinstance(e.errno, int) else getattr(errno, e.errno)
        assert got == want, "%s: errno %s, want %s" % (what, e.errno, want)
        print("ok: %s -> %s" % (what, errno.errorcode[got]))
        return
    raise AssertionError(what + ": no error")
h.set_strict_mode(0)  # let the server, not libnbd, judge the requests
size = h.get_size()
expect(lambda: h.pread(4096, size - 512), errno.EINVAL, "read past the end")
expect(lambda: h.pread(1, size), errno.EINVAL, "read at the end")
expect(lambda: h.pwrite(b"x" * 4096, size - 512), errno.ENOSPC, "write past the end")
expect(lambda: h.zero(4096, size), errno.ENOSPC, "zero past the end")
expect(lambda: h.trim(4096, size), errno.EINVAL, "trim past the end")
h.pwrite(b"y" * 512, size - 512)
assert h.pread(512, size - 512) == b"y" * 512
print("ok: connection still usable")
'
stop_pid "$BUSE_PID"
rm -f "$T/sock"
nbd_start --read-only a=$T/a.img
nbdsh -u "$(nbd_uri a)" -c '
import errno
h.set_strict_mode(0)
for what, fn in (("write", lambda: h.pwrite(b"z" * 512, 0)),
                 ("zero", lambda: h.zero(512, 0)),
                 ("trim", lambda: h.trim(512, 0))):
    try:
        fn()
        raise AssertionError(what + " on a read-only export succeeded")
    except nbd.Error as e:
        assert e.errno in (errno.EPERM, "EPERM"), "%s: errno %s" % (what, e.errno)
        print("ok: read-only %s -> EPERM" % what)
assert h.pread(512, 1048576 - 512) == b"y" * 512
print("ok: reads still work")
'
