"""keygated beside nginx, in one run (make bench; not a timed test).

nginx (`return 204`, one worker, on a Unix socket) and release keygated are
driven by the same closed-loop load generator (uxload.c), alternating runs
to cancel drift, at 1, 16 and 64 connections. For each: requests a second,
latency p50/p99/p99.9, and the server's CPU per request (utime+stime of
every server process, from /proc). Then token issuance (16 clients, every
token durable), verification with 10, 100,000 and 1,000,000 stored keys,
start time and resident memory with 1,000,000 keys, and the fsync rate of
the disk the database is on.

Usage: python3 bench.py BIN_DIR [--seconds N] [--rounds N] [--write BENCHMARKS.md]
"""
import argparse
import base64
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TCK


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def wait_socket(path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
                return True
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.005)
    raise RuntimeError(f"nothing answers on {path}")


def http(sock, method, path, body=None, headers=None):
    """One request on a new connection; returns (status, headers, body bytes)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    data = body.encode() if isinstance(body, str) else (body or b"")
    head = f"{method} {path} HTTP/1.1\r\nHost: keygate\r\nConnection: close\r\nContent-Length: {len(data)}\r\n"
    for k, v in (headers or {}).items():
        head += f"{k}: {v}\r\n"
    s.sendall(head.encode() + b"\r\n" + data)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    head, _, rest = out.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode(), rest


def raw_request(method, path, body="", headers=None):
    h = f"{method} {path} HTTP/1.1\r\nHost: keygate\r\n"
    for k, v in (headers or {}).items():
        h += f"{k}: {v}\r\n"
    if body or method == "POST":
        h += f"Content-Length: {len(body.encode())}\r\n"
    return (h + "\r\n" + body).encode()


class Load:
    """uxload, compiled once."""

    def __init__(self, work):
        self.work = work
        self.bin = os.path.join(work, "uxload")
        subprocess.run(["gcc", "-O2", "-o", self.bin, os.path.join(HERE, "uxload.c")], check=True)
        self.files = 0

    def files_for(self, requests):
        paths = []
        for r in requests:
            self.files += 1
            p = os.path.join(self.work, f"req-{self.files}")
            with open(p, "wb") as f:
                f.write(r)
            paths.append(p)
        return paths

    def run(self, sock, conns, seconds, requests, pids):
        files = self.files_for(requests)
        c0 = cpu_seconds(pids)
        out = subprocess.run([self.bin, sock, str(conns), str(seconds)] + files, capture_output=True, text=True)
        c1 = cpu_seconds(pids)
        if out.returncode != 0:
            raise RuntimeError(f"uxload failed: {out.stdout} {out.stderr}")
        m = re.search(r"requests (\d+) in [\d.]+s: (\d+) req/s; latency us p50 ([\d.]+) p90 ([\d.]+) p99 ([\d.]+) p99.9 ([\d.]+)", out.stdout)
        n = int(m.group(1))
        return {"rps": int(m.group(2)), "p50": float(m.group(3)), "p99": float(m.group(5)), "p999": float(m.group(6)),
                "cpu_us": (c1 - c0) * 1e6 / max(n, 1), "n": n}


def median_run(runs):
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


class Nginx:
    def __init__(self, work):
        self.sock = os.path.join(work, "nginx.sock")
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
daemon off;
master_process on;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 1000000000;
  keepalive_timeout 300s;
  client_body_temp_path {work}/nginx-body;
  server {{
    listen unix:{self.sock};
    location / {{ return 204; }}
  }}
}}
""")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen([nginx, "-c", conf, "-p", work], stderr=subprocess.DEVNULL)
        wait_socket(self.sock)
        time.sleep(0.2)
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        self.pids = [self.proc.pid] + [int(p) for p in children]

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Keygated:
    def __init__(self, bin_dir, work, name):
        self.bin_dir = bin_dir
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "s.sock")
        self.admin = os.path.join(self.dir, "a.sock")
        self.db = os.path.join(self.dir, "keygate.db")
        self.config = os.path.join(self.dir, "keygate.yaml")
        with open(self.config, "w") as f:
            f.write(f"""listen:
  service_socket: {self.sock}
  admin_socket: {self.admin}
storage:
  path: {self.db}
ip_lists:
  office: [10.0.0.0/8, "2001:db8::/32"]
policies:
  default:
    max_keys: 5
    allow_ips: ["@office", 192.0.2.0/24]
""")
        self.proc = None

    def start(self):
        t0 = time.monotonic()
        self.proc = subprocess.Popen([os.path.join(self.bin_dir, "keygated"), "--config", self.config],
                                     stderr=open(os.path.join(self.dir, "log"), "ab"))
        wait_socket(self.sock, timeout=120)
        wait_socket(self.admin, timeout=120)
        self.started_in = time.monotonic() - t0
        self.pids = [self.proc.pid]

    def stop(self):
        self.proc.terminate()
        self.proc.wait()

    def create_key(self, account, name):
        status, _, body = http(self.admin, "POST", f"/v1/accounts/{account}/keys",
                               json.dumps({"name": name, "allow_ips": ["10.0.0.0/8"]}), {"Content-Type": "application/json"})
        assert status == 201, body
        return json.loads(body)

    def generate_client(self, account):
        status, _, body = http(self.admin, "POST", f"/v1/accounts/{account}/client")
        assert status in (200, 201), body
        return json.loads(body)


def fill(db, count):
    """`count` more keys straight into the database (the daemon is stopped):
    random secrets' digests over accounts of five keys each."""
    con = sqlite3.connect(db)
    now = int(time.time())
    rows = ((f"key_{i:026x}", f"fill-{i // 5}", f"k{i % 5}", hashlib.sha256(secrets.token_bytes(32)).digest(),
             "kg_fill", "", now) for i in range(count))
    con.executemany("INSERT INTO api_keys (id, account, name, digest, hint, allow_ips, created_at) VALUES (?,?,?,?,?,?,?)", rows)
    con.commit()
    con.close()


def fsync_rate(directory, seconds=2.0):
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    n = 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        os.pwrite(fd, b"x" * 64, (n % 64) * 64)
        os.fsync(fd)
        n += 1
    os.close(fd)
    os.unlink(path)
    return n / seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin_dir")
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--write")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kgbench-", dir=os.environ.get("KEYGATE_BENCH_DIR", "/tmp"))
    load = Load(work)
    secs = args.seconds
    results = {}
    lines = []

    def say(s):
        print(s, flush=True)
        lines.append(s)

    nginx = Nginx(work)
    kg = Keygated(args.bin_dir, work, "main")
    kg.start()
    # 1,000 keys over 200 accounts; 16 of them drive the load.
    keys = []
    for a in range(200):
        for k in range(5):
            keys.append(kg.create_key(f"acct-{a}", f"k{k}")["key"])
    used = keys[::62][:16]
    client = kg.generate_client("oauth-bench")
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    status, _, body = http(kg.sock, "POST", "/oauth/token", "grant_type=client_credentials",
                           {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded", "X-Real-IP": "10.0.0.1"})
    assert status == 200, body
    token = json.loads(body)["access_token"]

    def verify_reqs(secret_list):
        return [raw_request("POST", "/v1/verify", json.dumps({"key": s, "ip": f"10.{i}.0.1"}), {"Content-Type": "application/json"})
                for i, s in enumerate(secret_list)]

    workloads = {
        "verify (API key)": verify_reqs(used),
        "verify (access token)": verify_reqs([token]),
        "GET /v1/auth": [raw_request("GET", "/v1/auth", headers={"X-API-Key": s, "X-Real-IP": f"10.{i}.0.1"}) for i, s in enumerate(used)],
        "introspect": [raw_request("POST", "/oauth/introspect", f"token={token}", {"Content-Type": "application/x-www-form-urlencoded"})],
        "GET /healthz": [raw_request("GET", "/healthz")],
    }
    # Sanity: every workload's request is answered 2xx with the expected verdict.
    st, _, b = http(kg.sock, "POST", "/v1/verify", json.dumps({"key": used[0], "ip": "10.0.0.1"}))
    assert st == 200 and b'"valid":true' in b, b
    st, _, b = http(kg.sock, "POST", "/oauth/introspect", f"token={token}", {"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 200 and b'"active":true' in b, b
    nginx_req = [raw_request("GET", "/")]
    load.run(kg.sock, 16, 1, workloads["verify (API key)"], kg.pids)  # warm-up
    load.run(nginx.sock, 16, 1, nginx_req, nginx.pids)

    say(f"# machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}")
    say(f"# {secs:g} s per run, median of {args.rounds} rounds, nginx and keygated alternating\n")
    say("| workload | conns | req/s | p50 µs | p99 µs | p99.9 µs | CPU µs/req | req/s ÷ nginx | CPU ÷ nginx | p99 ÷ nginx |")
    say("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for conns in (1, 16, 64):
        runs = {name: [] for name in ["nginx return 204"] + list(workloads)}
        for _ in range(args.rounds):
            for name, reqs in workloads.items():
                runs["nginx return 204"].append(load.run(nginx.sock, conns, secs, nginx_req, nginx.pids))
                runs[name].append(load.run(kg.sock, conns, secs, reqs, kg.pids))
        base = median_run(runs["nginx return 204"])
        for name, r in runs.items():
            m = median_run(r)
            results[(name, conns)] = m
            say(f"| {name} | {conns} | {m['rps']:,.0f} | {m['p50']:.0f} | {m['p99']:.0f} | {m['p999']:.0f} | {m['cpu_us']:.1f} | "
                f"{m['rps'] / base['rps']:.2f} | {m['cpu_us'] / base['cpu_us']:.2f} | {m['p99'] / base['p99']:.2f} |")
    nginx.stop()

    # Token issuance: 16 clients with HTTP Basic; each token a durable write.
    token_reqs = []
    for i in range(16):
        c = kg.generate_client(f"oauth-{i}")
        b = base64.b64encode(f"{c['client_id']}:{c['client_secret']}".encode()).decode()
        token_reqs.append(raw_request("POST", "/oauth/token", "grant_type=client_credentials",
                                      {"Authorization": f"Basic {b}", "Content-Type": "application/x-www-form-urlencoded", "X-Real-IP": f"10.0.0.{i + 1}"}))
    fs = fsync_rate(kg.dir)
    t = load.run(kg.sock, 16, secs, token_reqs, kg.pids)
    fs2 = fsync_rate(kg.dir)
    fsync = (fs + fs2) / 2
    results["tokens"] = t
    results["fsync"] = fsync
    kg.stop()
    rows = sqlite3.connect(kg.db).execute("SELECT count(*) FROM access_tokens").fetchone()[0]
    say(f"\n- token issuance, 16 clients, durable: **{t['rps']:,.0f} tokens/s**, p99 {t['p99']:.0f} µs, "
        f"{t['cpu_us']:.0f} µs CPU per token; {rows:,} token rows on disk after the run")
    say(f"- fsync on the database's disk, one writer, same run: **{fsync:,.0f}/s** "
        f"(token issuance is {t['rps'] / fsync:.1f}× that)")

    # Verification against 10, 100,000 and 1,000,000 stored keys.
    say("\n| stored keys | verify req/s (16 conns) | p99 µs | CPU µs/req | start s | RSS MiB |")
    say("|---:|---:|---:|---:|---:|---:|")
    for total in (10, 100_000, 1_000_000):
        d = Keygated(args.bin_dir, work, f"keys-{total}")
        d.start()
        mine = [d.create_key(f"bench-{i}", "k")["key"] for i in range(10)]
        d.stop()
        fill(d.db, total - 10)
        d.start()
        time.sleep(0.5)
        reqs = verify_reqs(mine)
        st, _, b = http(d.sock, "POST", "/v1/verify", json.dumps({"key": mine[0], "ip": "10.0.0.1"}))
        assert b'"valid":true' in b, b
        load.run(d.sock, 16, 1, reqs, d.pids)
        m = median_run([load.run(d.sock, 16, secs, reqs, d.pids) for _ in range(args.rounds)])
        # Resident memory in steady state: after a change has reached the
        # writer and every event loop (each then holds its own copy).
        d.create_key("after-start", "k")
        time.sleep(1)
        rss = rss_mib(d.proc.pid)
        results[("keys", total)] = dict(m, start=d.started_in, rss=rss)
        say(f"| {total:,} | {m['rps']:,.0f} | {m['p99']:.0f} | {m['cpu_us']:.1f} | {d.started_in:.2f} | {rss:.0f} |")
        d.stop()
        os.unlink(d.db)

    # The targets, as ratios to nginx in this run.
    say("\n## Targets")
    n16, v16 = results[("nginx return 204", 16)], results[("verify (API key)", 16)]
    n64, v64 = results[("nginx return 204", 64)], results[("verify (API key)", 64)]
    k10, k1m = results[("keys", 10)], results[("keys", 1_000_000)]

    def target(ok, text):
        say(f"- [{'x' if ok else ' '}] {text}")
    target(v16["rps"] >= 0.6 * n16["rps"], f"verify at 16 conns ≥ 0.6× nginx req/s: {v16['rps'] / n16['rps']:.2f}×")
    target(v16["cpu_us"] <= 2 * n16["cpu_us"], f"verify CPU/req ≤ 2× nginx: {v16['cpu_us'] / n16['cpu_us']:.2f}×")
    target(v16["p99"] <= 2 * n16["p99"], f"verify p99 at 16 conns ≤ 2× nginx: {v16['p99'] / n16['p99']:.2f}×")
    target(v64["p99"] <= 2 * n64["p99"], f"verify p99 at 64 conns ≤ 2× nginx: {v64['p99'] / n64['p99']:.2f}×")
    for name in ("GET /v1/auth", "introspect"):
        r = results[(name, 16)]
        target(r["rps"] >= 0.85 * v16["rps"], f"{name} within 15 % of verify at 16 conns: {r['rps'] / v16['rps']:.2f}×")
    target(k1m["rps"] >= 0.9 * k10["rps"], f"verify at 1,000,000 keys within 10 % of 10 keys: {k1m['rps'] / k10['rps']:.2f}×")
    target(k1m["rss"] <= 400, f"1,000,000 keys in ≤ 400 MB resident: {k1m['rss']:.0f} MiB")
    target(k1m["start"] <= 3, f"1,000,000 keys started in ≤ 3 s: {k1m['start']:.2f} s")
    target(t["rps"] >= 3 * fsync, f"token issuance ≥ 3× the fsync rate: {t['rps'] / fsync:.1f}×")

    if args.write:
        with open(args.write, "w") as f:
            f.write("# Benchmarks\n\nThe last results of `make bench` (Tests/bench/bench.py writes this file); "
                    "absolute figures drift between machines and runs, the ratios to nginx in the same run less so. "
                    "What the profiles show is left is in the README's Benchmark section.\n\n")
            f.write(f"Run on {time.strftime('%Y-%m-%d')}: `make bench` "
                    f"(release build; `python3 Tests/bench/bench.py BIN_DIR --seconds {secs:g} --rounds {args.rounds}`).\n\n")
            f.write("\n".join(lines) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
