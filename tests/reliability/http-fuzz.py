# http-fuzz.py SOCKET HOMEDIR SEED N: N hostile requests on the plugin socket, then a slow
# client flood.  Requests: random methods and paths (known endpoints too), random and broken
# JSON (deep nesting, bad UTF-8, wrong types, "../" ids, huge strings), bodies past the JSON
# cap, lying Content-Length, broken chunked encoding, giant headers, garbage request lines,
# connections dropped mid-body.  Any answer (or a closed connection) is fine; what is checked
# after each request is that the daemon still answers Plugin.Activate.  Prints "fuzz: ...".
# Init is sent only with homes under HOMEDIR (nothing is made elsewhere on the host).
import json, os, random, socket, sys, time

sock_path, homedir, seed, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
EPS = ["Plugin.Activate", "GraphDriver.Init", "GraphDriver.Capabilities", "GraphDriver.Create",
       "GraphDriver.CreateReadWrite", "GraphDriver.Remove", "GraphDriver.Get", "GraphDriver.Put",
       "GraphDriver.Exists", "GraphDriver.Status", "GraphDriver.GetMetadata", "GraphDriver.Diff",
       "GraphDriver.Changes", "GraphDriver.ApplyDiff", "GraphDriver.DiffSize"]

def conn(timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    return s

def exchange(data, read=True, timeout=10):
    s = conn(timeout)
    try:
        s.sendall(data)
        if read:
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
    except OSError:
        pass
    finally:
        s.close()

def activate():
    for _ in range(50):
        try:
            s = conn(10)
            s.sendall(b"POST /Plugin.Activate HTTP/1.1\r\nHost:\r\nContent-Length: 0\r\n\r\n")
            r = s.recv(4096)
            s.close()
            if b"GraphDriver" in r:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False

def rid():
    return rng.choice(["", "a", "../../etc", "/abs", "x" * rng.choice([64, 255, 4096, 100000]),
                       "..", ".", "a/b", "\u00e9", "\x00x", "f" * 64, "nonexistent", 7, None, [], {}])

def rjson(depth=0):
    k = rng.randrange(9 if depth < 4 else 5)
    if k == 0: return rng.randrange(-2**63, 2**63)
    if k == 1: return rng.random() * 1e308
    if k == 2: return rid()
    if k == 3: return rng.choice([True, False, None])
    if k == 4: return "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(50)))
    if k == 5: return [rjson(depth + 1) for _ in range(rng.randrange(5))]
    fields = ["ID", "Parent", "MountLabel", "StorageOpt", "Home", "Opts", "UIDMaps", "GIDMaps"]
    d = {rng.choice(fields): rjson(depth + 1) for _ in range(rng.randrange(6))}
    if "Home" in d:
        d["Home"] = os.path.join(homedir, "h%d" % rng.randrange(3))
    return d

def body():
    k = rng.randrange(10)
    if k == 0: return b"[" * 100000 + b"]" * 100000
    if k == 1: return b'{"ID":"' + b"\xff\xfe\xc0\x80" * 100 + b'"}'
    if k == 2: return b'{"ID":' * 5000
    if k == 3: return bytes(rng.randrange(256) for _ in range(rng.randrange(2000)))
    if k == 4: return json.dumps({"ID": "a", "Parent": "b" * (2 << 20)}).encode()  # > 1 MiB cap
    return json.dumps(rjson()).encode()

def request(i):
    k = rng.randrange(12)
    method = rng.choice(["POST"] * 6 + ["GET", "PUT", "DELETE", "OPTIONS", "HEAD", "X" * 3000, "P\x00ST"])
    path = rng.choice(["/" + rng.choice(EPS)] * 4 + ["/", "/../../etc/passwd", "/" + "a" * 70000,
                      "/GraphDriver.ApplyDiff?id=../x&parent=/y", "/GraphDriver.Get%00", "*"])
    b = body()
    head = f"{method} {path} HTTP/1.1\r\nHost:\r\n".encode("utf-8", "replace")
    if k == 0:  # giant header
        exchange(head + b"X-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
    elif k == 1:  # lying Content-Length, then drop
        exchange(head + b"Content-Length: 100000\r\n\r\n" + b[:50], read=False)
    elif k == 2:  # broken chunked
        exchange(head + b"Transfer-Encoding: chunked\r\n\r\nzzzz\r\n" + b + b"\r\n0\r\n\r\n")
    elif k == 3:  # chunked ApplyDiff with garbage, dropped mid-stream
        exchange(b"POST /GraphDriver.ApplyDiff?id=fz%d&parent= HTTP/1.1\r\nHost:\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n1000\r\n" % i + os.urandom(3000), read=False)
    elif k == 4:  # garbage request line
        exchange(os.urandom(rng.randrange(1, 5000)) + b"\r\n\r\n")
    elif k == 5:  # a huge body (16 MiB) to a JSON endpoint
        exchange(head + b"Content-Length: %d\r\n\r\n" % (16 << 20) + b"{" * (16 << 20), timeout=30)
    elif k == 6:  # pipelined requests
        one = head + b"Content-Length: %d\r\n\r\n" % len(b) + b
        exchange(one * rng.randrange(2, 20))
    else:
        exchange(head + b"Content-Length: %d\r\n\r\n" % len(b) + b)

def flood(nconn, seconds):
    """nconn clients sending a request one byte a second; returns how many got connected."""
    held = []
    for _ in range(nconn):
        try:
            s = conn(2)
            s.sendall(b"P")
            held.append(s)
        except OSError:
            pass
    t0 = time.time()
    while time.time() - t0 < seconds:
        for s in list(held):
            try:
                s.sendall(b"O")
            except OSError:
                held.remove(s)
        time.sleep(1)
    alive = len(held)
    for s in held:
        s.close()
    return alive

t0 = time.time()
for i in range(n):
    request(i)
    if i % 10 == 9 or i == n - 1:
        if not activate():
            print("fuzz: FAIL daemon stopped answering after request %d" % i)
            sys.exit(1)
print("fuzz: requests=%d seconds=%.0f" % (n, time.time() - t0))
alive = flood(300, 8)
ok = activate()
print("fuzz: slow-clients=300 held-after-8s=%d activate-after=%s" % (alive, ok))
sys.exit(0 if ok else 1)
