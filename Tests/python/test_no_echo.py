"""No answer or log line on either socket holds a secret, in any form the
secret was sent in: plain, JSON-escaped, percent-encoded, inside a longer
word, as an account in a path, as a field name, as a header name or a method
(SPEC 8, 13). Every secret this test creates (API keys, client secrets,
access tokens) is sent every way, and every byte that comes back, and the
daemon's whole log, is searched for its random part."""
import json
import socket
import urllib.parse

from conftest import Keygated


def raw(sock, data):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.settimeout(10)
    s.sendall(data)
    out = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            out += c
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return out


def request(method, path, body=b"", headers=()):
    h = f"{method} {path} HTTP/1.1\r\nHost: keygate\r\nConnection: close\r\n".encode()
    for k, v in headers:
        h += k.encode() + b": " + v.encode() + b"\r\n"
    if body:
        h += b"Content-Length: %d\r\n" % len(body)
    return h + b"\r\n" + body


def json_escaped(s):
    """Every character as \\uXXXX, and only the first one."""
    return ["".join(f"\\u{ord(c):04x}" for c in s), f"\\u{ord(s[0]):04x}" + s[1:]]


def percent(s):
    return ["".join(f"%{ord(c):02X}" for c in s), f"%{ord(s[0]):02X}" + s[1:], urllib.parse.quote(s)]


def forms(secret):
    return [secret, "x" + secret, secret + "x", "Bearer " + secret] + json_escaped(secret) + percent(secret)


def test_no_secret_comes_back_in_any_form():
    d = Keygated("policies:\n  default:\n    allow_ips: [10.0.0.0/8]\n")
    d.start()
    try:
        secrets = []
        for i in range(3):
            secrets.append(json.loads(d.cli("key", "create", f"acme{i}", "--name", f"k{i}", "--json").stdout)["key"])
        cid, csecret = d.new_client("partner")
        secrets.append(csecret)
        r = d.session().post("http://keygate/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(cid, csecret), headers={"X-Real-IP": "10.0.0.1"})
        assert r.status_code == 200, r.text
        secrets.append(r.json()["access_token"])
        answers = []
        for secret in secrets:
            for f in forms(secret):
                fj = json.dumps(f)[1:-1] if "\\u" not in f else f   # keep hand-made escapes as they are
                q = urllib.parse.quote(f, safe="%")
                svc = [
                    request("POST", "/v1/verify", ('{"key":"%s","ip":"10.0.0.1"}' % fj).encode()),
                    request("POST", "/v1/verify", ('{"key":"kg_x","ip":"%s"}' % fj).encode()),
                    request("POST", "/v1/verify", ('{"%s":1}' % fj).encode()),
                    request("POST", "/v1/verify", ('{"key":"kg_x","ip":"10.0.0.1","%s":"y"}' % fj).encode()),
                    request("POST", "/v1/verify", f.encode()),
                    request("GET", "/v1/auth", headers=[("X-API-Key", f), ("X-Real-IP", "10.0.0.1")]),
                    request("GET", "/v1/auth", headers=[("Authorization", "Bearer " + f)]),
                    request("GET", "/v1/auth", headers=[("X-Real-IP", f), ("X-API-Key", secrets[0])]),
                    request("POST", "/oauth/token", f"grant_type=client_credentials&client_id={q}&client_secret={q}".encode(),
                            [("Content-Type", "application/x-www-form-urlencoded")]),
                    request("POST", "/oauth/token", f"grant_type={q}&scope={q}".encode(),
                            [("Content-Type", "application/x-www-form-urlencoded")]),
                    request("POST", "/oauth/token", f"{q}=1&grant_type=client_credentials".encode(),
                            [("Content-Type", "application/x-www-form-urlencoded")]),
                    request("POST", "/oauth/introspect", f"token={q}&token_type_hint={q}".encode(),
                            [("Content-Type", "application/x-www-form-urlencoded")]),
                    request("POST", "/oauth/revoke", f"token={q}".encode(), [("Content-Type", "application/x-www-form-urlencoded")]),
                    request("GET", f"/{q}"),
                    request("GET", f"/v1/verify/{q}"),
                    request("GET", f"/healthz?{q}"),
                ]
                if " " not in f and "\\" not in f:
                    svc.append(request(f.replace("%", "P"), "/v1/verify"))   # as a method
                    svc.append(request("GET", "/healthz", headers=[(f.replace("%", "P"), "1")]))  # as a header name
                for r in svc:
                    answers.append(raw(d.service, r))
                adm = [
                    request("GET", f"/v1/accounts/{q}/keys"),
                    request("GET", f"/v1/accounts/{q}/client"),
                    request("POST", f"/v1/accounts/{q}/keys", b'{"name":"x"}', [("Content-Type", "application/json")]),
                    request("POST", f"/v1/accounts/{q}/client"),
                    request("DELETE", f"/v1/accounts/{q}/client"),
                    request("GET", f"/v1/accounts/acme0/keys/{q}"),
                    request("POST", "/v1/accounts/acme9/keys", ('{"name":"%s"}' % fj).encode(), [("Content-Type", "application/json")]),
                    request("POST", "/v1/accounts/acme9/keys", ('{"name":"n","allow_ips":["%s"]}' % fj).encode(), [("Content-Type", "application/json")]),
                    request("POST", "/v1/accounts/acme9/keys", ('{"name":"n","%s":1}' % fj).encode(), [("Content-Type", "application/json")]),
                    request("PATCH", "/v1/accounts/acme0/keys/key_0000000000000000", ('{"name":"%s"}' % fj).encode(), [("Content-Type", "application/json")]),
                    request("GET", f"/v1/{q}"),
                ]
                for r in adm:
                    answers.append(raw(d.admin, r))
        # Nothing was stored for the secret-shaped accounts or names.
        listed = raw(d.admin, request("GET", "/v1/accounts"))
        assert listed.startswith(b"HTTP/1.1 200") and b"acme9" not in listed, listed[:500]
        answers.append(listed)
        d.stop()
        log = open(d.log, "rb").read()
        assert len(answers) > 300 and all(a.startswith(b"HTTP/1.1 ") for a in answers)
        for secret in secrets:
            body = secret.split("_", 1)[1]
            needles = {body.encode(), "".join(f"%{ord(c):02X}" for c in body).encode(),
                       "".join(f"\\u{ord(c):04x}" for c in body).encode()}
            for n in needles:
                for a in answers:
                    assert n not in a, f"an answer holds a secret: {a[:300]!r}"
                assert n not in log, "the log holds a secret"
    finally:
        d.cleanup()
