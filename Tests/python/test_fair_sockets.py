"""Each socket has its own connection cap, a peer refused by access.* is
closed at once, and the admin socket stays usable while the service socket
is flooded (SPEC 13). Other uids through setpriv(1); CI runs as root."""
import json
import os
import pwd
import socket
import subprocess
import sys
import time

import pytest

from conftest import Keygated

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as other users")

HOLDER = r"""
import socket, sys, time
path, n = sys.argv[1], int(sys.argv[2])
socks, refused, closed = [], 0, 0
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(3)
    try:
        s.send(b"GET /healthz HTTP/1.1\r\n")   # a head that never ends
    except OSError:
        pass
    socks.append(s)
for s in socks:
    data = b""
    try:
        while True:
            c = s.recv(4096)
            if not c:
                break
            data += c
        closed += 1
    except socket.timeout:
        pass                                 # still open: it holds a slot
    except OSError:
        closed += 1                          # refused past the cap: reset
    if data.startswith(b"HTTP/1.1 403"):
        refused += 1
print(refused, closed)
"""


@pytest.fixture
def capped():
    d = Keygated("access:\n  admin: [root]\n  verify: [root]\n")
    text = open(d.config).read().replace(
        "listen:\n", "listen:\n  service_mode: \"0666\"\n  admin_mode: \"0666\"\n"
                     "  max_service_connections: 40\n  max_admin_connections: 8\n", 1)
    open(d.config, "w").write(text)
    os.chmod(d.dir, 0o711)
    d.start()
    yield d
    d.cleanup()


def test_refused_peer_is_answered_and_closed_at_once(capped):
    pw = pwd.getpwnam("nobody")
    t0 = time.monotonic()
    r = subprocess.run(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups",
                        sys.executable, "-c", HOLDER, capped.service, "100"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    refused, closed = map(int, r.stdout.split())
    # Each of 100 connections (more than the cap of 40) was closed without
    # waiting for its head; the first ones read a 403 (the rest found the
    # socket's slots taken by refusals still being closed, and were reset).
    assert closed == 100, r.stdout
    assert refused >= 40, r.stdout
    assert time.monotonic() - t0 < 30
    # A refused peer held its slot for at most a second: an admitted peer is served.
    time.sleep(1.5)
    assert capped.session().get("http://keygate/healthz").status_code == 200


def test_service_flood_leaves_admin_and_existing_verifiers_working(capped):
    d = capped
    secret = json.loads(d.cli("key", "create", "acme", "--name", "ci", "--json").stdout)["key"]
    doomed = json.loads(d.cli("key", "create", "acme", "--name", "doomed", "--json").stdout)
    verifier = d.session()
    assert verifier.post("http://keygate/v1/verify", json={"key": secret, "ip": "10.0.0.1"}).json()["valid"] is True
    # Fill the service socket's cap with connections that trickle a head.
    held = []
    closed = 0
    for _ in range(60):
        s = socket.socket(socket.AF_UNIX)
        s.connect(d.service)
        try:
            s.send(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        except OSError:
            closed += 1                      # closed before we could send
        held.append(s)
    time.sleep(0.5)
    # Connections past the cap were closed at once.
    for s in held:
        s.settimeout(0.2)
        try:
            if s.recv(100) == b"":
                closed += 1
        except socket.timeout:
            pass
        except OSError:
            closed += 1
    assert closed >= 60 - 40, f"only {closed} of 60 connections were refused with a cap of 40"
    # The admin socket has its own slots: status and a deletion work.
    t0 = time.monotonic()
    status = d.cli("status", "--json")
    assert status.returncode == 0
    d.cli("key", "delete", "acme", doomed["id"])
    admin_seconds = time.monotonic() - t0
    print(f"\nadmin status + deletion under a full service socket: {admin_seconds * 1000:.0f} ms")
    assert admin_seconds < 5
    # The verifier's open connection keeps verifying, and sees the deletion.
    for _ in range(50):
        assert verifier.post("http://keygate/v1/verify", json={"key": secret, "ip": "10.0.0.1"}).json()["valid"] is True
    assert verifier.post("http://keygate/v1/verify", json={"key": doomed["key"], "ip": "10.0.0.1"}).json()["valid"] is False
    for s in held:
        s.close()
