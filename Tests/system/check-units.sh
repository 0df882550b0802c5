#!/usr/bin/env bash
# Static checks of the systemd files in systemd/. Installs nothing and
# changes nothing on the host; needs only systemd-analyze (systemd need not
# be running as PID 1).
#
#   Tests/system/check-units.sh PATH/TO/keygated PATH/TO/keygate
#
# The units are copied to a temporary directory with @BINDIR@/keygated and
# @BINDIR@/keygate replaced by the two paths given (they must exist and be
# executable: `systemd-analyze verify` refuses a unit whose ExecStart= or
# ExecReload= binary is missing). Any executable will do for a syntax check,
# e.g. /bin/true twice.
#
# Checks:
#   - `systemd-analyze verify` accepts each unit without a warning about it;
#   - `systemd-analyze security --offline=true` rates keygated.service at an
#     overall exposure of at most 2.0 ("OK" or better);
#   - the sockets are the ones keygated expects (paths and
#     FileDescriptorName= service/admin);
#   - keygate.sysusers and keygate.tmpfiles apply cleanly to an empty
#     throw-away root (as root only: they chown files; skipped otherwise).
#
# About users: systemd-analyze verify (checked with systemd 252) does not
# resolve User=, Group=, SocketUser= or SocketGroup=, so no `keygate` user is
# needed on the machine running this and none is created. The sysusers file
# is exercised with `systemd-sysusers --root=<temp dir>` instead.
#
# Prints one PASS/FAIL/SKIP line per check, then
#   check-units: N passed, M failed
# and exits 1 if anything failed, 2 on bad usage.

set -u -o pipefail

MAX_EXPOSURE=2.0

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
units_dir=$(cd "$here/../../systemd" && pwd)

usage() {
    echo "usage: $0 PATH/TO/keygated PATH/TO/keygate" >&2
    exit 2
}
[ $# -eq 2 ] || usage

resolve_exe() {
    local p
    p=$(readlink -f -- "$1" 2>/dev/null) || p=""
    if [ -z "$p" ] || [ ! -f "$p" ] || [ ! -x "$p" ]; then
        echo "$0: $1 is not an executable file" >&2
        exit 2
    fi
    printf '%s\n' "$p"
}
keygated=$(resolve_exe "$1") || exit 2
keygate=$(resolve_exe "$2") || exit 2

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "$0: systemd-analyze not found (apt-get install systemd)" >&2
    exit 2
fi

passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
skip() { echo "SKIP: $*"; }
indent() { sed 's/^/    /'; }

work=$(mktemp -d "${TMPDIR:-/tmp}/check-units.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

units=(keygated.service keygated.socket keygated-admin.socket)

# ---- 1. substitute @BINDIR@ -------------------------------------------------
subst_ok=1
for u in "${units[@]}"; do
    if [ ! -f "$units_dir/$u" ]; then
        fail "$u: missing from $units_dir"
        subst_ok=0
        continue
    fi
    text=$(<"$units_dir/$u")
    # keygated first: "@BINDIR@/keygate" is a prefix of "@BINDIR@/keygated".
    text=${text//"@BINDIR@/keygated"/"$keygated"}
    text=${text//"@BINDIR@/keygate"/"$keygate"}
    printf '%s\n' "$text" >"$work/$u"
    if grep -n '@BINDIR@' "$work/$u" >"$work/left" 2>&1; then
        fail "$u: @BINDIR@ used for something other than keygated/keygate:"
        indent <"$work/left"
        subst_ok=0
    fi
done
[ "$subst_ok" = 1 ] && pass "@BINDIR@ substituted in ${units[*]}"

# ---- 2. systemd-analyze verify ----------------------------------------------
# verify exits 0 on unknown or misspelt directives and only warns, so any
# message that names one of our files counts as a failure too.
for u in "${units[@]}"; do
    [ -f "$work/$u" ] || continue
    out=$( cd "$work" && systemd-analyze verify --man=no "$work/$u" 2>&1 )
    rc=$?
    ours=$(printf '%s\n' "$out" | grep -E 'keygate' || true)
    if [ $rc -eq 0 ] && [ -z "$ours" ]; then
        pass "systemd-analyze verify $u"
        if [ -n "$out" ]; then
            echo "    (messages about other units on this machine, ignored:)"
            printf '%s\n' "$out" | indent
        fi
    else
        fail "systemd-analyze verify $u (exit $rc):"
        printf '%s\n' "$out" | indent
    fi
done

# ---- 3. sockets match what keygated expects ----------------------------------
check_socket() {
    local unit=$1 path=$2 name=$3 f="$work/$1"
    [ -f "$f" ] || return
    local listen fdname service
    listen=$(sed -n 's/^ListenStream=//p' "$f")
    fdname=$(sed -n 's/^FileDescriptorName=//p' "$f")
    service=$(sed -n 's/^Service=//p' "$f")
    if [ "$listen" = "$path" ] && [ "$fdname" = "$name" ] && [ "$service" = keygated.service ]; then
        pass "$unit: ListenStream=$path FileDescriptorName=$name Service=keygated.service"
    else
        fail "$unit: expected ListenStream=$path FileDescriptorName=$name Service=keygated.service," \
             "found ListenStream=$listen FileDescriptorName=$fdname Service=$service"
    fi
}
check_socket keygated.socket /run/keygate/keygate.sock service
check_socket keygated-admin.socket /run/keygate/admin.sock admin

# ---- 4. systemd-analyze security ---------------------------------------------
if [ -f "$work/keygated.service" ]; then
    out=$( cd "$work" && systemd-analyze security --offline=true --no-pager "$work/keygated.service" 2>&1 )
    rc=$?
    line=$(printf '%s\n' "$out" | grep -E 'Overall exposure level' | tail -n 1)
    score=$(printf '%s\n' "$line" | sed -nE 's/.*: *([0-9]+\.[0-9]+) .*/\1/p')
    if [ -z "$score" ]; then
        fail "systemd-analyze security keygated.service: no overall exposure in its output (exit $rc):"
        printf '%s\n' "$out" | tail -n 20 | indent
    else
        echo "    systemd-analyze security: exposed settings:"
        printf '%s\n' "$out" | grep -E '^✗' | indent
        if awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }'; then
            pass "systemd-analyze security keygated.service: ${line#*: } (limit $MAX_EXPOSURE)"
        else
            fail "systemd-analyze security keygated.service: ${line#*: } (limit $MAX_EXPOSURE)"
        fi
    fi
fi

# ---- 4b. resource limits: present and no smaller than what was measured -----
mem=$(sed -nE 's/^MemoryMax=([0-9]+)G$/\1/p' "$here/../../systemd/keygated.service")
tasks=$(sed -nE 's/^TasksMax=([0-9]+)$/\1/p' "$here/../../systemd/keygated.service")
if [ -n "$mem" ] && [ "$mem" -ge 3 ]; then
    pass "keygated.service: MemoryMax=${mem}G (1,000,000 keys on 2 cores measured at 1.6 GB resident)"
else
    fail "keygated.service: MemoryMax= missing or below the 1.6 GB measured with 1,000,000 keys on 2 cores"
fi
if [ -n "$tasks" ] && [ "$tasks" -ge 70 ]; then
    pass "keygated.service: TasksMax=$tasks (64 event loops at most, plus the writer, timers and NIO's pool)"
else
    fail "keygated.service: TasksMax= missing or below 64 event loops plus a few"
fi

# ---- 5. sysusers and tmpfiles, against a throw-away root ---------------------
if [ "$(id -u)" -ne 0 ]; then
    skip "keygate.sysusers / keygate.tmpfiles: need root (they chown files in a temporary root)"
else
    root="$work/root"
    mkdir -p "$root/etc"
    if out=$(systemd-sysusers --root="$root" "$units_dir/keygate.sysusers" 2>&1) &&
       grep -q '^keygate:' "$root/etc/passwd" && grep -q '^keygate-admin:' "$root/etc/group"; then
        pass "systemd-sysusers keygate.sysusers (users: keygate; groups: keygate, keygate-admin)"
        if out=$(systemd-tmpfiles --root="$root" --create "$units_dir/keygate.tmpfiles" 2>&1); then
            kid=$(awk -F: '$1 == "keygate" { print $3 ":" $4 }' "$root/etc/passwd")
            got=$(stat -c '%a %u:%g' "$root/run/keygate" "$root/var/lib/keygate" | tr '\n' ' ')
            if [ "$got" = "755 $kid 700 $kid " ]; then
                pass "systemd-tmpfiles keygate.tmpfiles (/run/keygate 0755, /var/lib/keygate 0700, owned by keygate)"
            else
                fail "systemd-tmpfiles keygate.tmpfiles: modes/owners are '$got', expected '755 $kid 700 $kid'"
            fi
        else
            fail "systemd-tmpfiles keygate.tmpfiles:"
            printf '%s\n' "$out" | indent
        fi
    else
        fail "systemd-sysusers keygate.sysusers:"
        printf '%s\n' "$out" | indent
    fi
fi

echo "check-units: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
