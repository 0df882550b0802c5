"""nginx from Debian in front of a small API, protecting it with auth_request
to keygated's service socket, using the shipped etc/nginx snippets."""
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest
import requests
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Upstream(http.server.BaseHTTPRequestHandler):
    """The protected application: echoes what nginx told it."""

    def do_GET(self):
        body = json.dumps({
            "path": self.path,
            "account": self.headers.get("Keygate-Account"),
            "kind": self.headers.get("Keygate-Kind"),
            "authorization": self.headers.get("Authorization"),
            "api_key": self.headers.get("X-API-Key"),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def nginx(daemon):
    app = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    port = free_port()
    d = os.path.join(daemon.dir, "nginx")
    os.makedirs(d)
    up = open(os.path.join(ROOT, "etc/nginx/keygate-upstream.conf")).read()
    up = up.replace("/run/keygate/keygate.sock", daemon.service).replace("127.0.0.1:8080", "127.0.0.1:%d" % app.server_address[1])
    open(os.path.join(d, "keygate-upstream.conf"), "w").write(up)
    shutil.copy(os.path.join(ROOT, "etc/nginx/keygate.conf"), os.path.join(d, "keygate.conf"))
    user = "user root;" if os.geteuid() == 0 else ""
    conf = f"""
{user}
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/keygate-upstream.conf;
    server {{
        listen 127.0.0.1:{port};
        include {d}/keygate.conf;
    }}
}}
"""
    open(os.path.join(d, "nginx.conf"), "w").write(conf)
    check = subprocess.run([NGINX, "-t", "-p", d, "-c", os.path.join(d, "nginx.conf")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([NGINX, "-p", d, "-c", os.path.join(d, "nginx.conf")], stderr=subprocess.PIPE)
    base = "http://127.0.0.1:%d" % port
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield base
    proc.terminate()
    proc.wait(timeout=10)
    app.shutdown()


def create_key(daemon, account, name, *extra):
    return json.loads(daemon.cli("key", "create", account, "--name", name, "--json", *extra).stdout)


def test_static_keys_through_nginx(daemon, nginx):
    key = create_key(daemon, "acme", "through nginx")
    r = requests.get(nginx + "/api/orders", headers={"X-API-Key": key["key"]})
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["account"] == "acme" and seen["kind"] == "api_key" and seen["path"] == "/api/orders"
    assert seen["api_key"] is None and seen["authorization"] is None, "the secret is not passed upstream"
    r = requests.get(nginx + "/api/orders", headers={"Authorization": "Bearer " + key["key"]})
    assert r.status_code == 200 and r.json()["account"] == "acme"
    # A client cannot forge the account header.
    r = requests.get(nginx + "/api/orders", headers={"X-API-Key": key["key"], "Keygate-Account": "root"})
    assert r.json()["account"] == "acme"


def test_missing_wrong_deleted_and_restricted_keys_are_stopped(daemon, nginx):
    r = requests.get(nginx + "/api/orders")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="keygate"'
    r = requests.get(nginx + "/api/orders", headers={"X-API-Key": "kg_wrong"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="keygate", error="invalid_token"'
    key = create_key(daemon, "acme", "to delete")
    assert requests.get(nginx + "/api/x", headers={"X-API-Key": key["key"]}).status_code == 200
    daemon.cli("key", "delete", "acme", key["id"])
    assert requests.get(nginx + "/api/x", headers={"X-API-Key": key["key"]}).status_code == 401
    # nginx sends $remote_addr (127.0.0.1) as X-Real-IP; this key only allows 10/8.
    office = create_key(daemon, "acme", "office only", "--allow-ip", "10.0.0.0/8")
    assert requests.get(nginx + "/api/x", headers={"X-API-Key": office["key"]}).status_code == 403
    loopback = create_key(daemon, "acme", "loopback", "--allow-ip", "127.0.0.0/8")
    assert requests.get(nginx + "/api/x", headers={"X-API-Key": loopback["key"]}).status_code == 200


def test_oauth_client_through_nginx_on_tcp_loopback(daemon, nginx):
    cid, secret = daemon.new_client("acme")
    session = OAuth2Session(client=BackendApplicationClient(client_id=cid))
    token = session.fetch_token(nginx + "/oauth/token", client_id=cid, client_secret=secret)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    r = session.get(nginx + "/api/profile")
    assert r.status_code == 200
    assert r.json()["account"] == "acme" and r.json()["kind"] == "access_token"
    # The pair is regenerated: the same call with the same token is refused.
    daemon.new_client("acme")
    r = session.get(nginx + "/api/profile")
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_rate_limited_caller_gets_429_through_nginx(daemon, nginx):
    key = create_key(daemon, "acme", "good")["key"]
    for _ in range(20):
        assert requests.get(nginx + "/api/x", headers={"X-API-Key": "kg_guess"}).status_code == 401
    r = requests.get(nginx + "/api/x", headers={"X-API-Key": "kg_guess"})
    assert r.status_code == 429
    assert r.headers.get("Retry-After") == "60"
    # Callers sharing the address with a valid key are not locked out.
    assert requests.get(nginx + "/api/x", headers={"X-API-Key": key}).status_code == 200
