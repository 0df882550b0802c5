"""Leaked secrets (SPEC 12): POST /v1/leaks on the admin socket and
`keygate scan`, against the real keygated and keygate binaries.

Every test also checks that no submitted or scanned secret shows up in an
answer, in the tool's output, in the daemon's log or in its database."""
import json
import os
import pwd
import re
import secrets as pysecrets
import subprocess
import time
import zlib

import pytest

from conftest import KEYGATE, Keygated

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LOCAL = {"X-Real-IP": "127.0.0.1"}
LEAKS = "http://keygate/v1/leaks"
REPORTED = "leaked secret reported"


# --- secrets computed here ---------------------------------------------------

def checksum(text):
    """CRC-32 (zlib) of the text, as 6 base62 digits, big-endian, zero-padded."""
    n = zlib.crc32(text.encode())
    out = ""
    for _ in range(6):
        out = B62[n % 62] + out
        n //= 62
    return out


def fake(prefix):
    """A well-formed secret (valid checksum) that no daemon ever issued."""
    body = prefix + "".join(pysecrets.choice(B62) for _ in range(40))
    return body + checksum(body)


def broken(secret):
    """The same secret with its last checksum character changed."""
    return secret[:-1] + ("A" if secret[-1] != "A" else "B")


def hint(secret):
    return secret[:8]


def test_checksum_helper_matches_what_the_daemon_issues(plain_daemon):
    # The helper above is what the other tests build unknown secrets with.
    key = json.loads(plain_daemon.cli("key", "create", "acme", "--name", "k", "--json").stdout)["key"]
    assert len(key) == 49 and key.startswith("kg_")
    assert checksum(key[:-6]) == key[-6:]
    cid, sec = plain_daemon.new_client("acme")
    assert len(sec) == 50 and checksum(sec[:-6]) == sec[-6:]
    tok = token(plain_daemon, cid, sec)
    assert len(tok) == 51 and checksum(tok[:-6]) == tok[-6:]
    # A computed secret is well-formed: the daemon looks it up (UNKNOWN), a broken one is MALFORMED.
    assert plain_daemon.verify(fake("kg_")) == {"valid": False, "code": "UNKNOWN"}
    assert plain_daemon.verify(broken(fake("kg_"))) == {"valid": False, "code": "MALFORMED"}


# --- helpers ---------------------------------------------------------------

def new_key(d, account, name):
    j = json.loads(d.cli("key", "create", account, "--name", name, "--json").stdout)
    return j["id"], j["key"]


def token(d, cid, sec):
    r = d.session().post("http://keygate/oauth/token", data={"grant_type": "client_credentials"},
                         auth=(cid, sec), headers=LOCAL)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def token_status(d, cid, sec):
    return d.session().post("http://keygate/oauth/token", data={"grant_type": "client_credentials"},
                            auth=(cid, sec), headers=LOCAL).status_code


def cli_env(d, **over):
    env = dict(os.environ, KEYGATE_ADMIN_SOCKET=d.admin, KEYGATE_SOCKET=d.service)
    env.update(over)
    return env


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def reported_lines(d):
    return [l for l in open(d.log, encoding="utf-8", errors="replace").read().splitlines() if REPORTED in l]


class Watch:
    """Collects every secret a test handles and every text the daemon or the
    tool answered with, to check at the end that no secret was echoed."""

    def __init__(self, d):
        self.d = d
        self.secrets = []
        self.texts = []

    def know(self, *secrets):
        self.secrets.extend(secrets)
        return secrets[0] if len(secrets) == 1 else secrets

    def leaks(self, secrets=None, dry_run=None, body=None, sock=None):
        if body is None:
            body = {"secrets": secrets}
            if dry_run is not None:
                body["dry_run"] = dry_run
        for s in (secrets or []):
            if isinstance(s, str):
                self.secrets.append(s)
        r = self.d.session(sock or self.d.admin).post(LEAKS, json=body)
        self.texts.append(r.text)
        for k, v in r.headers.items():
            self.texts.append(k + ": " + v)
        return r

    def scan(self, *args, cwd=None, env=None):
        r = subprocess.run([KEYGATE, "scan", *args], env=env or cli_env(self.d), cwd=cwd, capture_output=True,
                           text=True, stdin=subprocess.DEVNULL, timeout=120)
        self.texts += [r.stdout, r.stderr]
        return r

    def assert_nothing_echoed(self):
        log = open(self.d.log, encoding="utf-8", errors="replace").read()
        stored = self.d.written_bytes().decode("latin-1")
        assert self.secrets
        for s in set(self.secrets):
            tail = s[8:]  # everything past the hint, which may be shown
            for where, text in [("log", log), ("database and log files", stored)] + \
                               [("answer %d" % i, t) for i, t in enumerate(self.texts)]:
                assert s not in text and tail not in text and tail[:16] not in text, \
                    "secret %s… appears in %s" % (hint(s), where)


@pytest.fixture
def w(daemon):
    return Watch(daemon)


def lines(text):
    return [l for l in text.splitlines() if l.strip()]


# --- keygate scan ------------------------------------------------------------

def build_tree(d, w, root):
    """A tree with live, dead and unknown secrets plus look-alikes, binary
    files, .git and symbolic links. Returns (expected lines relative to root,
    dict of the secrets)."""
    _, live = new_key(d, "acme", "live")
    dead_id, dead = new_key(d, "acme", "deleted")
    d.cli("key", "delete", "acme", dead_id)
    cid, csec = d.new_client("acme")
    tok = token(d, cid, csec)
    unknown = fake("kg_")
    w.know(live, dead, csec, tok, unknown)
    assert d.verify(live)["valid"] is True and d.verify(tok)["valid"] is True

    write(f"{root}/app.py", "\n".join([
        "import os",
        f'API_KEY = "{live}"',
        f"OLD_KEY = '{dead}'  # rotated",
        f'BROKEN = "{broken(live)}"',
        # Look-alikes built from the live key: glued to a word char before or after,
        # one character too long, the wrong prefix for its checksum, an identifier.
        f"config = kg_config_value; name = my_kg_token; a = x{live}; b = _{live}; c = {live}X; "
        f"d = {live}_; e = kgs_{live[3:]}; f = KG_{live[3:]}; g = kg_{'a' * 46}; h = kg_{live[3:-1]}",
        f'UNKNOWN = "{unknown}"',
        "",
    ]))
    write(f"{root}/Z.md", f"# Notes\n\nThe old key was `{dead}`.\n")
    write(f"{root}/bin.dat", b"\x7fELF\x00\x01\x02" + live.encode() + b"\n" + tok.encode())
    write(f"{root}/.git/config", f"[core]\n  token = {live}\n")
    write(f"{root}/.git/objects/ab/cdef", f"{tok}\n")
    write(f"{root}/sub/a.txt", live)  # at offset 0, no newline at the end
    write(f"{root}/sub/deeper/tokens.env", f"# tokens\r\nTOKEN={tok} CLIENT_SECRET={csec}\r\n")
    write(f"{root}/sub/deeper/nothing.txt", "kg_ kgs_ kgat_ kg_short\n")
    os.symlink(f"{root}/app.py", f"{root}/link.py")
    os.symlink(f"{root}/sub", f"{root}/linkdir")

    expected = [
        f"Z.md:3: api_key {hint(dead)} dead",
        f"app.py:2: api_key {hint(live)} live",
        f"app.py:3: api_key {hint(dead)} dead",
        f"app.py:6: api_key {hint(unknown)} dead",
        f"sub/a.txt:1: api_key {hint(live)} live",
        f"sub/deeper/tokens.env:2: access_token {hint(tok)} live",
        f"sub/deeper/tokens.env:2: client_secret {hint(csec)} live",
    ]
    return expected, dict(live=live, dead=dead, csec=csec, tok=tok, unknown=unknown, cid=cid)


def test_scan_reports_exactly_the_real_secrets_in_walk_order(daemon, w):
    root = os.path.join(daemon.dir, "tree")
    expected, s = build_tree(daemon, w, root)

    # Default path "." from inside the tree: the leading "./" is stripped.
    r = w.scan(cwd=root)
    assert r.returncode == 1, r.stderr
    assert lines(r.stdout) == expected
    # The summary on stderr counts the occurrences and says where liveness came from.
    assert re.search(r"\b7 occurrence\(s\) of \d+ secret\(s\), 3 of them live", r.stderr) and "admin socket" in r.stderr, r.stderr

    # An absolute path: every file is named under it.
    r = w.scan(root)
    assert r.returncode == 1, r.stderr
    assert lines(r.stdout) == [root + "/" + l for l in expected]

    # Several paths, a file given directly, a symlink given on the command line is followed.
    r = w.scan("sub/a.txt", "link.py", cwd=root)
    assert r.returncode == 1, r.stderr
    assert lines(r.stdout) == [f"sub/a.txt:1: api_key {hint(s['live'])} live"] + \
        [l.replace("app.py", "link.py", 1) for l in expected if l.startswith("app.py")]

    # --json: the same findings, structured.
    r = w.scan("--json", cwd=root)
    assert r.returncode == 1, r.stderr
    j = json.loads(r.stdout)
    got = ["%s:%d: %s %s %s" % (f["file"], f["line"], f["kind"], f["hint"], f["status"]) for f in j["findings"]]
    assert got == expected
    assert set(j["findings"][0]) == {"file", "line", "kind", "hint", "status"}
    assert "liveness" in j and "reported" not in j

    # Scanning changed nothing.
    assert daemon.verify(s["live"])["valid"] is True
    assert daemon.verify(s["tok"])["valid"] is True
    assert reported_lines(daemon) == []
    w.assert_nothing_echoed()


def test_scan_revoke_ends_live_secrets_and_a_second_scan_sees_them_dead(daemon, w):
    root = os.path.join(daemon.dir, "tree")
    expected, s = build_tree(daemon, w, root)
    # A rolled key's old secret, still in its grace, is live too.
    rid, old = new_key(daemon, "rolled", "r")
    rolled = json.loads(daemon.cli("key", "roll", "rolled", rid, "--grace", "24h", "--json").stdout)
    new = w.know(rolled["key"])
    w.know(old)
    write(f"{root}/sub/deeper/zz.yaml", f"key: {old}\n")
    expected.append(f"sub/deeper/zz.yaml:1: api_key {hint(old)} live")
    # A second token of the same pair, not in the tree: it must keep working.
    other_tok = w.know(token(daemon, s["cid"], s["csec"]))

    r = w.scan("--revoke", cwd=root)
    assert r.returncode == 1, r.stderr  # live secrets were found, even though they are now ended
    out = lines(r.stdout)
    assert out[:len(expected)] == expected
    # One line per distinct live secret, in the order first met.
    assert out[len(expected):] == [
        f"reported api_key {hint(s['live'])} of acme: deleted",
        f"reported access_token {hint(s['tok'])} of acme: revoked",
        f"reported client_secret {hint(s['csec'])} of acme: reported",
        f"reported api_key {hint(old)} of rolled: revoked",
    ]

    assert daemon.verify(s["live"]) == {"valid": False, "code": "UNKNOWN"}
    assert daemon.verify(s["tok"]) == {"valid": False, "code": "REVOKED"}
    assert daemon.introspect(s["tok"]) == {"active": False}
    assert daemon.verify(old)["valid"] is False
    v = daemon.verify(new)
    assert v["valid"] is True and v["key_id"] == rid
    # The client secret was only reported: the pair still issues tokens, its other token still works.
    assert token_status(daemon, s["cid"], s["csec"]) == 200
    assert daemon.verify(other_tok)["valid"] is True
    keys = json.loads(daemon.cli("key", "list", "acme", "--json").stdout)["keys"]
    assert hint(s["live"]) not in [k["hint"] for k in keys]

    # One audit line per secret acted on, naming hint and account, never the secret.
    audit = reported_lines(daemon)
    assert len(audit) == 4, audit
    for h, account in [(s["live"], "acme"), (s["tok"], "acme"), (s["csec"], "acme"), (old, "rolled")]:
        assert any(f"hint={hint(h)}" in l and f"account={account}" in l for l in audit), (hint(h), audit)

    # Scanning again: the ended ones are dead, the client secret is still live (exit 1).
    r = w.scan(cwd=root)
    assert r.returncode == 1, r.stderr
    again = [l.replace(" live", " dead") if "client_secret" not in l else l for l in expected]
    assert lines(r.stdout) == again

    # --revoke --json now reports only the client secret, again.
    r = w.scan("--revoke", "--json", cwd=root)
    assert r.returncode == 1, r.stderr
    j = json.loads(r.stdout)
    assert [f["status"] for f in j["findings"]] == [l.rsplit(" ", 1)[1] for l in again]
    assert [(x["kind"], x["hint"], x["account"], x["action"]) for x in j["reported"]] == \
        [("client_secret", hint(s["csec"]), "acme", "reported")]
    assert j["reported"][0]["client_id"] == s["cid"]
    assert token_status(daemon, s["cid"], s["csec"]) == 200
    w.assert_nothing_echoed()


def test_scan_clean_tree_offline_unreadable_path_and_unreachable_daemon(daemon, w):
    clean = os.path.join(daemon.dir, "clean")
    _, live = new_key(daemon, "acme", "k")
    w.know(live)
    write(f"{clean}/a.py", f"x = 'kg_config_value'\nbad = '{broken(live)}'\nglued = 'x{live}'\n")
    write(f"{clean}/b.bin", b"\x00" + live.encode())
    write(f"{clean}/.git/HEAD", live)
    r = w.scan(clean)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""
    # No candidates: the daemon is not needed, exit 0 even when it cannot be reached.
    r = w.scan(clean, env=cli_env(daemon, KEYGATE_ADMIN_SOCKET="/nonexistent/a.sock",
                                  KEYGATE_SOCKET="/nonexistent/s.sock"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""

    dirty = os.path.join(daemon.dir, "dirty")
    dead = fake("kgat_")
    w.know(dead)
    write(f"{dirty}/k.txt", f"one {live}\ntwo {dead}\n")
    # --offline asks no daemon: every finding is unknown, and exit 1 because one was found.
    r = w.scan("--offline", dirty, env=cli_env(daemon, KEYGATE_ADMIN_SOCKET="/nonexistent/a.sock",
                                                KEYGATE_SOCKET="/nonexistent/s.sock"))
    assert r.returncode == 1, r.stderr
    assert lines(r.stdout) == [f"{dirty}/k.txt:1: api_key {hint(live)} unknown",
                               f"{dirty}/k.txt:2: access_token {hint(dead)} unknown"]
    r = w.scan("--offline", clean)
    assert r.returncode == 0 and r.stdout.strip() == ""

    # Candidates but no daemon: exit 3.
    r = w.scan(dirty, env=cli_env(daemon, KEYGATE_ADMIN_SOCKET="/nonexistent/a.sock",
                                  KEYGATE_SOCKET="/nonexistent/s.sock"))
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)

    # A path on the command line that cannot be read: exit 2, naming it.
    missing = os.path.join(daemon.dir, "no-such-dir")
    r = w.scan(clean, missing)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert missing in r.stderr
    os.symlink(os.path.join(daemon.dir, "gone"), os.path.join(daemon.dir, "dangling"))
    r = w.scan(os.path.join(daemon.dir, "dangling"))
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)

    assert daemon.verify(live)["valid"] is True
    w.assert_nothing_echoed()


def test_scan_file_filters_and_word_boundaries(daemon, w):
    root = os.path.join(daemon.dir, "filters")
    k = [w.know(fake("kg_")) for _ in range(9)]
    s = w.know(fake("kgs_"))
    # Binary sniffing looks at the first 8 KiB only.
    write(f"{root}/late_nul.bin", b"a" * 9000 + b"\x00\n" + k[0].encode() + b"\n")
    write(f"{root}/early_nul.bin", b"a" * 8000 + b"\x00\n" + k[1].encode() + b"\n")
    # Over 10 MiB is skipped; exactly 10 MiB is read.
    big = k[2].encode() + b"\n"
    write(f"{root}/big.txt", big + b"a" * (10 * 1024 * 1024 + 1 - len(big)))
    ten = k[3].encode() + b"\n"
    write(f"{root}/ten.txt", ten + b"a" * (10 * 1024 * 1024 - len(ten)))
    # Boundaries: punctuation and non-ASCII bytes around a secret are not word characters.
    write(f"{root}/words.txt", f"-{k[4]}-é{k[5]}é\n_{k[6]} {k[7]}_ {k[7]}{k[8]}\n\n{s}.{s}")
    r = w.scan("--offline", cwd=root)
    assert r.returncode == 1, r.stderr
    assert lines(r.stdout) == [
        f"late_nul.bin:2: api_key {hint(k[0])} unknown",
        f"ten.txt:1: api_key {hint(k[3])} unknown",
        f"words.txt:1: api_key {hint(k[4])} unknown",
        f"words.txt:1: api_key {hint(k[5])} unknown",
        f"words.txt:4: client_secret {hint(s)} unknown",
        f"words.txt:4: client_secret {hint(s)} unknown",
    ]
    w.assert_nothing_echoed()


def test_scan_checks_more_secrets_than_one_leaks_request_holds(daemon, w):
    root = os.path.join(daemon.dir, "many")
    kid, live = new_key(daemon, "acme", "needle")
    w.know(live)
    unknown = [fake("kg_") for _ in range(1500)]
    w.know(*unknown)
    write(f"{root}/many.txt", "\n".join(unknown[:700] + [live] + unknown[700:]) + "\n")
    r = w.scan(root)
    assert r.returncode == 1, r.stderr
    out = lines(r.stdout)
    assert len(out) == 1501
    assert out[700] == f"{root}/many.txt:701: api_key {hint(live)} live"
    assert all(l.endswith(" dead") for i, l in enumerate(out) if i != 700)
    assert out[1500] == f"{root}/many.txt:1501: api_key {hint(unknown[-1])} dead"
    assert daemon.verify(live)["valid"] is True
    w.assert_nothing_echoed()


def test_scan_falls_back_to_introspection_without_the_admin_socket(daemon, w):
    root = os.path.join(daemon.dir, "tree")
    expected, s = build_tree(daemon, w, root)
    csec_unknown = w.know(fake("kgs_"))
    write(f"{root}/sub/deeper/zz.txt", csec_unknown + "\n")
    env = cli_env(daemon, KEYGATE_ADMIN_SOCKET=os.path.join(daemon.dir, "no-admin.sock"))
    r = w.scan(cwd=root, env=env)
    assert r.returncode == 1, r.stderr
    want = [l.replace(" live", " unknown") if "client_secret" in l else l for l in expected]
    want.append(f"sub/deeper/zz.txt:1: client_secret {hint(csec_unknown)} unknown")
    assert lines(r.stdout) == want
    assert "introspect" in r.stderr, r.stderr
    # Introspection answers dead for a revoked token, too.
    daemon.cli("tokens", "revoke", "acme")
    r = w.scan("sub", cwd=root, env=env)
    assert lines(r.stdout) == [
        f"sub/a.txt:1: api_key {hint(s['live'])} live",
        f"sub/deeper/tokens.env:2: access_token {hint(s['tok'])} dead",
        f"sub/deeper/tokens.env:2: client_secret {hint(s['csec'])} unknown",
        f"sub/deeper/zz.txt:1: client_secret {hint(csec_unknown)} unknown",
    ]
    assert r.returncode == 1
    assert daemon.verify(s["live"])["valid"] is True
    assert reported_lines(daemon) == []
    w.assert_nothing_echoed()


# --- POST /v1/leaks ----------------------------------------------------------

def test_leaks_every_kind_dry_run_then_for_real(daemon, w):
    d = daemon
    kid, key = new_key(d, "acme", "leaked")
    kid2, kept = new_key(d, "acme", "kept")
    cid, csec = d.new_client("acme")
    tok = token(d, cid, csec)
    tok2 = token(d, cid, csec)
    # Dead ones: a deleted key, a replaced pair's old secret, an expired token.
    did, deleted = new_key(d, "acme", "gone")
    d.cli("key", "delete", "acme", did)
    bcid, old_bsec = d.new_client("beta")
    d.new_client("beta")
    scid, ssec = d.new_client("short-acme")
    expired = token(d, scid, ssec)
    w.know(kept, tok2, ssec)
    unknown_k, unknown_s, unknown_t = fake("kg_"), fake("kgs_"), fake("kgat_")
    body = [key, tok, csec, unknown_k, unknown_s, unknown_t, key, deleted, old_bsec]
    want = [
        ("kg_", "api_key", "acme", "deleted", {"key_id": kid}),
        ("kgat_", "access_token", "acme", "revoked", {"client_id": cid}),
        ("kgs_", "client_secret", "acme", "reported", {"client_id": cid}),
        ("kg_", "api_key", None, "none", {}),
        ("kgs_", "client_secret", None, "none", {}),
        ("kgat_", "access_token", None, "none", {}),
        ("kg_", "api_key", "acme", "deleted", {"key_id": kid}),  # a duplicate gets the same answer
        ("kg_", "api_key", None, "none", {}),
        ("kgs_", "client_secret", None, "none", {}),
    ]

    def check(results):
        assert len(results) == len(body)
        for secret, res, (_, kind, account, action, extra) in zip(body, results, want):
            assert res["hint"] == hint(secret)
            assert (res["kind"], res["account"], res["action"]) == (kind, account, action), res
            for k, v in extra.items():
                assert res[k] == v, res
            assert set(res) <= {"hint", "kind", "account", "action", "key_id", "client_id"}, res

    r = w.leaks(body, dry_run=True)
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is True
    check(r.json()["results"])
    # The dry run changed nothing and logged no report.
    assert d.verify(key)["valid"] is True
    assert d.verify(tok)["valid"] is True
    assert token_status(d, cid, csec) == 200
    assert reported_lines(d) == []

    time.sleep(2.2)  # the short-* policy's tokens live 2 s
    r = w.leaks([expired], dry_run=True)
    assert r.status_code == 200 and r.json()["results"][0]["action"] == "none", r.text

    r = w.leaks(body)  # dry_run omitted means false
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is False
    check(r.json()["results"])
    assert d.verify(key) == {"valid": False, "code": "UNKNOWN"}
    assert d.verify(tok) == {"valid": False, "code": "REVOKED"}
    assert d.introspect(tok) == {"active": False}
    # Only what was listed: the other key and the pair's other token still work; the pair still issues.
    assert d.verify(kept)["valid"] is True
    assert d.verify(tok2)["valid"] is True
    assert token_status(d, cid, csec) == 200
    assert json.loads(d.cli("client", "show", "acme", "--json").stdout)["client_id"] == cid
    audit = reported_lines(d)
    for secret in (key, tok, csec):
        assert any(f"hint={hint(secret)}" in l and "account=acme" in l for l in audit), (hint(secret), audit)
    assert not any(hint(x) in l for x in (unknown_k, unknown_s, unknown_t, deleted, old_bsec) for l in audit)

    # Sent again: the key and the token are dead now, the client secret is still live.
    r = w.leaks([key, tok, csec], dry_run=False)
    assert [x["action"] for x in r.json()["results"]] == ["none", "none", "reported"], r.text
    w.assert_nothing_echoed()


def test_leaks_distinct_secrets_one_audit_line_each(daemon, w):
    d = daemon
    _, k1 = new_key(d, "acme", "one")
    _, k2 = new_key(d, "other", "two")
    cid, csec = d.new_client("third")
    t = token(d, cid, csec)
    r = w.leaks([k1, fake("kg_"), k2, t, csec])
    assert r.status_code == 200, r.text
    assert [x["action"] for x in r.json()["results"]] == ["deleted", "none", "deleted", "revoked", "reported"]
    audit = reported_lines(d)
    assert len(audit) == 4, audit
    for line, (secret, account) in zip(audit, [(k1, "acme"), (k2, "other"), (t, "third"), (csec, "third")]):
        assert f"hint={hint(secret)}" in line and f"account={account}" in line, line
    w.assert_nothing_echoed()


def test_leaks_rolled_key_old_secret_in_grace_is_revoked(daemon, w):
    d = daemon
    kid, old = new_key(d, "acme", "rolling")
    rolled = json.loads(d.cli("key", "roll", "acme", kid, "--grace", "24h", "--json").stdout)
    new = rolled["key"]
    w.know(old, new)
    assert rolled["id"] == kid and rolled["previous_hint"] == hint(old)
    assert d.verify(old)["valid"] is True and d.verify(new)["valid"] is True

    r = w.leaks([old], dry_run=True)
    assert r.status_code == 200, r.text
    res = r.json()["results"][0]
    assert (res["hint"], res["kind"], res["account"], res["action"], res["key_id"]) == \
        (hint(old), "api_key", "acme", "revoked", kid)
    assert d.verify(old)["valid"] is True

    r = w.leaks([old])
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["action"] == "revoked"
    assert d.verify(old)["valid"] is False
    v = d.verify(new)
    assert v["valid"] is True and v["key_id"] == kid
    keys = json.loads(d.cli("key", "list", "acme", "--json").stdout)["keys"]
    assert [(k["id"], k["hint"], k["rolling_until"]) for k in keys] == [(kid, hint(new), None)]
    assert any(f"hint={hint(old)}" in l and "account=acme" in l for l in reported_lines(d))
    # The old secret is dead now; the new one, when leaked, deletes the key.
    r = w.leaks([old, new])
    assert [x["action"] for x in r.json()["results"]] == ["none", "deleted"], r.text
    assert d.verify(new) == {"valid": False, "code": "UNKNOWN"}
    w.assert_nothing_echoed()


def test_leaks_a_thousand_secrets_answer_in_order(daemon, w):
    d = daemon
    live = {}
    for pos in (0, 1, 333, 998, 999):
        live[pos] = new_key(d, "acme", "k%d" % pos)
    body = []
    for i in range(1000):
        body.append(live[i][1] if i in live else fake(("kg_", "kgs_", "kgat_")[i % 3]))
    r = w.leaks(body, dry_run=True)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 1000
    assert [x["hint"] for x in results] == [hint(s) for s in body]
    assert all(d.verify(live[p][1])["valid"] for p in live)

    r = w.leaks(body)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 1000
    assert [x["hint"] for x in results] == [hint(s) for s in body]
    for i, x in enumerate(results):
        if i in live:
            assert (x["action"], x["account"], x["key_id"]) == ("deleted", "acme", live[i][0]), (i, x)
        else:
            assert (x["action"], x["account"]) == ("none", None), (i, x)
            assert x["kind"] == ("api_key", "client_secret", "access_token")[i % 3]
    assert all(d.verify(live[p][1]) == {"valid": False, "code": "UNKNOWN"} for p in live)
    assert len(reported_lines(d)) == 5
    w.assert_nothing_echoed()


def test_leaks_malformed_bodies_are_refused_and_change_nothing(daemon, w):
    d = daemon
    kid, key = new_key(d, "acme", "k")
    cid, csec = d.new_client("acme")
    tok = token(d, cid, csec)
    good = [key, tok, csec]

    def refused(body, *needles):
        r = w.leaks(body=body)
        assert r.status_code == 400, (body if not isinstance(body, dict) else list(body), r.text)
        j = r.json()
        assert j["error"] == "invalid_request", r.text
        assert j["error_description"].startswith("leaks:"), r.text
        for n in needles:
            assert n in j["error_description"], (n, r.text)
        return j["error_description"]

    w.know(*good)
    bad_sum = w.know(broken(fake("kg_")))
    msg = refused({"secrets": good + [bad_sum]}, "secrets[3]", "checksum", "nothing was changed")
    assert "not a Keygate secret" in msg
    wrong_prefix = w.know("kx_" + key[3:])
    refused({"secrets": [wrong_prefix] + good}, "secrets[0]", "nothing was changed")
    refused({"secrets": [key, tok, key + "A", csec]}, "secrets[2]")
    refused({"secrets": [key, csec[:-1]]}, "secrets[1]")
    refused({"secrets": [key, "kg_" + key[3:-1] + "!"]}, "secrets[1]")
    refused({"secrets": [key, " " + tok]}, "secrets[1]")
    refused({"secrets": [key, ""]}, "secrets[1]")
    refused({"secrets": [tok, csec, key, 12345]}, "secrets[3]", "string", "nothing was changed")
    refused({"secrets": [key, None]}, "secrets[1]", "string")
    refused({"secrets": [key, [tok]]}, "secrets[1]", "string")
    refused({"dry_run": False}, "secrets")
    refused({"secrets": []}, "secrets")
    many = [fake("kg_") for _ in range(1000)] + [key]
    w.know(*many)
    refused({"secrets": many}, "1001")
    refused({"secrets": good, "force": True}, "force")
    refused({"secrets": key}, "secrets")
    refused({"secrets": good, "dry_run": "no"}, "dry_run")
    # Malformed at the very end of a full, valid-looking body.
    full = [key, tok, csec] + [fake("kgat_") for _ in range(996)] + [broken(key)]
    w.know(*full)
    refused({"secrets": full}, "secrets[999]")
    r = d.session(d.admin).post(LEAKS, data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = d.session(d.admin).post(LEAKS, json=good)
    assert r.status_code == 400
    w.texts.append(r.text)

    # Nothing was revoked, deleted or logged as reported.
    assert d.verify(key)["valid"] is True
    assert d.verify(tok)["valid"] is True
    assert token_status(d, cid, csec) == 200
    assert reported_lines(d) == []
    # The leaks endpoint lives on the admin socket only.
    r = w.leaks(good, sock=d.service)
    assert r.status_code == 404, r.text
    assert d.verify(key)["valid"] is True
    w.assert_nothing_echoed()


# --- access.admin --------------------------------------------------------------

ACCESS = """access:
  admin: [root]
  manage: ["user:nobody"]
  verify: [root, "user:nobody"]
"""


@pytest.fixture
def shared_daemon():
    d = Keygated()
    text = open(d.config).read().replace("listen:\n", "listen:\n  service_mode: \"0666\"\n  admin_mode: \"0666\"\n", 1)
    open(d.config, "w").write(text + ACCESS)
    os.chmod(d.dir, 0o711)  # others may reach the sockets
    d.start()
    yield d
    d.cleanup()


def as_nobody(*args, env=None):
    pw = pwd.getpwnam("nobody")
    return subprocess.run(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", *args],
                          env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)


def test_leaks_needs_access_admin_and_scan_falls_back_for_a_manage_peer(shared_daemon):
    d = shared_daemon
    w = Watch(d)
    kid, key = new_key(d, "acme", "k")
    cid, csec = d.new_client("acme")
    tok = token(d, cid, csec)
    w.know(key, tok, csec)
    nobody = pwd.getpwnam("nobody").pw_uid

    # A manage-only peer may not report leaks, not even as a dry run.
    for dry in ("true", "false"):
        r = as_nobody("curl", "-s", "-S", "-i", "--unix-socket", d.admin, "-X", "POST",
                      "-H", "Content-Type: application/json",
                      "-d", '{"secrets":["%s","%s","%s"],"dry_run":%s}' % (key, tok, csec, dry),
                      "http://keygate/v1/leaks")
        head, _, body = r.stdout.partition("\n\n")
        w.texts += [r.stdout, r.stderr]
        assert head.split(" ")[1] == "403", r.stdout
        j = json.loads(body)
        assert j["error"] == "forbidden" and "access.admin" in j["error_description"], body
        assert f"uid {nobody}" in j["error_description"]
    assert d.verify(key)["valid"] is True
    assert d.verify(tok)["valid"] is True

    # Its scan finds the admin socket refusing and asks /oauth/introspect instead.
    root = os.path.join(d.dir, "tree")
    write(f"{root}/secrets.txt", f"{key}\n{tok}\n{csec}\n")
    os.chmod(root, 0o755)
    os.chmod(f"{root}/secrets.txt", 0o644)
    env = cli_env(d)
    r = as_nobody(KEYGATE, "scan", root, env=env)
    w.texts += [r.stdout, r.stderr]
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert lines(r.stdout) == [f"{root}/secrets.txt:1: api_key {hint(key)} live",
                               f"{root}/secrets.txt:2: access_token {hint(tok)} live",
                               f"{root}/secrets.txt:3: client_secret {hint(csec)} unknown"]
    # --revoke needs access.admin: the findings still print (from introspection),
    # the report is refused (exit 1, not 3: the daemon answered), and nothing is ended.
    r = as_nobody(KEYGATE, "scan", "--revoke", root, env=env)
    w.texts += [r.stdout, r.stderr]
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert len(lines(r.stdout)) == 3
    assert "access.admin" in r.stderr, r.stderr
    assert d.verify(key)["valid"] is True
    assert d.verify(tok)["valid"] is True
    assert reported_lines(d) == []

    # root, in access.admin, may.
    r = w.leaks([key, tok, csec])
    assert r.status_code == 200, r.text
    assert [x["action"] for x in r.json()["results"]] == ["deleted", "revoked", "reported"]
    w.assert_nothing_echoed()


def test_the_readmes_pre_commit_hook_scans_what_is_staged(plain_daemon):
    """The hook exactly as the README shows it, in a real git repository: a
    live key staged and then removed from the working file still stops the commit."""
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    hook = re.search(r"As a \*\*pre-commit hook\*\*.*?```sh\n(.*?)```", readme, re.S).group(1)
    d = plain_daemon
    key = json.loads(d.cli("key", "create", "acme", "--name", "hooked", "--json").stdout)["key"]
    repo = os.path.join(d.dir, "repo")
    os.makedirs(repo)
    env = dict(os.environ, KEYGATE_ADMIN_SOCKET=d.admin, KEYGATE_SOCKET=d.service,
               PATH=os.path.dirname(KEYGATE) + ":" + os.environ["PATH"],
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, env=env, capture_output=True, text=True)
    assert git("init", "-q").returncode == 0
    with open(os.path.join(repo, ".git", "hooks", "pre-commit"), "w") as f:
        f.write(hook)
    os.chmod(os.path.join(repo, ".git", "hooks", "pre-commit"), 0o755)
    with open(os.path.join(repo, "app.env"), "w") as f:
        f.write(f"API_KEY={key}\n")
    git("add", "app.env")
    with open(os.path.join(repo, "app.env"), "w") as f:
        f.write("API_KEY=\n")
    r = git("commit", "-q", "-m", "leak")
    assert r.returncode != 0, r.stdout + r.stderr
    assert f"app.env:1: api_key {key[:8]} live" in r.stdout + r.stderr
    assert key not in r.stdout + r.stderr
    git("add", "app.env")
    r = git("commit", "-q", "-m", "clean")
    assert r.returncode == 0, r.stdout + r.stderr
