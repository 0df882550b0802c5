"""Storage faults (SPEC 8, 13): the database on a full disk (a small tmpfs)
and locked by another process. Mutations get 503
storage_unavailable with a message that names no SQL, table or path, nothing
is reported done, verification goes on from memory, and once the fault is
gone writes work again without a restart and memory matches the disk."""
import json
import os
import subprocess
import tempfile

import pytest

from conftest import Keygated

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a tmpfs")

LEAKY = ["sql", "insert", "update ", "delete from", "api_keys", "access_tokens", "clients", "sqlite", ".db", "/"]


@pytest.fixture
def small_disk():
    mnt = tempfile.mkdtemp(prefix="kg-tmpfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", mnt], check=True)
    yield mnt
    subprocess.run(["umount", "-l", mnt])
    os.rmdir(mnt)


def daemon_on(mnt):
    d = Keygated(storage=f"storage:\n  path: {mnt}/keygate.db")
    d.start()
    return d


def create(d, account, name):
    r = d.session(d.admin).post(f"http://keygate/v1/accounts/{account}/keys", json={"name": name})
    return r.status_code, r.json()


def assert_unavailable(status, body, mnt):
    assert status == 503, body
    assert body["error"] == "storage_unavailable"
    text = body["error_description"].lower()
    for word in LEAKY:
        assert word not in text, f"the 503 message names '{word}': {body['error_description']}"
    assert mnt.lower() not in text


def listing(d, account):
    r = d.session(d.admin).get(f"http://keygate/v1/accounts/{account}/keys")
    assert r.status_code == 200
    return sorted(k["id"] for k in r.json()["keys"])


def fill(mnt):
    path = os.path.join(mnt, "filler")
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return path


def test_full_disk(small_disk):
    mnt = small_disk
    d = daemon_on(mnt)
    try:
        st, before = create(d, "acme", "before")
        assert st == 201
        cid, csecret = d.new_client("partner")
        filler = fill(mnt)
        # Write until the database cannot grow; every answer is 201 or a clean 503.
        created, refused = [], 0
        for i in range(200):
            st, body = create(d, f"full{i % 40}", f"k{i}")
            if st == 201:
                created.append(body)
            else:
                assert_unavailable(st, body, mnt)
                refused += 1
        assert refused > 0, "the full disk never refused a write"
        r = d.session().post("http://keygate/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, csecret))
        assert r.status_code in (200, 503)
        if r.status_code == 503:
            assert_unavailable(503, r.json(), mnt)
        # Verification goes on from memory.
        assert d.verify(before["key"])["valid"] is True
        for k in created[:5]:
            assert d.verify(k["key"])["valid"] is True
        # Nothing refused was stored or is in memory: only the acknowledged keys exist.
        listed = sum(len(listing(d, f"full{i}")) for i in range(40))
        assert listed == len(created)
        # Space comes back: writes work again, no restart.
        os.unlink(filler)
        st, after = create(d, "acme", "after")
        assert st == 201, after
        assert d.verify(after["key"])["valid"] is True
        memory = {a: listing(d, a) for a in ["acme"] + [f"full{i}" for i in range(40)]}
        d.stop()
        d.start()
        disk = {a: listing(d, a) for a in memory}
        assert disk == memory, "the state in memory did not match the disk"
    finally:
        d.cleanup()


def test_database_locked_by_another_process(small_disk):
    """A tmpfs with files open for writing cannot be remounted read-only (the
    kernel answers EBUSY), so the other fault is the one a sysadmin can cause:
    another process holding the database's write lock (sqlite3 in BEGIN
    EXCLUSIVE). Writes time out into 503; the lock goes, writes come back."""
    mnt = small_disk
    d = daemon_on(mnt)
    try:
        st, before = create(d, "acme", "before")
        assert st == 201
        locker = subprocess.Popen(["sqlite3", os.path.join(mnt, "keygate.db")], stdin=subprocess.PIPE, text=True)
        locker.stdin.write("PRAGMA busy_timeout=5000; BEGIN EXCLUSIVE; INSERT INTO api_keys (id, account, name, digest, hint, created_at) "
                           "VALUES ('key_lockerlockerlock', 'x', 'x', x'00', 'x', 0);\n")
        locker.stdin.flush()
        try:
            import time
            time.sleep(0.5)
            st, body = create(d, "acme", "during")
            assert_unavailable(st, body, mnt)
            r = d.session(d.admin).delete(f"http://keygate/v1/accounts/acme/keys/{before['id']}")
            assert r.status_code == 503
            assert_unavailable(503, r.json(), mnt)
            assert d.verify(before["key"])["valid"] is True, "a refused deletion took effect in memory"
            assert listing(d, "acme") == [before["id"]]
        finally:
            locker.stdin.write("ROLLBACK;\n.quit\n")
            locker.stdin.close()
            locker.wait(timeout=20)
        st, after = create(d, "acme", "after")
        assert st == 201, after
        memory = listing(d, "acme")
        d.stop()
        d.start()
        assert listing(d, "acme") == memory == sorted([before["id"], after["id"]])
    finally:
        d.cleanup()
