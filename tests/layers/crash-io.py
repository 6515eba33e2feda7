# crash-io.py: the workload of test-crash.sh, with libnbd.
#   crash-io.py write URI K LOG   write non-overlapping, unaligned records into region K and
#                                 flush every few writes; after each completed FLUSH append
#                                 to LOG (fsynced) how many writes it covers.  Runs until the
#                                 server dies.
#   crash-io.py check URI K LOG   every record LOG says was flushed reads back.
import os, sys
import nbd

REGION = 256 << 20
STRIDE = 12288

def record(k, i):
    off = k * REGION + i * STRIDE + (i % 7) * 97
    length = 512 + (i * 2654435761) % 7600
    data = bytes([(k * 31 + i) % 251 + 1]) * length
    return off, data

def flushed(log):
    try:
        with open(log) as f:
            lines = f.read().split()
        return int(lines[-1]) if lines else 0
    except FileNotFoundError:
        return 0

def write(uri, k, log):
    h = nbd.NBD()
    h.connect_uri(uri)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for i in range(REGION // STRIDE - 1):
            off, data = record(k, i)
            h.pwrite(data, off)
            if i % 5 == 4:
                h.flush()
                os.write(fd, b"%d\n" % (i + 1))
                os.fsync(fd)
    except nbd.Error:
        pass  # the server was killed

def check(uri, k, log):
    h = nbd.NBD()
    h.connect_uri(uri)
    n = flushed(log)
    for i in range(n):
        off, data = record(k, i)
        got = h.pread(len(data), off)
        if got != data:
            sys.exit("region %d record %d of %d flushed at %d: lost" % (k, i, n, off))
    print("region %d: %d flushed records intact" % (k, n))

if __name__ == "__main__":
    cmd, uri, k, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    (write if cmd == "write" else check)(uri, k, log)
