"""Every request example of docs/API.md, run in order against a real keygated.

An example is a ```sh block followed by a ```http block: the curl command is
run as written (socket paths rewritten to the test daemon's), and the answer's
status line, the headers shown and the body are compared with the document.
In the document '…' stands for a value that differs between runs: a string
with '…' matches any string with the same beginning; a time in RFC 3339 form
any time; a number any number; an object with the key '…' may hold more keys.
"""
import json
import os
import re
import subprocess

import pytest


DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "API.md")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def examples():
    text = open(DOC, encoding="utf-8").read()
    blocks = re.findall(r"```(sh|http)\n(.*?)```", text, re.S)
    out = []
    for (kind, body), nxt in zip(blocks, blocks[1:] + [("", "")]):
        if kind == "sh":
            assert nxt[0] == "http", "every example in docs/API.md is followed by its answer: " + body
            out.append((body.strip(), nxt[1]))
    return out


def matches(doc, actual, where):
    if isinstance(doc, str) and "…" in doc:
        assert isinstance(actual, str) and actual.startswith(doc.split("…")[0]), f"{where}: {actual!r} does not match {doc!r}"
    elif isinstance(doc, str) and TIME.match(doc):
        assert isinstance(actual, str) and TIME.match(actual), f"{where}: {actual!r} is not a time"
    elif isinstance(doc, bool) or doc is None:
        assert actual is doc, f"{where}: {actual!r} != {doc!r}"
    elif isinstance(doc, (int, float)):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), f"{where}: {actual!r} is not a number"
    elif isinstance(doc, list):
        assert isinstance(actual, list) and len(actual) == len(doc), f"{where}: {actual!r} != {doc!r}"
        for i, (d, a) in enumerate(zip(doc, actual)):
            matches(d, a, f"{where}[{i}]")
    elif isinstance(doc, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not an object"
        keys = [k for k in doc if k != "…"]
        if "…" in doc:
            assert set(keys) <= set(actual), f"{where}: missing {set(keys) - set(actual)}"
        else:
            assert list(actual) == keys, f"{where}: fields {list(actual)} != documented {keys}"
        for k in keys:
            matches(doc[k], actual[k], f"{where}.{k}")
    else:
        assert actual == doc, f"{where}: {actual!r} != {doc!r}"


def parse_http(text):
    head, _, body = text.replace("\r\n", "\n").partition("\n\n")
    lines = head.strip().split("\n")
    status = int(lines[0].split()[1])
    headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if line.strip()]
    return status, headers, body.strip()




def test_every_documented_example(plain_daemon):
    daemon = plain_daemon
    env = dict(os.environ)
    ran = 0
    for command, answer in examples():
        cmd = command.replace("/run/keygate/keygate.sock", daemon.service).replace("/run/keygate/admin.sock", daemon.admin)
        r = subprocess.run(["bash", "-c", cmd], env=env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"{command}\n{r.stderr}"
        got_status, got_headers, got_body = parse_http(r.stdout)
        want_status, want_headers, want_body = parse_http(answer)
        where = command.split("\n")[0]
        assert got_status == want_status, f"{where}: status {got_status}, documented {want_status}\n{r.stdout}"
        got = {k.lower(): v for k, v in got_headers}
        for k, v in want_headers:
            assert k.lower() in got, f"{where}: no {k} header\n{r.stdout}"
            matches(v, got[k.lower()], f"{where} {k}")
        if want_body.startswith("{"):
            actual = json.loads(got_body)
            matches(json.loads(want_body), actual, where)
            for field, var in (("key", "KEY"), ("id", "KEY_ID"), ("client_secret", "CLIENT_SECRET"), ("access_token", "TOKEN")):
                if isinstance(actual.get(field), str) and (field != "id" or actual[field].startswith("key_")):
                    env[var] = actual[field]
            if "client_secret" in actual:
                env["CLIENT_ID"] = actual["client_id"]
        elif want_body:
            for line in want_body.split("\n"):
                prefix = line.split("…")[0]
                assert any(l.startswith(prefix) for l in got_body.split("\n")), f"{where}: no line starting {prefix!r}"
        else:
            assert got_body == "", f"{where}: unexpected body {got_body!r}"
        ran += 1
    assert ran >= 28, "docs/API.md lost examples"
    # Every operation of both documents has at least one example.
    text = open(DOC, encoding="utf-8").read()
    for name in ("service", "admin"):
        doc = json.load(open(os.path.join(os.path.dirname(DOC), "openapi", name + ".json")))
        for path, item in doc["paths"].items():
            for method in item:
                if method == "head":
                    continue
                assert f"`{method.upper()} {path}`" in text, f"docs/API.md has no example for {method.upper()} {path}"
