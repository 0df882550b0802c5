"""OAuth 2.0 client credentials against the real keygated, with client
libraries nobody here wrote: requests-oauthlib and authlib (requests and httpx)."""
import base64
import sqlite3
import time
import urllib.parse

try:
    # authlib's httpx client moved to httpx2 (which the mcp package brings); its transport must match.
    import httpx2 as httpx
except ImportError:
    import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client as AuthlibHttpxClient
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import BackendApplicationClient, InvalidClientError
from requests_oauthlib import OAuth2Session

from conftest import UnixAdapter

TOKEN_URL = "http://keygate/oauth/token"
LOCAL = {"X-Real-IP": "127.0.0.1"}


def oauthlib_session(d, client_id):
    s = OAuth2Session(client=BackendApplicationClient(client_id=client_id))
    s.mount("http://keygate/", UnixAdapter(d.service))
    return s


def test_requests_oauthlib_fetches_uses_and_introspects_a_token(daemon):
    cid, secret = daemon.new_client("acme")
    token = oauthlib_session(daemon, cid).fetch_token(TOKEN_URL, client_id=cid, client_secret=secret, headers=LOCAL)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["access_token"].startswith("kgat_") and len(token["access_token"]) == 51
    assert "refresh_token" not in token
    v = daemon.verify(token["access_token"])
    assert v["valid"] is True and v["kind"] == "access_token" and v["account"] == "acme" and v["client_id"] == cid
    assert 3590 <= v["expires_in"] <= 3600
    i = daemon.introspect(token["access_token"])
    assert i["active"] is True and i["sub"] == "acme" and i["client_id"] == cid and i["token_type"] == "Bearer"
    assert isinstance(i["exp"], int) and isinstance(i["iat"], int) and i["exp"] - i["iat"] == 3600


def test_token_response_headers_follow_rfc6749_5_1(daemon):
    cid, secret = daemon.new_client("acme")
    r = daemon.session().post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(cid, secret), headers=LOCAL)
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Pragma"] == "no-cache"
    assert r.headers["Content-Type"].startswith("application/json")
    assert set(r.json()) == {"access_token", "token_type", "expires_in"}


def test_authlib_httpx_with_body_credentials_and_scopes(daemon):
    cid, secret = daemon.new_client("partner-acme")
    transport = httpx.HTTPTransport(uds=daemon.service)
    with AuthlibHttpxClient(cid, secret, token_endpoint_auth_method="client_secret_post", transport=transport) as client:
        token = client.fetch_token(TOKEN_URL, grant_type="client_credentials", scope="read", headers=LOCAL)
        assert token["scope"] == "read"
        assert token["expires_in"] == 900
        all_scopes = client.fetch_token(TOKEN_URL, grant_type="client_credentials", headers=LOCAL)
        assert all_scopes["scope"] == "read write"
        with pytest.raises(Exception) as e:
            client.fetch_token(TOKEN_URL, grant_type="client_credentials", scope="admin", headers=LOCAL)
        assert "invalid_scope" in str(e.value)
    assert daemon.introspect(token["access_token"])["scope"] == "read"


def test_authlib_requests_with_basic_auth(daemon):
    cid, secret = daemon.new_client("acme")
    s = AuthlibSession(cid, secret, token_endpoint_auth_method="client_secret_basic")
    s.mount("http://keygate/", UnixAdapter(daemon.service))
    token = s.fetch_token(TOKEN_URL, grant_type="client_credentials", headers=LOCAL)
    assert daemon.verify(token["access_token"])["valid"] is True
    # A scope on a policy without scopes is invalid_scope.
    r = daemon.session().post(TOKEN_URL, data={"grant_type": "client_credentials", "scope": "read"}, auth=(cid, secret), headers=LOCAL)
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def test_token_expires_from_the_second_it_expires(daemon):
    cid, secret = daemon.new_client("short-lived")
    token = oauthlib_session(daemon, cid).fetch_token(TOKEN_URL, client_id=cid, client_secret=secret, headers=LOCAL)
    assert token["expires_in"] == 2
    assert daemon.verify(token["access_token"])["valid"] is True
    time.sleep(1.2)  # at least one sweep ran with nothing to remove: it stays silent
    assert "sweep removed" not in open(daemon.log).read()
    deadline = time.time() + 4
    while time.time() < deadline and daemon.verify(token["access_token"]).get("valid"):
        time.sleep(0.1)
    v = daemon.verify(token["access_token"])
    assert v == {"valid": False, "code": "EXPIRED"} or v == {"valid": False, "code": "UNKNOWN"}, v
    assert daemon.introspect(token["access_token"]) == {"active": False}
    # The sweep (every second here) removes it from memory and from the database, and logs that it did.
    deadline = time.time() + 5
    while time.time() < deadline:
        rows = sqlite3.connect(daemon.db).execute("SELECT count(*) FROM access_tokens").fetchone()[0]
        if rows == 0:
            break
        time.sleep(0.2)
    assert rows == 0
    assert daemon.verify(token["access_token"]) == {"valid": False, "code": "UNKNOWN"}
    assert "sweep removed expired credentials" in open(daemon.log).read()


def test_rotating_the_pair_revokes_the_old_secret_and_its_tokens(daemon):
    cid, secret = daemon.new_client("acme")
    old = oauthlib_session(daemon, cid).fetch_token(TOKEN_URL, client_id=cid, client_secret=secret, headers=LOCAL)
    new_cid, new_secret = daemon.new_client("acme")
    assert new_cid != cid
    with pytest.raises(InvalidClientError):
        oauthlib_session(daemon, cid).fetch_token(TOKEN_URL, client_id=cid, client_secret=secret, headers=LOCAL)
    assert daemon.introspect(old["access_token"]) == {"active": False}
    assert daemon.verify(old["access_token"])["valid"] is False
    fresh = oauthlib_session(daemon, new_cid).fetch_token(TOKEN_URL, client_id=new_cid, client_secret=new_secret, headers=LOCAL)
    assert daemon.verify(fresh["access_token"])["valid"] is True
    shown = daemon.cli("client", "show", "acme").stdout
    assert new_cid in shown and new_secret not in shown and "kgs_" not in shown


def test_grace_keeps_the_old_pair_working_exactly_until_it_ends(daemon):
    cid, secret = daemon.new_client("acme")
    old = oauthlib_session(daemon, cid).fetch_token(TOKEN_URL, client_id=cid, client_secret=secret, headers=LOCAL)
    daemon.new_client("acme", "--grace", "3s")
    assert daemon.verify(old["access_token"])["valid"] is True
    again = oauthlib_session(daemon, cid).fetch_token(TOKEN_URL, client_id=cid, client_secret=secret, headers=LOCAL)
    assert daemon.verify(again["access_token"])["valid"] is True
    time.sleep(3.2)
    assert daemon.verify(old["access_token"])["valid"] is False
    with pytest.raises(InvalidClientError):
        oauthlib_session(daemon, cid).fetch_token(TOKEN_URL, client_id=cid, client_secret=secret, headers=LOCAL)


def test_live_token_survives_a_restart(daemon):
    cid, secret = daemon.new_client("acme")
    token = oauthlib_session(daemon, cid).fetch_token(TOKEN_URL, client_id=cid, client_secret=secret, headers=LOCAL)
    assert daemon.stop() == 0
    daemon.start()
    assert daemon.introspect(token["access_token"])["active"] is True
    assert daemon.verify(token["access_token"])["valid"] is True
    # No secret reached the database or the log.
    written = daemon.written_bytes()
    for s in (secret, token["access_token"]):
        assert s.encode() not in written
        assert s[8:].encode() not in written


def test_basic_credentials_are_form_urlencoded_then_base64(daemon):
    cid, secret = daemon.new_client("acme")
    s = daemon.session()

    def basic(user, password):
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode(), **LOCAL}

    def every_char_escaped(text):
        return "".join("%%%02X" % b for b in text.encode())

    # Percent-encoded id and secret decode to the real ones.
    r = s.post(TOKEN_URL, data={"grant_type": "client_credentials"}, headers=basic(every_char_escaped(cid), every_char_escaped(secret)))
    assert r.status_code == 200, r.text
    # An encoded ':' belongs to the id, not the separator; '+' is a space; both make a wrong credential.
    for user, password in [(cid + "%3A", secret), (cid, secret + "+"), (cid + ":" + secret, ""), (cid, secret + "%")]:
        r = s.post(TOKEN_URL, data={"grant_type": "client_credentials"}, headers=basic(user, password))
        assert r.status_code == 401, (user, password, r.text)
        assert r.json()["error"] == "invalid_client"
        assert r.headers["WWW-Authenticate"] == 'Basic realm="keygate"'
    # '%', '+' and ':' reach the decoder intact when encoded: quote_plus of a secret with them still fails cleanly.
    tricky = urllib.parse.quote_plus("kgs_+%:")
    r = s.post(TOKEN_URL, data={"grant_type": "client_credentials"}, headers=basic(cid, tricky))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_token_endpoint_errors(daemon):
    cid, secret = daemon.new_client("acme")
    s = daemon.session()
    cases = [
        ({"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}, (cid, secret), 400, "invalid_request"),
        ({"grant_type": "password", "client_id": cid, "client_secret": secret}, None, 400, "unsupported_grant_type"),
        ({"client_id": cid, "client_secret": secret}, None, 400, "invalid_request"),
        ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": cid, "client_secret": "kgs_wrong"}, None, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "kgc_nobody", "client_secret": secret}, None, 401, "invalid_client"),
    ]
    for data, auth, status, error in cases:
        r = s.post(TOKEN_URL, data=data, auth=auth, headers=LOCAL)
        assert (r.status_code, r.json()["error"]) == (status, error), (data, r.text)
        assert r.headers["Cache-Control"] == "no-store"
        assert "WWW-Authenticate" not in r.headers, "no Basic was used"
        assert secret not in r.text
    # Credentials in the query string are refused.
    r = s.post(TOKEN_URL + "?client_secret=" + secret, data={"grant_type": "client_credentials"}, auth=(cid, secret), headers=LOCAL)
    assert r.status_code == 400 and "query string" in r.json()["error_description"]
    # A JSON body is not a form.
    r = s.post(TOKEN_URL, json={"grant_type": "client_credentials"}, auth=(cid, secret), headers=LOCAL)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    # GET is not allowed.
    assert s.get(TOKEN_URL).status_code == 405
    assert secret.encode() not in daemon.written_bytes()


def test_address_rules_apply_to_token_requests_and_use(daemon):
    cid, secret = daemon.new_client("office-1")
    s = daemon.session()
    ok = s.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(cid, secret), headers={"X-Real-IP": "10.1.2.3"})
    assert ok.status_code == 200
    r = s.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(cid, secret), headers={"X-Real-IP": "192.0.2.1"})
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
    r = s.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(cid, secret))
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
    token = ok.json()["access_token"]
    assert daemon.verify(token, ip="10.9.9.9")["valid"] is True
    assert daemon.verify(token, ip="192.0.2.1") == {"valid": False, "code": "IP_NOT_ALLOWED"}
    # A pair's own restriction applies too.
    cid2, secret2 = daemon.new_client("acme", "--allow-ip", "203.0.113.0/24")
    assert s.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(cid2, secret2), headers={"X-Real-IP": "203.0.113.9"}).status_code == 200
    assert s.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(cid2, secret2), headers={"X-Real-IP": "198.51.100.1"}).status_code == 400


def test_revocation_rfc7009_only_the_callers_own_tokens(daemon):
    a_id, a_secret = daemon.new_client("acme")
    b_id, b_secret = daemon.new_client("globex")
    s = daemon.session()
    ta = s.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(a_id, a_secret), headers=LOCAL).json()["access_token"]
    tb = s.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(b_id, b_secret), headers=LOCAL).json()["access_token"]
    # Another client's token: 200, and nothing happens.
    r = s.post("http://keygate/oauth/revoke", data={"token": tb}, auth=(a_id, a_secret))
    assert r.status_code == 200
    assert daemon.verify(tb)["valid"] is True
    # Unknown tokens: 200.
    assert s.post("http://keygate/oauth/revoke", data={"token": "kgat_unknown"}, auth=(a_id, a_secret)).status_code == 200
    # Own token: revoked.
    assert s.post("http://keygate/oauth/revoke", data={"token": ta}, auth=(a_id, a_secret)).status_code == 200
    assert daemon.verify(ta) == {"valid": False, "code": "REVOKED"}
    assert daemon.introspect(ta) == {"active": False}
    # Without client authentication: 401.
    assert s.post("http://keygate/oauth/revoke", data={"token": tb}).status_code == 401


def test_api_keys_introspect_as_active(daemon):
    import json
    k = json.loads(daemon.cli("key", "create", "acme", "--name", "intro", "--json").stdout)
    i = daemon.introspect(k["key"])
    assert i == {"active": True, "token_type": "api_key", "sub": "acme", "key_id": k["id"], "iat": i["iat"]}
    assert isinstance(i["iat"], int)
    assert daemon.introspect("kg_nonsense") == {"active": False}
    # An empty parameter counts as omitted (RFC 6749 section 3.2): token is required.
    for data in ({}, {"token": ""}):
        r = daemon.session().post("http://keygate/oauth/introspect", data=data)
        assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_oldest_live_token_is_revoked_beyond_the_limit(daemon):
    cid, secret = daemon.new_client("acme")
    s = daemon.session()
    tokens = [s.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(cid, secret), headers=LOCAL).json()["access_token"] for _ in range(6)]
    # max_live_per_client is 3 here: the oldest are revoked and forgotten, memory and disk stay bounded.
    assert [daemon.verify(t)["valid"] for t in tokens] == [False, False, False, True, True, True]
    assert daemon.introspect(tokens[0]) == {"active": False}
    assert sqlite3.connect(daemon.db).execute("SELECT count(*) FROM access_tokens").fetchone()[0] == 3


def test_admin_revoke_and_delete_stop_every_token(daemon):
    cid, secret = daemon.new_client("acme")
    s = daemon.session()
    t = s.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(cid, secret), headers=LOCAL).json()["access_token"]
    out = daemon.cli("tokens", "revoke", "acme").stdout
    assert "Revoked 1 token(s)" in out
    assert daemon.verify(t) == {"valid": False, "code": "REVOKED"}
    t2 = s.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(cid, secret), headers=LOCAL).json()["access_token"]
    daemon.cli("client", "delete", "acme", "--yes")
    assert daemon.verify(t2)["valid"] is False
    assert s.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(cid, secret), headers=LOCAL).status_code == 401
    assert daemon.cli("client", "show", "acme", check=False).returncode == 1


def test_replacing_credentials_needs_confirmation_without_a_terminal(daemon):
    cid, _ = daemon.new_client("acme")
    r = daemon.cli("client", "generate", "acme", check=False)
    assert r.returncode == 1
    assert "refusing without --yes" in r.stderr
    assert cid in daemon.cli("client", "show", "acme").stdout, "nothing changed"
    r = daemon.cli("client", "delete", "acme", check=False)
    assert r.returncode == 1
    assert cid in daemon.cli("client", "show", "acme").stdout


def test_replacing_credentials_asks_on_a_terminal(daemon):
    import os
    import pty
    import subprocess
    cid, _ = daemon.new_client("acme")

    def on_terminal(answer):
        master, slave = pty.openpty()
        env = dict(os.environ, KEYGATE_ADMIN_SOCKET=daemon.admin)
        p = subprocess.Popen([__import__("conftest").KEYGATE, "client", "generate", "acme"], stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=env)
        os.close(slave)
        seen = b""
        while b"Type 'yes'" not in seen:
            seen += os.read(master, 1024)
        os.write(master, answer + b"\n")
        out = p.communicate(timeout=20)[0].decode()
        os.close(master)
        return p.returncode, seen.decode(), out

    code, prompt, out = on_terminal(b"no")
    assert code == 1 and cid in prompt and "stop working at once" in prompt
    assert cid in daemon.cli("client", "show", "acme").stdout
    code, prompt, out = on_terminal(b"yes")
    assert code == 0 and "client secret  kgs_" in out
    assert cid not in daemon.cli("client", "show", "acme").stdout


def test_generate_client_with_an_empty_body(daemon):
    r = daemon.session(daemon.admin).post("http://keygate/v1/accounts/acme/client")
    assert r.status_code == 201, r.text
    assert r.json()["client_secret"].startswith("kgs_")
    assert r.headers["Cache-Control"] == "no-store"
    r = daemon.session(daemon.admin).post("http://keygate/v1/accounts/acme/client", json={"grace": "soon"})
    assert r.status_code == 400 and "grace" in r.json()["error_description"]


def test_expiry_does_not_wait_for_the_sweep():
    from conftest import Keygated
    d = Keygated("tokens:\n  sweep_interval: 1d\npolicies:\n  default:\n    token_ttl: 2s\n")
    try:
        d.start()
        cid, secret = d.new_client("acme")
        r = d.session().post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(cid, secret))
        token = r.json()["access_token"]
        issued = time.time()
        assert d.verify(token)["valid"] is True
        time.sleep(max(0, issued + 2.05 - time.time()) + 1)
        assert d.verify(token) == {"valid": False, "code": "EXPIRED"}, "refused from the second it expires; no sweep has run"
        assert d.introspect(token) == {"active": False}
        assert sqlite3.connect(d.db).execute("SELECT count(*) FROM access_tokens").fetchone()[0] == 1, "the row waits for the sweep"
    finally:
        d.cleanup()


def test_failed_logins_past_the_limit_get_429_but_the_right_secret_passes(daemon):
    cid, secret = daemon.new_client("acme")
    s = daemon.session()
    wrong = {"grant_type": "client_credentials", "client_id": cid, "client_secret": "kgs_nope"}
    for _ in range(20):
        assert s.post(TOKEN_URL, data=wrong, headers={"X-Real-IP": "198.51.100.9"}).status_code == 401
    r = s.post(TOKEN_URL, data=wrong, headers={"X-Real-IP": "198.51.100.9"})
    assert r.status_code == 429 and r.json()["error"] == "slow_down"
    ok = s.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(cid, secret), headers={"X-Real-IP": "198.51.100.9"})
    assert ok.status_code == 200
    # verify: failures past the limit answer RATE_LIMITED, a valid credential still passes.
    for _ in range(25):
        daemon.verify("kg_guess", ip="203.0.113.50")
    assert daemon.verify("kg_guess", ip="203.0.113.50") == {"valid": False, "code": "RATE_LIMITED"}
    assert daemon.verify(ok.json()["access_token"], ip="203.0.113.50")["valid"] is True


def test_head_answers_have_no_body_and_keep_the_connection_in_step(daemon):
    import socket as pysocket
    s = pysocket.socket(pysocket.AF_UNIX)
    s.connect(daemon.service)
    s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nHEAD /v1/auth HTTP/1.1\r\nHost: x\r\nX-API-Key: kg_x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    parts = data.split(b"HTTP/1.1 ")
    assert [p[:3] for p in parts[1:]] == [b"200", b"401", b"200"]
    assert data.endswith(b'\r\n\r\n{"status":"ok"}')
    assert data.count(b"{") == 1, "only the GET carries a body"
