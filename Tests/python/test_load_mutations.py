"""64 connections verifying while keys are created and deleted and pairs
regenerated: no request fails, and every answer agrees with the state at
that moment (SPEC 8): valid once its creation was answered, refused once its
deletion (or its pair's replacement) was answered."""
import json
import random
import socket
import threading
import time

from conftest import Keygated

SECONDS = 8


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.s.settimeout(10)
        self.buf = b""

    def verify(self, secret):
        body = json.dumps({"key": secret, "ip": "10.0.0.1"}).encode()
        self.s.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: k\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = self.buf[:end].decode()
                n = int(head.lower().split("content-length:")[1].split("\r\n")[0])
                if len(self.buf) >= end + 4 + n:
                    status = int(head.split(" ")[1])
                    out = self.buf[end + 4:end + 4 + n]
                    self.buf = self.buf[end + 4 + n:]
                    return status, json.loads(out)
            chunk = self.s.recv(65536)
            assert chunk, "the daemon closed a verifying connection"
            self.buf += chunk


def test_verification_agrees_with_mutations_under_load():
    # Verifying deleted keys from one address would trip the failure limiter,
    # which answers RATE_LIMITED for any refusal; the limit is raised here.
    d = Keygated("verify:\n  failures_per_ip: 100000\n")
    d.start()
    try:
        lock = threading.Lock()
        # secret -> [created_answered_at, removal_sent_at or None, removal_answered_at or None]
        creds = {}
        stop = threading.Event()
        failures, checked = [], [0]

        def mutate():
            a = d.session(d.admin)
            s = d.session()
            rnd = random.Random(7)
            pairs = {}
            while not stop.is_set():
                account = f"load{rnd.randrange(8)}"
                op = rnd.random()
                if op < 0.45:
                    r = a.post(f"http://keygate/v1/accounts/{account}/keys", json={"name": f"k{rnd.randrange(10**9)}"})
                    if r.status_code == 201:
                        j = r.json()
                        with lock:
                            creds[j["key"]] = [time.monotonic(), None, None, ("key", account, j["id"])]
                elif op < 0.85:
                    with lock:
                        live = [(sec, v) for sec, v in creds.items() if v[1] is None and v[3][0] == "key"]
                    if live:
                        sec, v = rnd.choice(live)
                        v[1] = time.monotonic()
                        r = a.delete(f"http://keygate/v1/accounts/{v[3][1]}/keys/{v[3][2]}")
                        assert r.status_code == 204, r.text
                        v[2] = time.monotonic()
                else:
                    # The account's tokens are on their way out from the moment the
                    # generation is sent, and gone once it is answered.
                    with lock:
                        doomed = [v for v in creds.values() if v[3][0] == "token" and v[3][1] == account and v[1] is None]
                        for v in doomed:
                            v[1] = time.monotonic()
                    r = a.post(f"http://keygate/v1/accounts/{account}/client")
                    assert r.status_code == 201, r.text
                    answered = time.monotonic()
                    for v in doomed:
                        v[2] = answered
                    j = r.json()
                    t = s.post("http://keygate/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(j["client_id"], j["client_secret"]))
                    assert t.status_code == 200, t.text
                    with lock:
                        creds[t.json()["access_token"]] = [time.monotonic(), None, None, ("token", account)]

        def verifier(seed):
            c = Conn(d.service)
            rnd = random.Random(seed)
            while not stop.is_set():
                with lock:
                    if not creds:
                        continue
                    sec = rnd.choice(list(creds))
                    v = creds[sec]
                sent = time.monotonic()
                status, j = c.verify(sec)
                got = time.monotonic()
                if status != 200:
                    failures.append(f"status {status}")
                    continue
                created, removal_sent, removal_answered = v[0], v[1], v[2]
                if removal_answered is not None and removal_answered < sent:
                    if j["valid"]:
                        failures.append(f"valid after its removal was answered: {j}")
                elif created < sent and (removal_sent is None or removal_sent > got):
                    if not j["valid"]:
                        failures.append(f"refused while it existed: {j} {v[3][0]} created {sent - created:.4f}s before")
                checked[0] += 1

        threads = [threading.Thread(target=mutate)] + [threading.Thread(target=verifier, args=(i,)) for i in range(64)]
        for t in threads:
            t.start()
        time.sleep(SECONDS)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        print(f"\n{checked[0]:,} verifications on 64 connections against {len(creds)} credentials; {len(failures)} disagreements")
        assert not failures, failures[:5]
        assert checked[0] > 2000
        assert sum(1 for v in creds.values() if v[2] is not None) > 20, "too few removals to show anything"
    finally:
        d.cleanup()
