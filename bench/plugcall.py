#!/usr/bin/env python3
"""plugcall.py SOCKET PATH BODY: one POST to a plugin socket, timed from the connect to the
last byte of the reply, without the start-up of a client process (curl's alone is ~20 ms
on the bench VM, more than the calls it would time).  Prints the reply body, then a last
line "time_ms MS".  Exit 1 on a status other than 200."""
import http.client
import socket
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("buse")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def main():
    if len(sys.argv) != 4 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2
    sock, path, body = sys.argv[1:]
    conn = UnixConnection(sock)
    t0 = time.perf_counter()
    conn.request("POST", "/" + path.lstrip("/"), body=body.encode(),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    t = (time.perf_counter() - t0) * 1000
    conn.close()
    print(data.decode(errors="replace"))
    print("time_ms %.3f" % t)
    return 0 if resp.status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
