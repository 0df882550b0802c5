"""GET /metrics parsed by the Prometheus client library's own text parser."""
import json

from prometheus_client.parser import text_string_to_metric_families


def scrape(d):
    r = d.session().get("http://keygate/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_metrics_count_what_happened(daemon):
    before = scrape(daemon)
    key = json.loads(daemon.cli("key", "create", "acme", "--name", "m", "--json").stdout)["key"]
    for _ in range(3):
        assert daemon.verify(key)["valid"] is True
    daemon.verify("kg_typo")
    daemon.verify(key[:-1] + ("A" if key[-1] != "A" else "B"))
    cid, secret = daemon.new_client("acme")
    s = daemon.session()
    for _ in range(2):
        assert s.post("http://keygate/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, secret)).status_code == 200
    daemon.cli("reload")
    daemon.write_config("bogus: 1\n")
    assert daemon.cli("reload", check=False).returncode == 1
    m = scrape(daemon)
    valid = ("keygate_verifications_total", (("kind", "api_key"), ("result", "valid")))
    assert m[valid] - before[valid] == 3
    malformed = ("keygate_verifications_total", (("result", "MALFORMED"),))
    assert m[malformed] - before[malformed] == 2
    assert m[("keygate_tokens_issued_total", ())] == 2
    assert m[("keygate_live_tokens", ())] == 2
    assert m[("keygate_api_keys", ())] == 1
    assert m[("keygate_clients", ())] == 1
    assert m[("keygate_reloads_total", (("result", "success"),))] == 1
    assert m[("keygate_reloads_total", (("result", "failure"),))] == 1
    assert m[("keygate_last_reload_success_timestamp_seconds", ())] >= m[("keygate_start_time_seconds", ())]
    count = m[("keygate_request_duration_seconds_count", (("socket", "service"),))]
    inf = m[("keygate_request_duration_seconds_bucket", (("le", "+Inf"), ("socket", "service")))]
    assert count == inf and count >= 8
    assert m[("keygate_request_duration_seconds_count", (("socket", "admin"),))] >= 4
