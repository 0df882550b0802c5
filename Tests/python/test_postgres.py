"""Several hosts on one PostgreSQL database (SPEC 11): three real keygated on
the private cluster that Tests/system/with-postgres.sh starts."""
import calendar
import concurrent.futures
import json
import os
import random
import signal
import string
import subprocess
import time

import pytest

from conftest import KEYGATED, Keygated

PG_DIR = os.environ.get("KEYGATE_TEST_PG_DIR")
PG_BIN = os.environ.get("KEYGATE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin")
pytestmark = pytest.mark.skipif(not PG_DIR, reason="needs the private PostgreSQL cluster: run through Tests/system/with-postgres.sh (make test does)")


def psql(sql, db="postgres"):
    r = subprocess.run(["psql", "-h", PG_DIR, "-U", "postgres", "-d", db, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def new_database():
    name = "kg_" + "".join(random.choice(string.ascii_lowercase) for _ in range(12))
    psql(f"CREATE DATABASE {name}")
    return name


def storage(db, extra=""):
    return f'storage:\n  backend: postgres\n  url: "postgresql://postgres@/{db}?host={PG_DIR}"\n{extra}'


def pg_ctl(action):
    run = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    extra = ["-o", f"-k {PG_DIR} -c listen_addresses='' -c max_connections=200"] if action == "start" else ["-m", "fast"]
    r = subprocess.run(run + [f"{PG_BIN}/pg_ctl", "-D", f"{PG_DIR}/data", "-l", f"{PG_DIR}/server.log", "-w", *extra, action],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture
def hosts():
    db = new_database()
    hs = [Keygated("policies:\n  default:\n    max_keys: 5\n", storage=storage(db)) for _ in range(3)]
    for h in hs:
        h.start()
    yield hs, db
    for h in hs:
        h.cleanup()


def create_key(h, account, name, *extra):
    r = h.cli("key", "create", account, "--name", name, "--json", *extra, check=False)
    return r, (json.loads(r.stdout) if r.returncode == 0 else None)


def until(predicate, timeout=1.0):
    """Seconds until predicate() holds, polling; None when it never did."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.005)
    return None


def test_a_key_created_on_one_host_verifies_on_the_others_at_once(hosts):
    (a, b, c), _ = hosts
    _, k = create_key(a, "acme", "CRM sync")
    for h in (b, c):
        v = h.verify(k["key"], ip="10.0.0.1")
        assert v["valid"] is True and v["key_id"] == k["id"], v
    st = json.loads(b.cli("status", "--json").stdout)
    assert st["storage"]["backend"] == "postgres" and st["storage"]["feed_position"] >= 1


def test_a_token_issued_on_one_host_works_on_another_at_once(hosts):
    (a, b, c), _ = hosts
    cid, secret = a.new_client("acme")
    tok = b.session().post("http://keygate/oauth/token", auth=(cid, secret), data={"grant_type": "client_credentials"})
    assert tok.status_code == 200, tok.text
    token = tok.json()["access_token"]
    assert c.verify(token)["valid"] is True
    assert c.introspect(token)["active"] is True


def test_deletions_replacements_and_revocations_reach_every_host_within_a_second(hosts):
    (a, b, c), _ = hosts
    _, k = create_key(a, "acme", "doomed")
    cid, secret = a.new_client("acme")
    tok = c.session().post("http://keygate/oauth/token", auth=(cid, secret), data={"grant_type": "client_credentials"}).json()["access_token"]
    cid2, secret2 = a.new_client("globex")
    tok2 = a.session().post("http://keygate/oauth/token", auth=(cid2, secret2), data={"grant_type": "client_credentials"}).json()["access_token"]
    for h in (a, b, c):
        assert h.verify(k["key"], ip="10.0.0.1")["valid"] and h.verify(tok)["valid"] and h.verify(tok2)["valid"]
    a.cli("key", "delete", "acme", k["id"])
    b.cli("client", "generate", "acme", "--yes", "--json")
    r = c.session().post("http://keygate/oauth/revoke", auth=(cid2, secret2), data={"token": tok2})
    assert r.status_code == 200
    for h in (a, b, c):
        for secret_, what in ((k["key"], "deleted key"), (tok, "token of a replaced pair"), (tok2, "revoked token")):
            waited = until(lambda: not h.verify(secret_, ip="10.0.0.1")["valid"])
            assert waited is not None, f"{what} still accepted after 1 s"


def test_hosts_racing_for_the_last_key_slots(hosts):
    (a, b, c), _ = hosts
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda i: create_key((a, b, c)[i % 3], "race", f"k{i}")[0], range(10)))
    ok = [r for r in results if r.returncode == 0]
    refused = [r for r in results if r.returncode != 0]
    assert len(ok) == 5, [r.stderr for r in results]
    assert all("allows at most 5" in r.stderr for r in refused), [r.stderr for r in refused]
    for h in (a, b, c):
        assert until(lambda: len(json.loads(h.cli("key", "list", "race", "--json").stdout)["keys"]) == 5, timeout=2) is not None


def test_the_database_down_and_back(hosts):
    (a, b, c), _ = hosts
    _, k = create_key(a, "acme", "known")
    for h in (b, c):
        assert h.verify(k["key"], ip="10.0.0.1")["valid"]
    pg_ctl("stop")
    try:
        for h in (a, b, c):
            assert h.verify(k["key"], ip="10.0.0.1")["valid"], "verification goes on from memory"
        r, _ = create_key(b, "acme", "while down")
        assert r.returncode == 1 and "nothing was changed" in r.stderr, r.stderr
        try:
            raw = b.session(b.admin).post("http://keygate/v1/accounts/acme/keys", json={"name": "raw"})
        except Exception:
            print(open(b.log).read()[-3000:])
            raise
        assert raw.status_code == 503 and raw.json()["error"] == "storage_unavailable"
        for word in ("SELECT", "INSERT", "api_keys", PG_DIR):
            assert word not in raw.text
    finally:
        pg_ctl("start")
    # Back: the first host that writes reconnects, and the others catch up.
    deadline = time.monotonic() + 10
    while True:
        r, k2 = create_key(a, "acme", "after")
        if r.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.returncode == 0, r.stderr
    for h in (b, c):
        assert until(lambda: h.verify(k2["key"], ip="10.0.0.1")["valid"], timeout=5) is not None
    names = [x["name"] for x in json.loads(c.cli("key", "list", "acme", "--json").stdout)["keys"]]
    assert names == ["known", "after"], names


def test_a_killed_host_catches_up_where_it_was(hosts):
    (a, b, c), _ = hosts
    _, k = create_key(a, "acme", "before")
    c.stop(signal.SIGKILL)
    a.cli("key", "delete", "acme", k["id"])
    _, k2 = create_key(b, "acme", "meanwhile")
    c.start()
    assert c.verify(k["key"], ip="10.0.0.1") == {"valid": False, "code": "UNKNOWN"}
    assert c.verify(k2["key"], ip="10.0.0.1")["valid"]


def test_max_staleness_refuses_verification_when_the_feed_is_old():
    db = new_database()
    h = Keygated(storage=storage(db, "  max_staleness: 2s\n"))
    h.start()
    try:
        _, k = create_key(h, "acme", "k")
        assert h.verify(k["key"])["valid"]
        pg_ctl("stop")
        try:
            assert until(lambda: h.session().post("http://keygate/v1/verify", json={"key": k["key"]}).status_code == 503, timeout=6) is not None
            m = h.session().get("http://keygate/metrics").text
            assert "keygate_feed_stale 1" in m
        finally:
            pg_ctl("start")
        assert until(lambda: h.session().post("http://keygate/v1/verify", json={"key": k["key"]}).status_code == 200, timeout=8) is not None
    finally:
        h.cleanup()


def test_copying_a_sqlite_host_into_postgres_keeps_every_credential():
    single = Keygated()
    single.start()
    _, k = create_key(single, "acme", "CRM sync", "--allow-ip", "10.0.0.0/8")
    cid, secret = single.new_client("acme")
    tok = single.session().post("http://keygate/oauth/token", auth=(cid, secret), data={"grant_type": "client_credentials"}).json()["access_token"]
    assert single.stop() == 0
    db = new_database()
    pg = Keygated(storage=storage(db))
    try:
        r = subprocess.run([KEYGATED, "--config", pg.config, "--import-sqlite", single.db], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "copied 1 keys, 1 client pairs, 1 tokens" in r.stderr + r.stdout
        again = subprocess.run([KEYGATED, "--config", pg.config, "--import-sqlite", single.db], capture_output=True, text=True, timeout=60)
        assert again.returncode != 0 and "empty database only" in again.stderr
        pg.start()
        assert pg.verify(k["key"], ip="10.1.1.1")["valid"]
        assert pg.verify(k["key"], ip="192.0.2.1")["code"] == "IP_NOT_ALLOWED"
        assert pg.verify(tok)["valid"]
        t2 = pg.session().post("http://keygate/oauth/token", auth=(cid, secret), data={"grant_type": "client_credentials"})
        assert t2.status_code == 200
    finally:
        pg.cleanup()
        single.cleanup()


def test_a_roll_reaches_every_host_and_the_grace_ends_on_all_of_them(hosts):
    (a, b, c), _ = hosts
    _, k = create_key(a, "acme", "ci")
    r = json.loads(a.cli("key", "roll", "acme", k["id"], "--grace", "1s", "--json").stdout)
    # The new secret works on the other hosts at once (feed or lookup), the old one during the grace.
    for h in (b, c):
        assert h.verify(r["key"])["valid"] is True
    until_ts = calendar.timegm(time.strptime(r["rolling_until"], "%Y-%m-%dT%H:%M:%SZ"))
    # The overlap is at least the grace (1 s), so right after the roll the old secret still works.
    for h in (a, b):
        assert h.verify(k["key"])["valid"] is True
    # Within 1 s after the grace ends, every host refuses the old secret; the new one stays.
    time.sleep(max(0.0, until_ts - time.time()))
    for h in (a, b, c):
        assert until(lambda: h.verify(k["key"])["valid"] is False, timeout=1.0) is not None
        assert h.verify(k["key"])["code"] == "REVOKED"
        assert h.verify(r["key"])["valid"] is True
    # A roll without a grace: the old secret is refused on every host at once.
    r2 = json.loads(b.cli("key", "roll", "acme", k["id"], "--json").stdout)
    for h in (a, b, c):
        assert until(lambda: h.verify(r["key"])["valid"] is False, timeout=1.0) is not None
        assert h.verify(r2["key"])["valid"] is True


def test_usage_is_the_sum_over_hosts(hosts):
    (a, b, c), db = hosts
    _, k = create_key(a, "acme", "shared", "--allow-ip", "10.0.0.1")
    for _ in range(5):
        assert a.verify(k["key"], ip="10.0.0.1")["valid"] is True
    for _ in range(3):
        assert until(lambda: b.verify(k["key"], ip="10.0.0.1")["valid"], timeout=1.0) is not None
    for _ in range(2):
        assert c.verify(k["key"], ip="192.0.2.1")["code"] == "IP_NOT_ALLOWED"
    want = {"valid": 8, "refused": {"IP_NOT_ALLOWED": 2}}

    def summed(h):
        days = json.loads(h.cli("key", "usage", "acme", k["id"], "--json").stdout)["days"]
        return days and {"valid": days[0]["valid"], "refused": days[0]["refused"]}

    # Each host adds its own counts in batches (the usage timer, 5 s); every host answers the sum.
    for h in (a, b, c):
        assert until(lambda: summed(h) == want, timeout=12.0) is not None, summed(h)
    assert int(psql(f"SELECT sum(count) FROM usage_counts WHERE subject = 'key:{k['id']}'", db=db)) == 10
    # Deleting the key deletes its usage on the shared database.
    b.cli("key", "delete", "acme", k["id"])
    assert psql(f"SELECT count(*) FROM usage_counts WHERE subject = 'key:{k['id']}'", db=db) == "0"
