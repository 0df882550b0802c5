#!/usr/bin/env bash
# Runs a command with a private PostgreSQL cluster: initdb in a temporary
# directory, a Unix socket in that directory and no TCP listener, trust
# authentication for the socket's owner only. Run as root (as CI does), the
# server runs as the unprivileged user postgres. The command gets
# KEYGATE_TEST_PG_DIR (the socket directory, also ?host= in a storage.url) and
# KEYGATE_TEST_PG_BIN; the cluster is stopped and removed afterwards.
# Usage: Tests/system/with-postgres.sh COMMAND [ARG]...
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "with-postgres.sh: no PostgreSQL server binaries in /usr/lib/postgresql (apt-get install postgresql)" >&2; exit 1; }
dir=$(mktemp -d /tmp/kgpg-XXXXXX)
run=()
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$dir"
  chmod 0755 "$dir"
  run=(runuser -u postgres --)
fi
stop() {
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
"${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
"${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-k $dir -c listen_addresses='' -c max_connections=200 -c fsync=on" start >/dev/null \
  || { cat "$dir/server.log" >&2; exit 1; }
export KEYGATE_TEST_PG_DIR=$dir KEYGATE_TEST_PG_BIN=$bin
set +e
"$@"
status=$?
set -e
exit $status
