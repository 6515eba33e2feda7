#!/usr/bin/env bash
# 64 requests in flight over 4 connections to one export (CAN_MULTI_CONN): writes from
# every connection are visible to every other after a flush, contents verified.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires_nbdsh
scratch
truncate -s 64M "$T/a.img"
nbd_start --max-requests 64 a=$T/a.img
nbdpy - "$(nbd_uri a)" <<'PY'
import nbd, os, random, sys, threading
uri = sys.argv[1]
hs = []
for i in range(4):
    h = nbd.NBD()
    h.connect_uri(uri)
    assert h.can_multi_conn()
    hs.append(h)
blk = 65536
slots = random.sample(range((64 << 20) // blk), 256)
data = {s: os.urandom(blk) for s in slots}
bufs = {}
maxq = [0] * 4

def conn(i, op):
    """Connection i keeps 16 requests in flight: 4 x 16 = 64 in all."""
    h = hs[i]
    todo = [s for k, s in enumerate(slots) if (k + op) % 4 == i]
    while todo or h.aio_in_flight():
        while todo and h.aio_in_flight() < 16:
            s = todo.pop()
            if op == 0:
                h.aio_pwrite(data[s], s * blk)
            else:
                bufs[s] = nbd.Buffer(blk)
                h.aio_pread(bufs[s], s * blk)
        maxq[i] = max(maxq[i], h.aio_in_flight())
        h.poll(-1)
        while True:  # retire what completed; aio_command_completed raises on an error
            try:
                c = h.aio_peek_command_completed()
            except nbd.Error:
                break  # nothing in flight
            if c == 0:
                break
            h.aio_command_completed(c)

def run(op):
    ts = [threading.Thread(target=conn, args=(i, op)) for i in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    return sum(maxq)

m1 = run(0)
for h in hs:
    h.flush()
m2 = run(1)  # each block read back through another connection than wrote it
for s in slots:
    assert bufs[s].to_bytearray() == data[s], "slot %d differs" % s
print("ok: 256 x 64 KiB written and read back across 4 connections; max in flight %d/%d" % (m1, m2))
assert max(m1, m2) >= 60, "never had 64 requests in flight"
PY
n=$(python3 - "$T/a.img" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
print(sum(1 for i in range(0, len(d), 65536) if d[i:i+65536].strip(b"\0")))
PY
)
assert_eq "$n" 256 "blocks written in the file"
