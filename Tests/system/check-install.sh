#!/usr/bin/env bash
# make install-files / make uninstall into a temporary DESTDIR: what lands
# where, @BINDIR@ substituted, a sysadmin's keygate.yaml never overwritten,
# configuration kept by uninstall. Uses the given build's binaries (install
# itself builds release ones).
#   Tests/system/check-install.sh BIN_DIR
set -u -o pipefail
bin=${1:?usage: check-install.sh BIN_DIR}
cd "$(dirname "$0")/../.."
dest=$(mktemp -d /tmp/kginstall-XXXXXX)
trap 'rm -rf "$dest"' EXIT
pass=0 fail=0
check() { if eval "$2"; then echo "PASS: $1"; pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi; }

make -s --no-print-directory install-files BIN_SRC="$bin" DESTDIR="$dest" PREFIX=/opt/kg >/dev/null
check "binaries in PREFIX/bin" '[ -x "$dest/opt/kg/bin/keygated" ] && [ -x "$dest/opt/kg/bin/keygate" ]'
check "units in PREFIX/lib/systemd/system" '[ -f "$dest/opt/kg/lib/systemd/system/keygated.service" ] && [ -f "$dest/opt/kg/lib/systemd/system/keygated.socket" ] && [ -f "$dest/opt/kg/lib/systemd/system/keygated-admin.socket" ]'
check "@BINDIR@ replaced by PREFIX/bin" 'grep -q "^ExecStart=/opt/kg/bin/keygated " "$dest/opt/kg/lib/systemd/system/keygated.service" && ! grep -rq "@BINDIR@" "$dest/opt/kg/lib/systemd/system"'
check "sysusers and tmpfiles snippets" '[ -f "$dest/opt/kg/lib/sysusers.d/keygate.conf" ] && [ -f "$dest/opt/kg/lib/tmpfiles.d/keygate.conf" ]'
check "nginx snippets" '[ -f "$dest/opt/kg/share/keygate/nginx/keygate.conf" ] && [ -f "$dest/opt/kg/share/keygate/nginx/keygate-upstream.conf" ]'
check "PostgreSQL TCP drop-in" '[ -f "$dest/opt/kg/share/keygate/keygated-postgres-tcp.conf" ]'
check "configuration installed when absent" 'cmp -s etc/keygate/keygate.yaml "$dest/etc/keygate/keygate.yaml"'
check "installed configuration is valid" '"$dest/opt/kg/bin/keygated" --check-config --config "$dest/etc/keygate/keygate.yaml" >/dev/null'
echo "policies: {default: {max_keys: 2}}" > "$dest/etc/keygate/keygate.yaml"
make -s --no-print-directory install-files BIN_SRC="$bin" DESTDIR="$dest" PREFIX=/opt/kg >/dev/null
check "a sysadmin's configuration is never overwritten" 'grep -q "max_keys: 2" "$dest/etc/keygate/keygate.yaml"'
mkdir -p "$dest/var/lib/keygate" && echo state > "$dest/var/lib/keygate/keygate.db"
make -s --no-print-directory uninstall DESTDIR="$dest" PREFIX=/opt/kg >/dev/null
check "uninstall removes binaries, units and snippets" '[ ! -e "$dest/opt/kg/bin/keygated" ] && [ ! -e "$dest/opt/kg/lib/systemd/system/keygated.service" ] && [ ! -e "$dest/opt/kg/lib/sysusers.d/keygate.conf" ] && [ ! -e "$dest/opt/kg/share/keygate" ]'
check "uninstall keeps configuration and state" 'grep -q "max_keys: 2" "$dest/etc/keygate/keygate.yaml" && [ -f "$dest/var/lib/keygate/keygate.db" ]'
echo "check-install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
