#!/usr/bin/env bash
# Verification benchmark: release keygated on a temporary Unix socket, 16
# connections of POST /v1/verify (valid keys, with an address to check) for
# SECONDS, measured by uxload (closed loop, one request in flight per
# connection). Also reports the daemon's CPU time per request.
# Usage: Tests/bench/verify-bench.sh BIN_DIR [SECONDS] [CONNECTIONS]
set -euo pipefail
bin=${1:?usage: verify-bench.sh BIN_DIR [SECONDS] [CONNECTIONS]}
secs=${2:-10}
conns=${3:-16}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/kgbench-XXXXXX)
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
gcc -O2 -o "$work/uxload" "$here/uxload.c"
cat > "$work/keygate.yaml" <<YAML
listen:
  service_socket: $work/s.sock
  admin_socket: $work/a.sock
storage:
  path: $work/keygate.db
ip_lists:
  office: [10.0.0.0/8, "2001:db8::/32"]
policies:
  default:
    max_keys: 5
    allow_ips: ["@office", 192.0.2.0/24]
YAML
"$bin/keygated" --config "$work/keygate.yaml" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do [ -S "$work/a.sock" ] && [ -S "$work/s.sock" ] && break; sleep 0.1; done
# 1000 keys over 200 accounts, so lookups hit a realistic table.
for a in $(seq 200); do
  for k in $(seq 5); do
    curl -s --unix-socket "$work/a.sock" -X POST "http://k/v1/accounts/acct-$a/keys" \
      -H 'Content-Type: application/json' -d "{\"name\":\"k$k\",\"allow_ips\":[\"10.0.0.0/8\"]}" > "$work/key-$a-$k.json"
  done
done
for i in $(seq 16); do
  key=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['key'])" "$work/key-$((i * 11))-$((i % 5 + 1)).json")
  body="{\"key\":\"$key\",\"ip\":\"10.$i.0.1\"}"
  printf 'POST /v1/verify HTTP/1.1\r\nHost: keygate\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' "${#body}" "$body" > "$work/req$i"
done
printf 'GET /healthz HTTP/1.1\r\nHost: keygate\r\n\r\n' > "$work/health"
# Sanity: a request file gives a valid verdict.
curl -s --unix-socket "$work/s.sock" -X POST http://k/v1/verify -d "$(tail -c +1 "$work/req1" | sed -n '$p')" | grep -q '"valid":true'
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
tck=$(getconf CLK_TCK)
"$work/uxload" "$work/s.sock" "$conns" 2 "$work"/req* > /dev/null   # warm-up
c0=$(cpu)
verify=$("$work/uxload" "$work/s.sock" "$conns" "$secs" "$work"/req*)
c1=$(cpu)
n=$(echo "$verify" | awk '{print $2}')
echo "verify:  $verify"
awk -v c="$((c1 - c0))" -v t="$tck" -v n="$n" 'BEGIN { printf "verify:  daemon CPU %.2f us per request (%.1f CPU-seconds)\n", c / t * 1e6 / n, c / t }'
echo "healthz: $("$work/uxload" "$work/s.sock" "$conns" "$secs" "$work/health")"
# Token issuance: 16 clients, each POST /oauth/token with HTTP Basic; every
# token is a durable write (tokens that arrive together share one commit).
for i in $(seq 16); do
  curl -s --unix-socket "$work/a.sock" -X POST "http://k/v1/accounts/oauth-$i/client" > "$work/client-$i.json"
  auth=$(python3 -c "import json,sys,base64;j=json.load(open(sys.argv[1]));print(base64.b64encode((j['client_id']+':'+j['client_secret']).encode()).decode())" "$work/client-$i.json")
  body="grant_type=client_credentials"
  printf 'POST /oauth/token HTTP/1.1\r\nHost: keygate\r\nAuthorization: Basic %s\r\nX-Real-IP: 10.0.0.%d\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s' "$auth" "$i" "${#body}" "$body" > "$work/token$i"
done
c0=$(cpu)
tokens=$("$work/uxload" "$work/s.sock" "$conns" "$secs" "$work"/token*)
c1=$(cpu)
echo "tokens:  $tokens"
n=$(echo "$tokens" | awk '{print $2}')
awk -v c="$((c1 - c0))" -v t="$tck" -v n="$n" 'BEGIN { printf "tokens:  daemon CPU %.2f us per token\n", c / t * 1e6 / n }'
echo "tokens:  $(sqlite3 "$work/keygate.db" 'SELECT count(*) FROM access_tokens' 2>/dev/null || echo '?') token rows on disk"
kill -TERM $pid; wait $pid
