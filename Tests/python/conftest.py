"""Fixtures that run the real keygated binary on temporary Unix sockets."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool

BIN = os.environ.get("KEYGATE_BIN_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", ".build", "debug")
KEYGATED = os.path.join(BIN, "keygated")
KEYGATE = os.path.join(BIN, "keygate")

# oauthlib insists on https; these clients talk to a local Unix socket.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


class UnixHTTPConnection(HTTPConnection):
    def __init__(self, path, **kw):
        super().__init__("keygate", **kw)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.unix_path)
        self.sock = s


class UnixConnectionPool(HTTPConnectionPool):
    def __init__(self, path):
        super().__init__("keygate")
        self.unix_path = path

    def _new_conn(self):
        return UnixHTTPConnection(self.unix_path)


class UnixAdapter(HTTPAdapter):
    """A requests transport that sends every request to one Unix socket."""

    def __init__(self, path):
        super().__init__()
        self.pool = UnixConnectionPool(path)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        return self.pool

    def get_connection(self, url, proxies=None):
        return self.pool

    def close(self):
        self.pool.close()


BASE_CONFIG = """
listen:
  service_socket: {dir}/s.sock
  admin_socket: {dir}/a.sock
{storage}
"""
SQLITE_STORAGE = """storage:
  path: {dir}/state/keygate.db"""


class Keygated:
    def __init__(self, extra_yaml="", storage=None):
        self.storage = storage
        self.dir = tempfile.mkdtemp(prefix="kgpy-", dir="/tmp")
        self.config = os.path.join(self.dir, "keygate.yaml")
        self.service = os.path.join(self.dir, "s.sock")
        self.admin = os.path.join(self.dir, "a.sock")
        self.db = os.path.join(self.dir, "state", "keygate.db")
        self.log = os.path.join(self.dir, "keygated.log")
        self.proc = None
        self.write_config(extra_yaml)

    def write_config(self, extra_yaml):
        with open(self.config, "w") as f:
            storage = self.storage if self.storage is not None else SQLITE_STORAGE.format(dir=self.dir)
            f.write(BASE_CONFIG.format(dir=self.dir, storage=storage) + extra_yaml)

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([KEYGATED, "--config", self.config], stdout=logf, stderr=logf)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("keygated exited %s: %s" % (self.proc.returncode, open(self.log).read()))
            if os.path.exists(self.service) and os.path.exists(self.admin):
                try:
                    if self.session().get("http://keygate/healthz").status_code == 200:
                        return
                except requests.ConnectionError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("keygated did not become ready: " + open(self.log).read())

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)

    def session(self, sock=None):
        s = requests.Session()
        s.mount("http://keygate/", UnixAdapter(sock or self.service))
        return s

    def cli(self, *args, check=True):
        env = dict(os.environ, KEYGATE_ADMIN_SOCKET=self.admin, KEYGATE_SOCKET=self.service)
        r = subprocess.run([KEYGATE, *args], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
        if check and r.returncode != 0:
            raise AssertionError("keygate %s exited %d: %s" % (" ".join(args), r.returncode, r.stderr))
        return r

    def new_client(self, account, *extra):
        out = self.cli("client", "generate", account, "--json", "--yes", *extra).stdout
        j = json.loads(out)
        return j["client_id"], j["client_secret"]

    def verify(self, secret, ip="127.0.0.1"):
        r = self.session().post("http://keygate/v1/verify", json={"key": secret, "ip": ip})
        assert r.status_code == 200, r.text
        return r.json()

    def introspect(self, token):
        r = self.session().post("http://keygate/oauth/introspect", data={"token": token})
        assert r.status_code == 200, r.text
        return r.json()

    def written_bytes(self):
        out = b""
        for f in (self.db, self.db + "-wal", self.db + "-shm", self.log):
            if os.path.exists(f):
                out += open(f, "rb").read()
        return out

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        subprocess.run(["rm", "-rf", self.dir])


OAUTH_YAML = """
tokens:
  sweep_interval: 1s
  max_live_per_client: 3
policies:
  default:
    token_ttl: 1h
  partners:
    token_ttl: 15m
    scopes: [read, write]
  short:
    token_ttl: 2s
  office:
    allow_ips: [10.0.0.0/8]
accounts:
  - match: "partner-*"
    policy: partners
  - match: "short-*"
    policy: short
  - match: "office-*"
    policy: office
"""


@pytest.fixture
def daemon():
    d = Keygated(OAUTH_YAML)
    d.start()
    yield d
    d.cleanup()


@pytest.fixture
def plain_daemon():
    """keygated with the default configuration (SQLite, no policies)."""
    d = Keygated()
    d.start()
    yield d
    d.cleanup()
