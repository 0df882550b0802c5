"""Key roll and usage (SPEC 12) against the real keygated: rolls with and
without a grace, across a SIGKILL, and usage counts that match a known
sequence of verifications exactly, across a restart."""
import datetime
import json
import signal
import sqlite3
import time

from conftest import Keygated
from test_oauth_clients import LOCAL, TOKEN_URL, oauthlib_session


def create(d, account, name, *extra):
    return json.loads(d.cli("key", "create", account, "--name", name, "--json", *extra).stdout)


def roll(d, account, key_id, *extra):
    return json.loads(d.cli("key", "roll", account, key_id, "--json", *extra).stdout)


def listed(d, account, key_id):
    keys = json.loads(d.cli("key", "list", account, "--json").stdout)["keys"]
    return next(k for k in keys if k["id"] == key_id)


def test_a_roll_keeps_id_name_and_restrictions_and_shows_the_new_secret_once(plain_daemon):
    d = plain_daemon
    k = create(d, "acme", "CRM sync", "--allow-ip", "203.0.113.7")
    r = roll(d, "acme", k["id"], "--grace", "1h")
    assert (r["id"], r["name"], r["allow_ips"]) == (k["id"], "CRM sync", ["203.0.113.7"])
    assert r["key"] != k["key"] and r["key"].startswith("kg_") and len(r["key"]) == 49
    assert r["hint"] == r["key"][:8] and r["previous_hint"] == k["key"][:8]
    assert r["rolling_until"] == r["previous_accepted_until"]
    until = datetime.datetime.strptime(r["rolling_until"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    left = (until - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 3599 <= left <= 3601.5, left
    assert d.verify(k["key"], ip="203.0.113.7")["valid"] is True
    assert d.verify(r["key"], ip="203.0.113.7")["valid"] is True
    assert d.verify(r["key"], ip="198.51.100.1") == {"valid": False, "code": "IP_NOT_ALLOWED"}
    shown = listed(d, "acme", k["id"])
    assert shown["rolling_until"] == r["rolling_until"] and shown["hint"] == r["hint"]
    # The list, the table and the log never hold either secret.
    table = d.cli("key", "list", "acme").stdout
    assert "OLD SECRET UNTIL" in table
    for text in (json.dumps(shown), table, open(d.log).read()):
        assert k["key"] not in text and r["key"] not in text
    assert "key rolled" in open(d.log).read()
    human = d.cli("key", "roll", "acme", k["id"]).stdout
    assert "refused from now on" in human


def test_without_a_grace_the_old_secret_is_refused_when_the_roll_is_answered(plain_daemon):
    d = plain_daemon
    k = create(d, "acme", "ci")
    assert d.verify(k["key"])["valid"] is True
    r = roll(d, "acme", k["id"])
    assert d.verify(k["key"]) == {"valid": False, "code": "REVOKED"}
    assert d.introspect(k["key"]) == {"active": False}
    assert d.verify(r["key"])["valid"] is True
    assert listed(d, "acme", k["id"])["rolling_until"] is None


def test_the_old_secret_works_through_a_1s_grace_and_is_refused_right_after(plain_daemon):
    d = plain_daemon
    k = create(d, "acme", "ci")
    r = roll(d, "acme", k["id"], "--grace", "1s")
    # The overlap is at least the grace (whole seconds, rounded up): valid now...
    assert d.verify(k["key"])["valid"] is True
    assert d.introspect(k["key"])["active"] is True
    # ...and refused within two seconds, whether or not the sweep ran (it runs every 60 s here).
    deadline = time.monotonic() + 2.2
    while d.verify(k["key"])["valid"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert d.verify(k["key"]) == {"valid": False, "code": "REVOKED"}
    assert d.verify(r["key"])["valid"] is True
    assert listed(d, "acme", k["id"])["rolling_until"] is None


def test_a_second_roll_during_a_grace_ends_the_first_old_secret_at_once(plain_daemon):
    d = plain_daemon
    k = create(d, "acme", "ci")
    r1 = roll(d, "acme", k["id"], "--grace", "1h")
    r2 = roll(d, "acme", k["id"], "--grace", "1h")
    assert d.verify(k["key"]) == {"valid": False, "code": "UNKNOWN"}
    assert d.verify(r1["key"])["valid"] is True
    assert d.verify(r2["key"])["valid"] is True
    assert r2["previous_hint"] == r1["hint"]


def test_roll_errors_change_nothing(plain_daemon):
    d = plain_daemon
    k = create(d, "acme", "ci")
    for args, status, text in [
        (["key", "roll", "acme", k["id"], "--grace", "31d"], 1, "out of range"),
        (["key", "roll", "acme", k["id"], "--grace", "soon"], 1, "'soon'"),
        (["key", "roll", "acme", "key_0000000000000000"], 1, "has no key"),
        (["key", "roll", "other", k["id"]], 1, "has no key"),
        (["key", "roll", "acme", "nope"], 2, "not a key id"),
    ]:
        r = d.cli(*args, check=False)
        assert r.returncode == status, (args, r.stderr)
        assert text in r.stderr, (args, r.stderr)
    assert d.verify(k["key"])["valid"] is True
    s = d.session(d.admin)
    bad = s.post(f"http://keygate/v1/accounts/acme/keys/{k['id']}/roll", json={"grace": "1h", "extra": 1})
    assert bad.status_code == 400 and "unknown field 'extra'" in bad.json()["error_description"]
    ok = s.post(f"http://keygate/v1/accounts/acme/keys/{k['id']}/roll")
    assert ok.status_code == 201 and ok.headers["Cache-Control"] == "no-store"


def test_the_new_secret_survives_a_sigkill_and_the_grace_with_it(plain_daemon):
    d = plain_daemon
    k = create(d, "acme", "ci")
    r = roll(d, "acme", k["id"], "--grace", "1h")
    d.stop(signal.SIGKILL)
    d.start()
    assert d.verify(r["key"])["valid"] is True
    assert d.verify(k["key"])["valid"] is True
    assert listed(d, "acme", k["id"])["rolling_until"] == r["rolling_until"]
    db = sqlite3.connect(d.db)
    stored = db.execute("SELECT hex(digest), hex(previous_digest) FROM api_keys").fetchall()
    db.close()
    assert len(stored) == 1
    for secret in (k["key"], r["key"]):
        assert secret.encode().hex().upper() not in repr(stored)


def usage(d, *args):
    return json.loads(d.cli(*args, "--json").stdout)


def today():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


def test_usage_counts_a_known_sequence_exactly_and_survives_a_restart(daemon):
    d = daemon
    open_key = create(d, "acme", "open")
    office = create(d, "acme", "office", "--allow-ip", "10.1.2.3")
    for _ in range(7):
        assert d.verify(open_key["key"])["valid"] is True
    for _ in range(3):
        assert d.verify(office["key"], ip="10.1.2.3")["valid"] is True
    for _ in range(4):
        assert d.verify(office["key"], ip="192.0.2.9")["code"] == "IP_NOT_ALLOWED"
    # Not charged to any key: a typo and an unknown secret.
    assert d.verify(open_key["key"][:-1] + ("A" if open_key["key"][-1] != "A" else "B"))["code"] == "MALFORMED"
    auth = d.session().get("http://keygate/v1/auth", headers={"X-API-Key": open_key["key"], "X-Real-IP": "127.0.0.1"})
    assert auth.status_code == 204

    u = usage(d, "key", "usage", "acme", open_key["id"])
    assert u["key_id"] == open_key["id"] and u["account"] == "acme" and u["to"] == today()
    assert u["days"] == [{"date": today(), "valid": 8, "refused": {}}]
    u = usage(d, "key", "usage", "acme", office["id"])
    assert u["days"] == [{"date": today(), "valid": 3, "refused": {"IP_NOT_ALLOWED": 4}}]
    table = d.cli("key", "usage", "acme", office["id"]).stdout
    assert today() in table and "IP_NOT_ALLOWED 4" in table

    cid, secret = d.new_client("acme")
    s = oauthlib_session(d, cid)
    tokens = [s.fetch_token(TOKEN_URL, client_id=cid, client_secret=secret, headers=LOCAL)["access_token"] for _ in range(2)]
    for t in tokens:
        assert d.verify(t)["valid"] is True
    d.cli("tokens", "revoke", "acme")
    assert d.verify(tokens[0])["code"] == "REVOKED"
    c = usage(d, "client", "usage", "acme")
    assert c["client_id"] == cid
    assert c["days"] == [{"date": today(), "valid": 2, "refused": {"REVOKED": 1}, "tokens_issued": 2}]

    # A restart keeps every count (SIGTERM writes what is held in memory).
    d.stop()
    d.start()
    assert usage(d, "key", "usage", "acme", office["id"])["days"] == [{"date": today(), "valid": 3, "refused": {"IP_NOT_ALLOWED": 4}}]
    assert usage(d, "client", "usage", "acme")["days"][0]["tokens_issued"] == 2
    assert d.verify(office["key"], ip="10.1.2.3")["valid"] is True
    assert usage(d, "key", "usage", "acme", office["id"])["days"][0]["valid"] == 4

    # Deleting a key deletes its usage.
    d.cli("key", "delete", "acme", office["id"])
    db = sqlite3.connect(d.db)
    subjects = [r[0] for r in db.execute("SELECT DISTINCT subject FROM usage_counts")]
    db.close()
    assert "key:" + office["id"] not in subjects
    assert "key:" + open_key["id"] in subjects
    gone = d.cli("key", "usage", "acme", office["id"], check=False)
    assert gone.returncode == 1 and "has no key" in gone.stderr


def test_usage_is_written_in_batches_not_per_verification(plain_daemon):
    d = plain_daemon
    k = create(d, "acme", "hot")
    for _ in range(200):
        assert d.verify(k["key"])["valid"] is True
    # Nothing reaches the disk on the verification path; the usage timer writes the batch.
    u = usage(d, "key", "usage", "acme", k["id"])
    assert u["days"][0]["valid"] == 200
    db = sqlite3.connect(d.db)
    deadline = time.monotonic() + 10
    stored = 0
    while time.monotonic() < deadline:
        row = db.execute("SELECT coalesce(sum(count), 0) FROM usage_counts WHERE subject = ?", ("key:" + k["id"],)).fetchone()
        stored = row[0]
        if stored == 200:
            break
        time.sleep(0.2)
    db.close()
    assert stored == 200


def test_usage_errors(plain_daemon):
    d = plain_daemon
    r = d.cli("client", "usage", "acme", check=False)
    assert r.returncode == 1 and "has no client credentials" in r.stderr
    r = d.cli("key", "usage", "acme", "key_0000000000000000", check=False)
    assert r.returncode == 1 and "has no key" in r.stderr
    k = create(d, "acme", "quiet")
    assert "no use of key" in d.cli("key", "usage", "acme", k["id"]).stdout
    assert usage(d, "key", "usage", "acme", k["id"])["days"] == []
