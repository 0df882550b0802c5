"""Several hosts on PostgreSQL, measured (make bench; not a timed test):
revocation propagation across three hosts, token issuance on PostgreSQL with
16 clients, and verification on a PostgreSQL-backed host next to a SQLite one.
Usage: KEYGATE_TEST_PG_DIR=… python3 pg-bench.py BIN_DIR [SECONDS]"""
import base64
import json
import os
import random
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
os.environ["KEYGATE_BIN_DIR"] = os.path.abspath(sys.argv[1])
import conftest  # noqa: E402

conftest.KEYGATED = os.path.join(sys.argv[1], "keygated")
conftest.KEYGATE = os.path.join(sys.argv[1], "keygate")
SECONDS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
PG_DIR = os.environ["KEYGATE_TEST_PG_DIR"]
HERE = os.path.dirname(os.path.abspath(__file__))


def psql(sql):
    subprocess.run(["psql", "-h", PG_DIR, "-U", "postgres", "-At", "-c", sql], check=True, capture_output=True)


def new_db():
    name = "kgbench_" + "".join(random.choice(string.ascii_lowercase) for _ in range(8))
    psql(f"CREATE DATABASE {name}")
    return name


def host(db):
    return conftest.Keygated(storage=f'storage:\n  backend: postgres\n  url: "postgresql://postgres@/{db}?host={PG_DIR}"\n')


def verify_raw(path, body):
    """One verification on a fresh connection, as a raw exchange (fast, no pooling surprises)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: k\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return b'"valid":true' in data


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def propagation(rounds=100):
    db = new_db()
    hs = [host(db) for _ in range(3)]
    for h in hs:
        h.start()
    try:
        a, b, c = hs
        admin = a.session(a.admin)
        delays = []
        for i in range(rounds):
            k = admin.post("http://keygate/v1/accounts/bench/keys", json={"name": f"k{i}"}).json()
            body = json.dumps({"key": k["key"]}).encode()
            for h in (b, c):
                assert verify_raw(h.service, body)
            t0 = time.monotonic()
            assert admin.delete(f"http://keygate/v1/accounts/bench/keys/{k['id']}").status_code == 204
            answered = time.monotonic()
            pending = {b.service, c.service}
            while pending:
                for p in list(pending):
                    if not verify_raw(p, body):
                        pending.discard(p)
                if time.monotonic() - answered > 5:
                    raise SystemExit("a deletion did not reach every host within 5 s")
            delays.append(time.monotonic() - answered)
        print("propagation: %d deletions on host A, refused by hosts B and C after p50 %.1f ms, p99 %.1f ms, max %.1f ms (from A's answer)"
              % (rounds, pct(delays, 50) * 1000, pct(delays, 99) * 1000, max(delays) * 1000))
    finally:
        for h in hs:
            h.cleanup()


def uxload(sock, conns, secs, files):
    exe = os.path.join(tempfile.gettempdir(), "kg-uxload")
    if not os.path.exists(exe):
        subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(HERE, "uxload.c")], check=True)
    return subprocess.run([exe, sock, str(conns), str(secs), *files], capture_output=True, text=True, check=True).stdout.strip()


def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().split()
    return (int(f[13]) + int(f[14])) / os.sysconf("SC_CLK_TCK")


def tokens_and_verify():
    work = tempfile.mkdtemp(prefix="kgpgb-")
    db = new_db()
    pg = host(db)
    sq = conftest.Keygated()
    for h in (pg, sq):
        h.start()
    try:
        # Token issuance on PostgreSQL: 16 clients, HTTP Basic, each token durable before its answer.
        files = []
        for i in range(16):
            cid, secret = pg.new_client(f"oauth-{i}")
            auth = base64.b64encode(f"{cid}:{secret}".encode()).decode()
            body = "grant_type=client_credentials"
            p = os.path.join(work, f"token{i}")
            with open(p, "w") as f:
                f.write(f"POST /oauth/token HTTP/1.1\r\nHost: k\r\nAuthorization: Basic {auth}\r\n"
                        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n{body}")
            files.append(p)
        c0 = cpu(pg.proc.pid)
        out = uxload(pg.service, 16, SECONDS, files)
        n = int(out.split()[1])
        print("tokens on PostgreSQL: " + out)
        print("tokens on PostgreSQL: daemon CPU %.0f us per token" % ((cpu(pg.proc.pid) - c0) * 1e6 / n))
        # Verification: the same 16 keys on a PostgreSQL host and a SQLite host, alternating.
        for name, h in (("postgres", pg), ("sqlite", sq), ("postgres", pg), ("sqlite", sq)):
            vf = []
            for i in range(16):
                k = json.loads(h.cli("key", "create", f"v{i}-{random.randint(0, 1 << 30)}", "--name", "k", "--json").stdout)
                body = json.dumps({"key": k["key"], "ip": f"10.{i}.0.1"})
                p = os.path.join(work, f"{name}-verify{i}")
                with open(p, "w") as f:
                    f.write(f"POST /v1/verify HTTP/1.1\r\nHost: k\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}")
                vf.append(p)
            c0 = cpu(h.proc.pid)
            out = uxload(h.service, 16, SECONDS, vf)
            n = int(out.split()[1])
            print(f"verify on {name}: {out}; daemon CPU %.1f us per request" % ((cpu(h.proc.pid) - c0) * 1e6 / n))
    finally:
        pg.cleanup()
        sq.cleanup()


if __name__ == "__main__":
    propagation()
    tokens_and_verify()
