"""Deletes the JetStream streams of one Joule namespace (`<NS>_*`): a benchmark's clean-up.

    python3 scripts/delete-nats-streams.py NAMESPACE [HOST [PORT]]

JetStream's API over the plain NATS protocol, so no client library is needed.
"""
import json
import socket
import sys

ns = sys.argv[1]
host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
port = int(sys.argv[3]) if len(sys.argv) > 3 else 4222
s = socket.create_connection((host, port), timeout=10)
f = s.makefile("rb")
f.readline()  # INFO
s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.bench 1\r\n')


def request(subject, payload):
    body = json.dumps(payload).encode()
    s.sendall(b"PUB %s _INBOX.bench %d\r\n%s\r\nPING\r\n" % (subject.encode(), len(body), body))
    while True:
        line = f.readline()
        if line.startswith(b"MSG"):
            size = int(line.split()[-1])
            data = f.read(size + 2)[:size]
            return json.loads(data)
        if not line:
            raise SystemExit("NATS closed the connection")


names = request("$JS.API.STREAM.NAMES", {"subject": ns + ".>"}).get("streams") or []
for name in names:
    if name.startswith(ns.upper() + "_"):
        r = request("$JS.API.STREAM.DELETE." + name, {})
        print("deleted stream", name, r.get("success"))
