#!/usr/bin/env bash
# A client that does not finish negotiating within the handshake timeout is dropped — a
# silent one, one that stops after the client flags, and one that trickles an option a byte
# at a time (the limit is on the whole negotiation, not on each recv).  Meanwhile the server
# serves other clients, a client already in the transmission phase is never timed out, and
# once the idle clients are gone the server has exactly the threads and fds it had before.
# BUSE_NBD_HANDSHAKE_TIMEOUT (seconds; test-only, default 60) makes this take seconds.
source "$(dirname "$0")/../functions.sh"
source "$(dirname "$0")/lib.sh"
requires python3 nbdinfo
scratch
truncate -s 8M "$T/a.img"
timeout=1.5
BUSE_NBD_HANDSHAKE_TIMEOUT=$timeout start_buse -v nbd --unix "$T/sock" a="$T/a.img"
wait_for test -S "$T/sock"
python3 - "$T/sock" "$BUSE_PID" "$timeout" <<'PY'
import os, socket, struct, subprocess, sys, threading, time
SOCK, PID, TMO = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
IHAVEOPT, REQ = 0x49484156454F5054, 0x25609513
SLACK = 5.0  # a loaded machine may schedule the server late; never early

def check(name, cond):
    assert cond, name
    print("ok:", name)

def counts():
    return len(os.listdir("/proc/%d/task" % PID)), len(os.listdir("/proc/%d/fd" % PID))

def recvn(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b

def conn():
    s = socket.socket(socket.AF_UNIX)
    s.connect(SOCK)
    return s, time.monotonic()

def dropped_after(s, t0):
    """Seconds until the server closes S (which sends nothing more)."""
    s.settimeout(TMO + SLACK)
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - t0

def in_window(t):
    return TMO - 0.05 <= t <= TMO + SLACK

def settled():  # counts once the server is quiet (a closed connection's thread may linger)
    prev = None
    for _ in range(50):
        cur = counts()
        if cur == prev:
            return cur
        prev = cur
        time.sleep(0.2)
    return cur

subprocess.run(["nbdinfo", "nbd+unix:///a?socket=" + SOCK], capture_output=True, check=True)
threads0, fds0 = settled()  # the listener is up: a client was served

# clients in the transmission phase: negotiated before the idle ones arrive
t, _ = conn(); recvn(t, 18); t.sendall(struct.pack(">I", 3))
t.sendall(struct.pack(">QII", IHAVEOPT, 7, 7) + struct.pack(">I", 1) + b"a" + bytes(2))
while True:
    m, o, typ, ln = struct.unpack(">QIII", recvn(t, 20)); recvn(t, ln)
    if typ == 1:
        break

silent = [conn() for _ in range(8)]           # connect, never say a word
flags, tf = conn(); recvn(flags, 18); flags.sendall(struct.pack(">I", 3))  # flags, then nothing
trick, tt = conn(); recvn(trick, 18); trick.sendall(struct.pack(">I", 3))
trickle_stop = threading.Event()
def trickle():  # an endless option, one byte every 0.2 s: each recv gets data in time
    data = struct.pack(">QII", IHAVEOPT, 50, 60000) + bytes(60000)
    for b in data:
        if trickle_stop.wait(0.2):
            return
        try:
            trick.send(bytes([b]))
        except OSError:
            return
th = threading.Thread(target=trickle); th.start()

time.sleep(0.3)
threads1, fds1 = counts()
check("10 negotiating clients hold 10 threads and fds (%d -> %d, %d -> %d)"
      % (threads0, threads1, fds0, fds1),
      threads1 >= threads0 + 10 + 1 and fds1 >= fds0 + 10 + 1)
r = subprocess.run(["nbdinfo", "--size", "nbd+unix:///a?socket=" + SOCK],
                   capture_output=True, text=True, timeout=TMO + SLACK)
check("another client is served meanwhile", r.returncode == 0 and r.stdout.strip() == str(8 << 20))

for i, (s, t0) in enumerate(silent):
    d = dropped_after(s, t0)
    check("silent client %d dropped after %.2f s" % (i, d), in_window(d))
    s.close()
d = dropped_after(flags, tf)
check("client that stopped after its flags dropped after %.2f s" % d, in_window(d))
d = dropped_after(trick, tt)
trickle_stop.set(); th.join()
check("trickling client dropped after %.2f s" % d, in_window(d))

time.sleep(0.2)
t.sendall(struct.pack(">IHHQQI", REQ, 0, 0, 5, 0, 512))
m, err, cookie = struct.unpack(">IIQ", recvn(t, 16)); recvn(t, 512)
check("an idle client in transmission is not timed out", err == 0 and cookie == 5)
t.sendall(struct.pack(">IHHQQI", REQ, 0, 2, 6, 0, 0)); t.close()  # DISC
flags.close(); trick.close()

for _ in range(100):
    threads2, fds2 = counts()
    if (threads2, fds2) == (threads0, fds0):
        break
    time.sleep(0.1)
check("no thread or fd left behind (threads %d -> %d, fds %d -> %d)"
      % (threads0, threads2, fds0, fds2), (threads2, fds2) == (threads0, fds0))
PY
kill -0 "$BUSE_PID" || fail "server died"
grep -q "negotiation not finished within 1.500 s" "$T/buse.log" || fail "no log line for the timeout"
ok "the timeout is logged"
nbdinfo --size "$(nbd_uri a)" >/dev/null || fail "server does not serve the next client"
ok "server still serves"
