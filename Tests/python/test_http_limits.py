"""The HTTP layer's bounds (SPEC 13) against the real daemon: a peer that
does not read its answers stops being read, a body over the limit gets a 413
the client reads (curl, http.client), a request must arrive whole within 10 s
of its first byte, 100-continue and chunked bodies work."""
import http.client
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import Keygated


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def read_until_closed(s):
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return data
        data += chunk


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("keygate", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def test_a_peer_that_does_not_read_stops_being_read(plain_daemon):
    d = plain_daemon
    key = d.cli("key", "create", "acme", "--name", "ci", "--json").stdout
    secret = json.loads(key)["key"]
    before = rss_kib(d.proc.pid)
    # Pipeline a million requests and read nothing. The daemon answers until
    # its writes back up, then stops reading; the kernel's buffers fill and
    # our sends stop being accepted.
    flood = socket.socket(socket.AF_UNIX)
    flood.connect(d.service)
    flood.setblocking(False)
    one = b"GET /metrics HTTP/1.1\r\nHost: k\r\n\r\n"
    batch = one * 1000
    sent = 0
    stalled_since = None
    deadline = time.monotonic() + 60
    while sent < 1_000_000 * len(one) and time.monotonic() < deadline:
        try:
            sent += flood.send(batch)
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 2:
                break
            time.sleep(0.01)
    requests_sent = sent // len(one)
    assert requests_sent < 1_000_000, "the daemon read a million requests whose answers nobody read"
    # Meanwhile another client verifies without an error.
    for _ in range(200):
        assert d.verify(secret)["valid"] is True
    grown = (rss_kib(d.proc.pid) - before) / 1024
    print(f"\nflood: {requests_sent:,} requests accepted by the socket before it stalled; RSS grew {grown:.1f} MiB")
    assert grown < 64, f"resident memory grew by {grown:.1f} MiB under one non-reading connection"
    flood.close()
    assert d.verify(secret)["valid"] is True


def test_oversize_body_gets_a_413_that_arrives(plain_daemon):
    d = plain_daemon
    big = b"x" * (10 * 1024 * 1024)
    # Python's http.client sends the whole body before it reads the answer.
    c = UnixHTTPConnection(d.service, timeout=30)
    c.request("POST", "/v1/verify", body=big, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 413
    body = json.loads(r.read())
    assert body["error"] == "request_too_large"
    assert "10485760" in body["error_description"]
    c.close()
    # curl (which waits for 100-continue on a large body) sees it too.
    path = os.path.join(d.dir, "big.json")
    with open(path, "wb") as f:
        f.write(big)
    out = subprocess.run(["curl", "-sS", "--unix-socket", d.service, "-o", "/dev/null", "-w", "%{http_code}",
                          "-H", "Content-Type: application/json", "--data-binary", f"@{path}", "http://keygate/v1/verify"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "413"
    # Without Expect: curl sends all 10 MiB first, and still reads the answer.
    out = subprocess.run(["curl", "-sS", "--unix-socket", d.service, "-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect:",
                          "-H", "Content-Type: application/json", "--data-binary", f"@{path}", "http://keygate/v1/verify"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "413"
    # A chunked body over the limit is refused the same way.
    c = UnixHTTPConnection(d.service, timeout=30)
    c.request("POST", "/v1/verify", body=iter([b"y" * 65536] * 4), headers={"Content-Type": "application/json"},
              encode_chunked=True)
    r = c.getresponse()
    assert r.status == 413
    c.close()


def test_a_request_must_arrive_within_ten_seconds(plain_daemon):
    d = plain_daemon
    s = socket.socket(socket.AF_UNIX)
    s.connect(d.service)
    s.settimeout(20)
    t0 = time.monotonic()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: k\r\n")
    data = read_until_closed(s)
    waited = time.monotonic() - t0
    assert data.startswith(b"HTTP/1.1 408 "), data
    assert b'"error":"request_timeout"' in data
    assert 9 <= waited < 15, waited
    # Trickling bytes does not extend it.
    s = socket.socket(socket.AF_UNIX)
    s.connect(d.service)
    s.settimeout(20)
    t0 = time.monotonic()
    got = b""
    for b in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 40:
        try:
            s.send(bytes([b]))
        except OSError:
            break
        time.sleep(0.3)
        if time.monotonic() - t0 > 14:
            break
    s.settimeout(5)
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    assert got.startswith(b"HTTP/1.1 408 "), got


def test_continue_chunked_and_pipelining(plain_daemon):
    d = plain_daemon
    s = socket.socket(socket.AF_UNIX)
    s.connect(d.service)
    s.settimeout(10)
    body = b'{"key":"kg_nothing","ip":"10.0.0.1"}'
    s.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: k\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
    assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    s.sendall(body)
    first = s.recv(4096)
    assert first.startswith(b"HTTP/1.1 200 OK") and b'"valid":false' in first
    # A chunked body, then two pipelined requests in the same write.
    chunked = b"POST /v1/verify HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n" + \
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    s.sendall(chunked + b"GET /healthz HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
    data = read_until_closed(s)
    answers = data.split(b"HTTP/1.1 ")[1:]
    assert len(answers) == 3, data
    assert answers[0].startswith(b"200") and b'"code":"MALFORMED"' in answers[0] or b'"valid":false' in answers[0]
    assert answers[1].startswith(b"200") and answers[2].startswith(b"200")
    assert b"Connection: close" in answers[2]


@pytest.mark.parametrize("raw,status", [
    (b"POST /v1/verify HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n{}}", 400),
    (b"POST /v1/verify HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\nHost: k\n\n", 400),
    (b"GET /healthz HTTP/2.0\r\n\r\n", 505),
    (b"POST /v1/verify HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
])
def test_ambiguous_requests_are_refused_and_closed(plain_daemon, raw, status):
    s = socket.socket(socket.AF_UNIX)
    s.connect(plain_daemon.service)
    s.settimeout(10)
    s.sendall(raw)
    data = read_until_closed(s)
    assert data.startswith(b"HTTP/1.1 %d " % status), data
    assert b"Connection: close" in data
    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error_description"]


def test_token_and_revoke_loop_is_bounded_by_the_cap():
    d = Keygated("tokens:\n  max_live_per_client: 20\n")
    d.start()
    try:
        cid, secret = d.new_client("loop")
        s = d.session()
        before = rss_kib(d.proc.pid)
        last = None
        for _ in range(1000):
            r = s.post("http://keygate/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, secret))
            assert r.status_code == 200, r.text
            last = r.json()["access_token"]
            r = s.post("http://keygate/oauth/revoke", data={"token": last}, auth=(cid, secret))
            assert r.status_code == 200, r.text
        import sqlite3
        rows = sqlite3.connect(d.db).execute("SELECT count(*) FROM access_tokens").fetchone()[0]
        grown = (rss_kib(d.proc.pid) - before) / 1024
        print(f"\ntoken+revoke x1000: {rows} token rows, RSS grew {grown:.1f} MiB")
        assert rows <= 20, f"{rows} token rows after 1000 issue+revoke rounds with a cap of 20"
        # The last revoked token is still refused as revoked, and the pair still works.
        assert d.verify(last)["code"] == "REVOKED"
        r = s.post("http://keygate/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, secret))
        assert r.status_code == 200 and d.verify(r.json()["access_token"])["valid"] is True
        assert grown < 16
    finally:
        d.cleanup()
