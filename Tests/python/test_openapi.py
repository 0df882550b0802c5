"""The OpenAPI documents: valid OpenAPI 3.1, served by the daemon exactly as
committed, and honoured by the daemon under schemathesis (all checks, every
phase, stateful links) on both sockets."""
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

import pytest
from openapi_spec_validator import validate


ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
DOCS = os.path.join(ROOT, "docs", "openapi")
CONFIG = os.path.abspath(os.path.join(ROOT, "Tests", "schemathesis", "schemathesis.toml"))
ST = os.path.join(os.path.dirname(sys.executable), "st")


class Bridge:
    """127.0.0.1:<ephemeral> to a Unix socket, one thread pair per connection."""

    def __init__(self, unix_path):
        self.unix_path = unix_path
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                tcp, _ = self.listener.accept()
            except OSError:
                return
            unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                unix.connect(self.unix_path)
            except OSError:
                tcp.close()
                continue
            for a, b in ((tcp, unix), (unix, tcp)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.listener.close()




@pytest.mark.parametrize("name", ["service", "admin"])
def test_document_is_valid_openapi_31(name):
    doc = json.load(open(os.path.join(DOCS, name + ".json")))
    validate(doc)
    assert doc["openapi"] == "3.1.0"


def test_served_documents_are_the_committed_ones(plain_daemon):
    daemon = plain_daemon
    for name, sock in (("service", daemon.service), ("admin", daemon.admin)):
        r = daemon.session(sock).get("http://keygate/openapi.json")
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "application/json"
        assert r.text == open(os.path.join(DOCS, name + ".json")).read()
        assert daemon.cli("api-docs", name).stdout == r.text
    # Bad input to the new endpoint: a body, a wrong method.
    s = daemon.session(daemon.admin)
    r = s.get("http://keygate/openapi.json", data=b"{}")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = s.post("http://keygate/openapi.json")
    assert r.status_code == 405 and r.headers["Allow"] == "GET"


@pytest.mark.parametrize("name", ["service", "admin"])
def test_schemathesis_finds_nothing(plain_daemon, name):
    daemon = plain_daemon
    bridge = Bridge(daemon.service if name == "service" else daemon.admin)
    key = json.loads(daemon.cli("key", "create", "st-fixed", "--name", "schemathesis", "--json").stdout)["key"]
    client_id, secret = daemon.new_client("st-fixed")
    env = dict(os.environ, KEYGATE_ST_KEY=key,
               KEYGATE_ST_BASIC=base64.b64encode(f"{client_id}:{secret}".encode()).decode())
    try:
        with tempfile.TemporaryDirectory() as cwd:
            cmd = [ST, "--config-file", CONFIG, "run", os.path.abspath(os.path.join(DOCS, name + ".json")),
                   "--url", f"http://127.0.0.1:{bridge.port}", "--checks", "all",
                   "--phases", "examples,coverage,fuzzing,stateful", "--seed", "20261201", "--no-color"]
            r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    finally:
        bridge.close()
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-20000:]
    assert "passed" in out and "failed" not in out.split("SUMMARY")[-1], out[-5000:]
    assert "Authentication failed" not in out, "schemathesis never got past authentication:\n" + out[-5000:]
    if name == "admin":
        # The stateful phase reached real resources through the links.
        assert "API Links" in out, out[-5000:]
    print(out[out.find("SUMMARY"):])
    # Nothing the daemon logged while being fuzzed is a crash.
    log = open(daemon.log).read()
    assert "Fatal error" not in log and "internal_error" not in log
