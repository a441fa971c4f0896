#!/usr/bin/env bash
# config/aiproxyd.service passes `systemd-analyze verify` without a single warning, and keeps the
# settings the deployment relies on (Type=notify, the service user, hardening).
#   systemd_unit_test.sh AIPROXYD MAN_PAGE      (ctest: deploy_systemd_unit)
# Exit 77 (skipped) where systemd-analyze is missing.
set -euo pipefail
aiproxyd=$1
man_page=$2
unit_source="$(cd "$(dirname "$0")/../.." && pwd)/config/aiproxyd.service"

if ! command -v systemd-analyze >/dev/null; then
    echo "SKIP: systemd-analyze is not installed (apt-get install systemd)"
    exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# verify checks that ExecStart's binary exists: point it at the one just built.
sed "s#/usr/bin/aiproxyd#$aiproxyd#g" "$unit_source" >"$work/aiproxyd.service"
# It also runs `man` for every Documentation=man: entry; serve it the generated page.
man_flag=--man=no
if command -v man >/dev/null; then
    mkdir -p "$work/man/man8"
    cp "$man_page" "$work/man/man8/aiproxyd.8"
    export MANPATH="$work/man"
    man_flag=--man=yes
fi

set +e
output=$(systemd-analyze verify "$man_flag" "$work/aiproxyd.service" 2>&1)
status=$?
set -e
# Unknown keys and bad values are only warnings for verify: any output at all fails the test.
if [ "$status" -ne 0 ] || [ -n "$output" ]; then
    fail "systemd-analyze verify (exit $status):"$'\n'"$output"
fi

expect() {
    grep -qxF -- "$1" "$unit_source" || fail "the unit lacks the line: $1"
}
expect "Type=notify"
expect "NotifyAccess=main"
expect "ExecStart=/usr/bin/aiproxyd -c /etc/aiproxy/aiproxy.yaml"
# shellcheck disable=SC2016 # $MAINPID is systemd's, not ours
expect 'ExecReload=/bin/kill -HUP $MAINPID'
expect "User=aiproxy"
expect "StateDirectory=aiproxy"
expect "ConfigurationDirectory=aiproxy"
expect "EnvironmentFile=-/etc/aiproxy/aiproxy.env"
expect "LimitNOFILE=65536"
expect "NoNewPrivileges=yes"
expect "ProtectSystem=strict"
expect "ProtectHome=yes"
expect "PrivateTmp=yes"
expect "CapabilityBoundingSet="
expect "AmbientCapabilities="
! grep -q '^AmbientCapabilities=.' "$unit_source" ||
    fail "the default unit must not grant capabilities"

# The stop timeout must outlast the default drain (server.drain_timeout: 30).
stop_timeout=$(sed -n 's/^TimeoutStopSec=//p' "$unit_source")
[ "${stop_timeout:-0}" -gt 30 ] || fail "TimeoutStopSec=$stop_timeout does not cover the 30 s drain"

echo "PASS: systemd-analyze verify is clean; Type=notify, user aiproxy and hardening in place"
