"""keygate mcp with the official Python MCP client (mcp 2.3.0) over stdio,
against a real keygated: modes, tools, confinement, secrets, refusals, EOF."""
import asyncio
import json
import os
import stat
import subprocess
import tempfile

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.client import Client
from mcp.shared.exceptions import MCPError

from conftest import KEYGATE, Keygated

WRITE_TOOLS = {"create_key", "update_key", "delete_key", "generate_client", "delete_client", "revoke_tokens", "roll_key"}
READ_TOOLS = {"status", "list_accounts", "list_keys", "show_client", "key_usage", "client_usage"}


@pytest.fixture
def daemon():
    # admin_mode 0666: another uid can connect, so that the daemon itself refuses it.
    d = Keygated()
    with open(d.config) as f:
        text = f.read()
    with open(d.config, "w") as f:
        f.write(text.replace("  admin_socket:", '  admin_mode: "0666"\n  admin_socket:', 1))
    os.chmod(d.dir, 0o711)  # and may reach it
    d.start()
    yield d
    d.cleanup()


def params(d, *args, capture=None, prefix=()):
    """The server as the client starts it; with `capture`, every byte it writes
    to stdout is also kept in that file."""
    cmd = [*prefix, KEYGATE, "mcp", "--admin-socket", d.admin, *args]
    if capture:
        quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in cmd)
        return StdioServerParameters(command="bash", args=["-c", f"set -o pipefail; {quoted} | tee {capture}"])
    return StdioServerParameters(command=cmd[0], args=cmd[1:])


def run(coro):
    return asyncio.run(coro)


async def session_call(p, body):
    async with stdio_client(p) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            return await body(s)


def data(result):
    assert not result.is_error, result.content[0].text
    assert json.loads(result.content[0].text) == result.structured_content, "the text is the same JSON"
    return result.structured_content


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_initialize_in_both_client_modes(daemon, mode):
    async def go():
        async with Client(params(daemon), mode=mode) as c:
            assert c.protocol_version == "2025-11-25"
            assert c.server_info.name == "keygate"
            tools = await c.list_tools()
            assert {t.name for t in tools.tools} == READ_TOOLS
            status = data(await c.call_tool("status", {}))
            assert status["config"]["path"] == daemon.config
    run(go())


def test_older_protocol_versions_are_answered_in_kind(daemon):
    for version in ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"):
        msg = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        r = subprocess.run([KEYGATE, "mcp", "--admin-socket", daemon.admin], input=json.dumps(msg) + "\n",
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.strip().split("\n")
        assert len(lines) == 1, "nothing but protocol messages on stdout"
        assert json.loads(lines[0])["result"]["protocolVersion"] == version


def test_tools_schemas_annotations_and_the_write_filter(daemon):
    import jsonschema

    async def go(p):
        async def body(s):
            return (await s.list_tools()).tools
        return await session_call(p, body)
    read_only = run(go(params(daemon)))
    assert {t.name for t in read_only} == READ_TOOLS
    tools = run(go(params(daemon, "--allow-write")))
    assert {t.name for t in tools} == READ_TOOLS | WRITE_TOOLS
    for t in tools:
        jsonschema.Draft202012Validator.check_schema(t.input_schema)
        jsonschema.Draft202012Validator.check_schema(t.output_schema)
        a = t.annotations
        assert a.open_world_hint is False
        assert a.read_only_hint == (t.name in READ_TOOLS)
        assert a.destructive_hint == (t.name in {"delete_key", "generate_client", "delete_client", "revoke_tokens", "roll_key"})
    byname = {t.name: t for t in tools}
    assert byname["delete_key"].annotations.idempotent_hint and byname["update_key"].annotations.idempotent_hint
    assert not byname["create_key"].annotations.idempotent_hint

    # Without --allow-write a write tool is not callable either: a JSON-RPC error.
    async def call_write(s):
        with pytest.raises(MCPError) as e:
            await s.call_tool("create_key", {"account": "acme", "name": "x"})
        return e.value
    err = run(session_call(params(daemon), call_write))
    assert err.error.code == -32602 and "--allow-write" in err.error.message
    assert daemon.cli("key", "list", "acme", "--json").stdout.count('"id"') == 0


def test_key_and_client_lifecycle_with_secrets_kept_out_of_the_context(daemon):
    secret_dir = tempfile.mkdtemp(prefix="kgmcp-", dir="/tmp")
    wire = os.path.join(secret_dir, "wire.out")
    p = params(daemon, "--allow-write", "--secret-dir", os.path.join(secret_dir, "s"), capture=wire)

    async def body(s):
        created = data(await s.call_tool("create_key", {"account": "acme", "name": "CRM sync", "allow_ips": ["203.0.113.7"]}))
        assert "key" not in created and created["secret_hint"].startswith("kg_")
        listed = data(await s.call_tool("list_keys", {"account": "acme"}))
        assert [k["name"] for k in listed["keys"]] == ["CRM sync"]
        updated = data(await s.call_tool("update_key", {"account": "acme", "key_id": created["id"], "name": "CRM sync (EU)"}))
        assert updated["name"] == "CRM sync (EU)" and updated["allow_ips"] == ["203.0.113.7"]
        pair = data(await s.call_tool("generate_client", {"account": "acme"}))
        assert "client_secret" not in pair
        shown = data(await s.call_tool("show_client", {"account": "acme"}))
        assert shown["client_id"] == pair["client_id"]
        return created, pair
    created, pair = run(session_call(p, body))

    path = created["secret_file"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    key = open(path).read().strip()
    assert key.startswith(created["secret_hint"])
    assert daemon.verify(key, ip="203.0.113.7")["valid"] is True
    client_secret = open(pair["secret_file"]).read().strip()
    tok = daemon.session().post("http://keygate/oauth/token", auth=(pair["client_id"], client_secret),
                                data={"grant_type": "client_credentials"})
    assert tok.status_code == 200
    wire_bytes = open(wire, "rb").read()
    assert b'"secret_file"' in wire_bytes, "the capture holds the results"
    for secret in (key, client_secret):
        assert secret.encode() not in wire_bytes, "a secret reached the model's context"
        assert secret[8:].encode() not in wire_bytes

    async def delete(s):
        return data(await s.call_tool("delete_key", {"account": "acme", "key_id": created["id"]}))
    assert run(session_call(params(daemon, "--allow-write"), delete)) == {"deleted": True, "account": "acme", "key_id": created["id"]}
    assert daemon.verify(key, ip="203.0.113.7") == {"valid": False, "code": "UNKNOWN"}


def test_roll_and_usage_tools(daemon):
    """roll_key keeps the new secret out of the context like create_key; the
    usage tools are read-only and answer the admin API's counts."""
    secret_dir = tempfile.mkdtemp(prefix="kgmcp-", dir="/tmp")
    wire = os.path.join(secret_dir, "wire.out")
    k = json.loads(daemon.cli("key", "create", "acme", "--name", "ci", "--json").stdout)
    cid, _ = daemon.new_client("acme")
    for ip in ("127.0.0.1", "127.0.0.1"):
        assert daemon.verify(k["key"], ip=ip)["valid"] is True

    async def read_only(s):
        usage = data(await s.call_tool("key_usage", {"account": "acme", "key_id": k["id"]}))
        client = data(await s.call_tool("client_usage", {"account": "acme"}))
        with pytest.raises(MCPError) as refused:
            await s.call_tool("roll_key", {"account": "acme", "key_id": k["id"]})
        return usage, client, refused.value
    usage, client, refused = run(session_call(params(daemon), read_only))
    assert [(d["valid"], d["refused"]) for d in usage["days"]] == [(2, {})]
    assert client["client_id"] == cid and client["days"] == []
    assert refused.code == -32602 and "--allow-write" in str(refused)
    assert daemon.verify(k["key"])["valid"] is True

    async def roll(s):
        return data(await s.call_tool("roll_key", {"account": "acme", "key_id": k["id"], "grace": "1h"}))
    rolled = run(session_call(params(daemon, "--allow-write", "--secret-dir", os.path.join(secret_dir, "s"), capture=wire), roll))
    assert "key" not in rolled and rolled["id"] == k["id"] and rolled["rolling_until"]
    new = open(rolled["secret_file"]).read().strip()
    assert stat.S_IMODE(os.stat(rolled["secret_file"]).st_mode) == 0o600
    assert new.startswith(rolled["secret_hint"]) and new != k["key"]
    assert daemon.verify(new)["valid"] is True and daemon.verify(k["key"])["valid"] is True
    wire_bytes = open(wire, "rb").read()
    assert new.encode() not in wire_bytes and new[8:].encode() not in wire_bytes


def test_reveal_secrets_puts_them_in_the_result(daemon):
    async def body(s):
        return data(await s.call_tool("create_key", {"account": "acme", "name": "shown"}))
    created = run(session_call(params(daemon, "--allow-write", "--reveal-secrets"), body))
    assert daemon.verify(created["key"])["valid"] is True
    assert "secret_file" not in created


def test_confinement_to_accounts(daemon):
    daemon.cli("key", "create", "globex", "--name", "theirs")
    daemon.cli("key", "create", "acme", "--name", "ours")

    async def body(s):
        accounts = data(await s.call_tool("list_accounts", {}))
        assert [a["account"] for a in accounts["accounts"]] == ["acme"]
        status = data(await s.call_tool("status", {}))
        assert status["counts"]["accounts"] == 1 and status["counts"]["keys"] == 1
        out = []
        for tool, args in (("list_keys", {"account": "globex"}), ("create_key", {"account": "globex", "name": "x"}),
                           ("revoke_tokens", {"account": "globex"}), ("show_client", {"account": "globex"})):
            r = await s.call_tool(tool, args)
            assert r.is_error, tool
            out.append(r.content[0].text)
        return out
    messages = run(session_call(params(daemon, "--allow-write", "--account", "acme"), body))
    assert all("outside what this assistant may manage" in m for m in messages), messages
    assert json.loads(daemon.cli("key", "list", "globex", "--json").stdout)["keys"][0]["name"] == "theirs"
    assert len(json.loads(daemon.cli("key", "list", "globex", "--json").stdout)["keys"]) == 1


def test_bad_arguments_are_error_results_and_change_nothing(daemon):
    async def body(s):
        out = {}
        cases = {
            "missing account": ("list_keys", {}),
            "bad address": ("create_key", {"account": "acme", "name": "x", "allow_ips": ["10.0.0.300"]}),
            "long name": ("create_key", {"account": "acme", "name": "n" * 10000}),
            "wrong type": ("create_key", {"account": "acme", "name": 42}),
            "unknown key": ("delete_key", {"account": "acme", "key_id": "key_AAAAAAAAAAAAAAAA"}),
            "no client": ("show_client", {"account": "acme"}),
        }
        for what, (tool, args) in cases.items():
            r = await s.call_tool(tool, args)
            assert r.is_error, what
            out[what] = r.content[0].text
        with pytest.raises(MCPError) as e:
            await s.call_tool("no_such_tool", {})
        assert e.value.error.code == -32602
        return out
    m = run(session_call(params(daemon, "--allow-write", "--secret-dir", tempfile.mkdtemp(dir="/tmp")), body))
    assert m["missing account"] == "list_keys: 'account' is required"
    assert "'10.0.0.300' is not an IPv4 or IPv6 address" in m["bad address"]
    assert "'name' is 10000 characters; at most 100" in m["long name"]
    assert m["wrong type"] == "create_key: 'name' must be a string, got a number"
    assert "has no key" in m["unknown key"] and "(not_found)" in m["unknown key"]
    assert "has no client credentials" in m["no client"]
    assert json.loads(daemon.cli("accounts", "--json").stdout)["accounts"] == []


def test_a_refused_peer_gets_the_daemons_answer(daemon):
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

    async def body(s):
        return await s.call_tool("list_keys", {"account": "acme"})
    r = run(session_call(params(daemon, prefix=prefix), body))
    assert r.is_error
    assert "access denied: uid 65534" in r.content[0].text and "(forbidden)" in r.content[0].text


def test_resources_are_the_openapi_documents(daemon):
    async def body(s):
        res = await s.list_resources()
        uris = sorted(str(r.uri) for r in res.resources)
        docs = {u: (await s.read_resource(u)).contents[0].text for u in uris}
        return uris, docs
    uris, docs = run(session_call(params(daemon), body))
    assert uris == ["keygate://openapi/admin", "keygate://openapi/service"]
    here = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "openapi")
    for name in ("admin", "service"):
        assert docs[f"keygate://openapi/{name}"] == open(os.path.join(here, name + ".json")).read()


def test_closing_input_mid_request_still_answers_it(daemon):
    msgs = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "create_key", "arguments": {"account": "acme", "name": "late"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "list_accounts", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/list"},
    ]
    r = subprocess.run([KEYGATE, "mcp", "--admin-socket", daemon.admin, "--allow-write", "--secret-dir", tempfile.mkdtemp(dir="/tmp")],
                       input="".join(json.dumps(m) + "\n" for m in msgs), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    answers = {j["id"]: j for j in (json.loads(line) for line in r.stdout.strip().split("\n"))}
    assert sorted(answers) == [1, 2, 3, 4], r.stdout
    assert answers[2]["result"]["isError"] is False
    assert answers[2]["result"]["structuredContent"]["name"] == "late"
    assert json.loads(daemon.cli("key", "list", "acme", "--json").stdout)["keys"][0]["name"] == "late"
