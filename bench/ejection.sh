#!/usr/bin/env bash
# What a dead primary costs each request, before and after passive health ejects it. One run on
# 127.0.0.1, one connection at a time (latency, not throughput), three aiproxyd configurations
# in front of the same nginx backend:
#   healthy    primary = the backend                                  (the baseline)
#   no-eject   primary = a refused port, ejection off (tcp_failures 1e9): every request pays the
#              refused connect, then the fallback (= the backend) answers
#   ejected    primary = the same refused port, default passive checks: after two failures the
#              node is ejected and requests go straight to the fallback
# Added latency = p50 of a configuration minus p50 of healthy.
#
# usage: bash bench/ejection.sh
# env:   AIPROXYD (default build/aiproxyd), DURATION (s, default 5), WARMUP (s, default 1)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=SCRIPTDIR/../tests/e2e/lib.sh
source "$repo/tests/e2e/lib.sh"

aiproxyd=${AIPROXYD:-$repo/build/aiproxyd}
duration=${DURATION:-5}
warmup=${WARMUP:-1}
for tool in nginx wrk curl; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 1; }
done
[[ -x $aiproxyd ]] || { echo "bench: $aiproxyd not found (make build, or set AIPROXYD)" >&2; exit 1; }

e2e_init ejection
user_directive=""
[[ $(id -u) == 0 ]] && user_directive="user $(id -un) $(id -gn);"
backend_port=$(free_port)
refused_port=$(free_port)  # nothing listens there: connections are refused
while [[ $refused_port == "$backend_port" ]]; do refused_port=$(free_port); done
sed -e "s|@TMP@|$E2E_TMP|g" -e "s|@BACKEND_PORT@|$backend_port|g" \
    -e "s|@USER_DIRECTIVE@|$user_directive|g" "$here/nginx-backend.conf.in" >"$E2E_TMP/backend.conf"
start_bg "$E2E_TMP/backend.log" nginx -p "$E2E_TMP" -e "$E2E_TMP/backend-error.log" \
    -c "$E2E_TMP/backend.conf"
backend_pid=$BG_PID
for ((i = 0; i < 100; i++)); do
    curl -s -o /dev/null -X POST "http://127.0.0.1:$backend_port/v1/chat/completions" && break
    kill -0 "$backend_pid" || { show_log "$E2E_TMP/backend-error.log"; exit 1; }
    sleep 0.1
done

# config NAME PRIMARY_PORT TCP_FAILURES
config() {
    cat >"$E2E_TMP/$1.yaml" <<YAML
server: {listen: ["127.0.0.1:0"], workers: 1, drain_timeout: 5}
status: {enabled: false}
admin: {enabled: false}
log: {access_log: "off", level: info}  # the default: failed attempts are logged
upstreams:
  - id: primary
    nodes: {"127.0.0.1:$2": 1}
    checks: {passive: {unhealthy: {tcp_failures: $3}}}
  - id: fallback
    nodes: {"127.0.0.1:$backend_port": 1}
routes:
  - id: llm
    uri: /llm/*
    plugins: {ai-proxy: {upstream_id: primary, upstream_fallback_id: fallback, retry: 1}}
YAML
}

: >"$E2E_TMP/rows"
run() {
    local name=$1 out="$E2E_TMP/wrk-$1.txt" url
    start_listening "aiproxyd-$name" 15 "$aiproxyd" -c "$E2E_TMP/$name.yaml"
    url="http://127.0.0.1:$LISTEN_PORT/llm/chat/completions"
    timeout $((warmup + 30)) wrk -t1 -c1 -d"${warmup}s" -s "$here/chat.lua" "$url" >/dev/null
    timeout $((duration + 30)) wrk -t1 -c1 -d"${duration}s" --latency -s "$here/chat.lua" \
        "$url" >"$out"
    kill "$BG_PID"
    wait "$BG_PID" 2>/dev/null || true
    echo "$name $(grep '^RESULT ' "$out" | sed 's/^RESULT //')" >>"$E2E_TMP/rows"
}
config healthy "$backend_port" 2
config no-eject "$refused_port" 1000000000
config ejected "$refused_port" 2
run healthy
run no-eject
run ejected

echo
echo "wrk -t1 -c1 -d${duration}s (warm-up ${warmup}s), refused primary, fallback = nginx backend"
awk '
    BEGIN { printf "%-9s %9s %9s %9s %12s %7s\n", "primary", "RPS", "p50 us", "p99 us",
            "added p50 us", "errors" }
    {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
        if ($1 == "healthy") base = r["p50_us"]
        printf "%-9s %9.0f %9d %9d %12d %7d\n", $1, r["requests"] * 1e6 / r["duration_us"],
               r["p50_us"], r["p99_us"], r["p50_us"] - base, r["errors"] + r["non_2xx"]
    }' "$E2E_TMP/rows"
