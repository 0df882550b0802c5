"""Peers are authorised by SO_PEERCRED: requests from another user, made with
setpriv(1) so that the kernel reports a different uid."""
import json
import os
import pwd
import subprocess

import pytest

from conftest import Keygated

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as other users")  # CI runs as root

ACCESS_YAML = """
listen:
  service_mode: "0666"
  admin_mode: "0666"
access:
  admin: [root]
  manage: ["user:nobody"]
  verify: [root, "group:daemon"]
"""


def curl_as(user, sock, method, path, data=None):
    pw = pwd.getpwnam(user)
    args = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups",
            "curl", "-s", "-S", "-i", "--unix-socket", sock, "-X", method, "http://keygate" + path]
    if data is not None:
        args += ["-H", "Content-Type: application/json", "-d", data]
    r = subprocess.run(args, capture_output=True, text=True, timeout=20)
    head, _, body = r.stdout.partition("\n\n")  # text mode has turned CRLF into LF
    status = int(head.split(" ")[1]) if head else 0
    return status, head, body


@pytest.fixture
def shared_daemon():
    d = Keygated()
    # Merge the listen modes into the base config's listen section.
    text = open(d.config).read().replace("listen:\n", "listen:\n  service_mode: \"0666\"\n  admin_mode: \"0666\"\n", 1)
    open(d.config, "w").write(text + "access:" + ACCESS_YAML.split("access:", 1)[1])
    os.chmod(d.dir, 0o711)  # others may reach the sockets; the files' own modes decide the rest
    d.start()
    yield d
    d.cleanup()


def test_service_socket_admits_only_access_verify(shared_daemon):
    d = shared_daemon
    nobody = pwd.getpwnam("nobody").pw_uid
    status, head, body = curl_as("nobody", d.service, "POST", "/v1/verify", '{"key":"kg_x"}')
    assert status == 403
    j = json.loads(body)
    assert j["error"] == "forbidden"
    assert f"uid {nobody}" in j["error_description"] and "access.verify" in j["error_description"]
    assert "Connection: close" in head, "a refused peer does not keep its connection"
    # group:daemon is admitted (setpriv sets the primary group, which SO_PEERCRED reports).
    status, _, body = curl_as("daemon", d.service, "POST", "/v1/verify", '{"key":"kg_x"}')
    assert status == 200 and json.loads(body) == {"valid": False, "code": "MALFORMED"}


def test_manage_may_manage_credentials_but_not_reload(shared_daemon):
    d = shared_daemon
    status, _, body = curl_as("nobody", d.admin, "POST", "/v1/accounts/acme/keys", '{"name":"from the backend"}')
    assert status == 201, body
    assert json.loads(body)["key"].startswith("kg_")
    assert curl_as("nobody", d.admin, "GET", "/v1/accounts/acme/keys")[0] == 200
    assert curl_as("nobody", d.admin, "GET", "/v1/status")[0] == 200
    status, _, body = curl_as("nobody", d.admin, "POST", "/v1/reload")
    assert status == 403 and "access.admin" in json.loads(body)["error_description"]
    # Anyone else: 403 on everything, and nothing is stored.
    status, _, body = curl_as("daemon", d.admin, "POST", "/v1/accounts/acme/keys", '{"name":"intruder"}')
    assert status == 403
    keys = json.loads(d.cli("key", "list", "acme", "--json").stdout)["keys"]
    assert [k["name"] for k in keys] == ["from the backend"]
    # root, in access.admin, may reload.
    assert d.cli("reload").returncode == 0
