"""The hot path's regression guard: instructions per verification, counted
exactly by callgrind on the release keygated, against a committed budget.

Two runs under callgrind differ only in how many verifications they answer
(over one keep-alive connection, one at a time); the difference of their
instruction totals over the difference of the counts is the cost of one
verification, start-up and shutdown cancelled. No wall-clock time is
involved, so the figure does not depend on the machine's load.

Needs KEYGATE_RELEASE_BIN_DIR (make test sets it after `swift build -c
release --product keygated`). When the budget fails: profile the change
(callgrind_annotate on the kept output), and raise the budget in
Tests/bench/instruction-budget.json only with a reason in the commit."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BUDGET_FILE = os.path.join(HERE, "..", "bench", "instruction-budget.json")


def release_keygated():
    d = os.environ.get("KEYGATE_RELEASE_BIN_DIR")
    assert d, "KEYGATE_RELEASE_BIN_DIR is not set: run `make test`, or `swift build -c release --product keygated` and point it at the bin path"
    path = os.path.join(d, "keygated")
    assert os.access(path, os.X_OK), f"no release keygated at {path}"
    assert shutil.which("valgrind"), "valgrind is not installed (make test-deps installs it)"
    return path


def wait_for(path, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"keygated exited with {proc.returncode}"
        if os.path.exists(path):
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
                return
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.05)
    raise AssertionError(f"nothing answers on {path}")


def exchange(s, request):
    s.sendall(request)
    data = b""
    while True:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            m = re.search(rb"(?i)content-length: *(\d+)", data[:head_end])
            need = head_end + 4 + (int(m.group(1)) if m else 0)
            if len(data) >= need:
                return data[:need]
        chunk = s.recv(65536)
        assert chunk, "the daemon closed the connection"
        data += chunk


class Daemon:
    def __init__(self, work):
        self.work = work
        self.sock = os.path.join(work, "s.sock")
        self.admin = os.path.join(work, "a.sock")
        self.config = os.path.join(work, "keygate.yaml")
        with open(self.config, "w") as f:
            f.write(f"""listen:
  service_socket: {self.sock}
  admin_socket: {self.admin}
storage:
  path: {work}/keygate.db
policies:
  default:
    max_keys: 5
    allow_ips: [10.0.0.0/8]
""")


def callgrind_total(binary, work, db_template, verifications, request):
    """Instructions of a whole callgrind run that answers `verifications` requests."""
    d = Daemon(work)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db_template + suffix):
            shutil.copy(db_template + suffix, os.path.join(work, "keygate.db" + suffix))
    out = os.path.join(work, f"callgrind.{verifications}.out")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "--config", d.config],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, f"valgrind.{verifications}.log"), "w"))
    try:
        wait_for(d.sock, proc)
        s = socket.socket(socket.AF_UNIX)
        s.connect(d.sock)
        for _ in range(verifications):
            answer = exchange(s, request)
            assert answer.startswith(b"HTTP/1.1 200") and b'"valid":true' in answer, answer
        s.close()
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    with open(out) as f:
        text = f.read()
    m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    assert m, "no instruction total in the callgrind output"
    for p in os.listdir(work):
        if p.endswith(".sock"):
            os.unlink(os.path.join(work, p))
    return int(m.group(1))


def test_instructions_per_verification_within_budget():
    binary = release_keygated()
    with open(BUDGET_FILE) as f:
        budget = json.load(f)["verify_api_key"]
    work = tempfile.mkdtemp(prefix="kg-instr-")
    # Valgrind 3.19 cannot read the DWARF 5 that Swift 6 emits; a copy without
    # debug information keeps its symbols, which is all callgrind needs.
    stripped = os.path.join(work, "keygated")
    subprocess.run(["objcopy", "--strip-debug", binary, stripped], check=True)
    binary = stripped
    # One database with a key in it, copied for each run so both start alike.
    d = Daemon(work)
    proc = subprocess.Popen([binary, "--config", d.config], stderr=open(os.path.join(work, "setup.log"), "w"))
    try:
        wait_for(d.admin, proc)
        s = socket.socket(socket.AF_UNIX)
        s.connect(d.admin)
        body = b'{"name":"bench"}'
        answer = exchange(s, b"POST /v1/accounts/acme/keys HTTP/1.1\r\nHost: k\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        s.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    key = json.loads(answer.split(b"\r\n\r\n", 1)[1])["key"]
    template = os.path.join(work, "template.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(os.path.join(work, "keygate.db" + suffix)):
            shutil.move(os.path.join(work, "keygate.db" + suffix), template + suffix)
    vbody = json.dumps({"key": key, "ip": "10.1.2.3"}).encode()
    request = (b"POST /v1/verify HTTP/1.1\r\nHost: keygate\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(vbody), vbody))
    few, many = 200, 2200
    a = callgrind_total(binary, work, template, few, request)
    b = callgrind_total(binary, work, template, many, request)
    per = (b - a) / (many - few)
    print(f"\ninstructions per verification: {per:,.0f} (budget {budget:,}); runs {a:,} and {b:,}")
    assert per > 0, f"the longer run counted fewer instructions ({a} vs {b})"
    assert per <= budget, (f"a verification costs {per:,.0f} instructions, over the budget of {budget:,} "
                           f"(Tests/bench/instruction-budget.json); callgrind output kept in {work}")
    shutil.rmtree(work, ignore_errors=True)
