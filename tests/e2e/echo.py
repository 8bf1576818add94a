# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A long-lived TCP connection for the demo: `server ADDR PORT` echoes lines back; `client ADDR
PORT INTERVAL` sends a numbered line every INTERVAL seconds and prints each echo as it returns,
and the error that ends the connection if one does."""

import socket
import sys
import time


def server(addr, port):
    ls = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    c, _ = ls.accept()
    while True:
        d = c.recv(4096)
        if not d:
            return
        c.sendall(d)


def client(addr, port, interval):
    s = socket.create_connection((addr, port), timeout=5)
    t0 = time.monotonic()
    n = 0
    buf = b""
    try:
        while True:
            s.sendall(b"line %d\n" % n)
            while b"\n" not in buf:
                d = s.recv(4096)
                if not d:
                    print("EOF: the server closed the connection", flush=True)
                    return 1
                buf += d
            line, buf = buf.split(b"\n", 1)
            print("%7.2fs echo %s" % (time.monotonic() - t0, line.decode()), flush=True)
            n += 1
            time.sleep(interval)
    except OSError as e:
        print("ERROR: connection lost: %s" % e, flush=True)
        return 1


if __name__ == "__main__":
    if sys.argv[1] == "server":
        sys.exit(server(sys.argv[2], int(sys.argv[3])))
    sys.exit(client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
