#!/usr/bin/env bash
# Throughput, latency and CPU cost of aiproxyd against nginx, in one run on 127.0.0.1:
#   direct   wrk -> backend (nginx returning a fixed chat completion)
#   nginx    wrk -> nginx reverse proxy (1 worker, keep-alive upstream) -> backend
#   aiproxyd wrk -> aiproxyd (1 worker) -> backend
#   nginx-log, aiproxyd-log: the same, each writing a JSON access-log line per request to a file
# See bench/README.md for how to read the table.
#
# usage: bash bench/run.sh
# env:   AIPROXYD (default build/aiproxyd), DURATION (s, default 10), WARMUP (s, default 2),
#        THREADS (wrk, default 2), CONNECTIONS (wrk, default 64)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=SCRIPTDIR/../tests/e2e/lib.sh
source "$repo/tests/e2e/lib.sh"

aiproxyd=${AIPROXYD:-$repo/build/aiproxyd}
duration=${DURATION:-10}
warmup=${WARMUP:-2}
threads=${THREADS:-2}
connections=${CONNECTIONS:-64}
chat_body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'

for tool in nginx wrk curl; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 1; }
done
[[ -x $aiproxyd ]] || { echo "bench: $aiproxyd not found (make build, or set AIPROXYD)" >&2; exit 1; }

e2e_init bench
clk_tck=$(getconf CLK_TCK)

# render TEMPLATE OUT [NAME PORT ACCESS_LOG]: fills @TMP@, @BACKEND_PORT@, @USER_DIRECTIVE@,
# @NAME@ (file names), @PROXY_PORT@ and @ACCESS_LOG@ (nginx's directive or aiproxyd's value).
render() {
    sed -e "s|@TMP@|$E2E_TMP|g" -e "s|@BACKEND_PORT@|$backend_port|g" \
        -e "s|@USER_DIRECTIVE@|$user_directive|g" -e "s|@NAME@|${3:-proxy}|g" \
        -e "s|@PROXY_PORT@|${4:-0}|g" -e "s|@ACCESS_LOG@|${5:-}|g" "$1" >"$2"
}

# wait_ready NAME URL PID: bounded wait until a chat request through URL answers 200.
wait_ready() {
    local i status
    for ((i = 0; i < 100; i++)); do
        kill -0 "$3" 2>/dev/null || break
        status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST \
            -H 'Content-Type: application/json' -d "$chat_body" "$2") || true
        [[ $status == 200 ]] && return 0
        sleep 0.1
    done
    echo "bench: $1 did not answer 200 on $2 (last status ${status:-none})" >&2
    return 1
}

# cpu_ticks PID: utime+stime of PID and its direct children (nginx workers), in clock ticks.
cpu_ticks() {
    local total=0 pid stat fields
    for pid in "$1" $(pgrep -P "$1" || true); do
        stat=$(<"/proc/$pid/stat") || continue
        # Fields after "(comm) ": state is fields[0], utime fields[11], stime fields[12].
        read -ra fields <<<"${stat##*) }"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

# measure NAME URL PROXY_PID: warm-up, then the timed run; appends a row to $E2E_TMP/rows.
measure() {
    local name=$1 url=$2 proxy_pid=$3 out="$E2E_TMP/wrk-$1.txt"
    local proxy_before=0 proxy_after=0 backend_before backend_after result
    echo "bench: $name: warm-up ${warmup}s, run ${duration}s ($url)" >&2
    timeout $((warmup + 30)) wrk -t"$threads" -c"$connections" -d"${warmup}s" \
        -s "$here/chat.lua" "$url" >/dev/null
    [[ -n $proxy_pid ]] && proxy_before=$(cpu_ticks "$proxy_pid")
    backend_before=$(cpu_ticks "$backend_pid")
    timeout $((duration + 30)) wrk -t"$threads" -c"$connections" -d"${duration}s" --latency \
        -s "$here/chat.lua" "$url" >"$out"
    [[ -n $proxy_pid ]] && proxy_after=$(cpu_ticks "$proxy_pid")
    backend_after=$(cpu_ticks "$backend_pid")
    result=$(grep '^RESULT ' "$out") || { cat "$out" >&2; return 1; }
    echo "$name $url ${proxy_pid:+$((proxy_after - proxy_before))} " \
        "$((backend_after - backend_before)) ${result#RESULT }" >>"$E2E_TMP/rows"
}

user_directive=""
if [[ $(id -u) == 0 ]]; then
    # As root, nginx workers would drop to "nobody"; keep them as the current user.
    user_directive="user $(id -un) $(id -gn);"
fi
backend_port=$(free_port)
proxy_port=$(free_port)
while [[ $proxy_port == "$backend_port" ]]; do proxy_port=$(free_port); done
log_port=$(free_port)
while [[ $log_port == "$backend_port" || $log_port == "$proxy_port" ]]; do log_port=$(free_port); done

render "$here/nginx-backend.conf.in" "$E2E_TMP/backend.conf"
render "$here/nginx-proxy.conf.in" "$E2E_TMP/proxy.conf" proxy "$proxy_port" "access_log off;"
render "$here/nginx-proxy.conf.in" "$E2E_TMP/proxy-log.conf" proxy-log "$log_port" \
    "access_log $E2E_TMP/nginx-access.log json;"
render "$here/aiproxy.yaml.in" "$E2E_TMP/aiproxy.yaml" aiproxy 0 off
render "$here/aiproxy.yaml.in" "$E2E_TMP/aiproxy-log.yaml" aiproxy-log 0 "$E2E_TMP/aiproxy-access.log"

start_bg "$E2E_TMP/backend.log" nginx -p "$E2E_TMP" -e "$E2E_TMP/backend-error.log" \
    -c "$E2E_TMP/backend.conf"
backend_pid=$BG_PID
backend_url="http://127.0.0.1:$backend_port/v1/chat/completions"
wait_ready backend "$backend_url" "$backend_pid" || { show_log "$E2E_TMP/backend-error.log"; exit 1; }

start_bg "$E2E_TMP/proxy.log" nginx -p "$E2E_TMP" -e "$E2E_TMP/proxy-error.log" \
    -c "$E2E_TMP/proxy.conf"
nginx_pid=$BG_PID
nginx_url="http://127.0.0.1:$proxy_port/llm/chat/completions"
wait_ready nginx "$nginx_url" "$nginx_pid" || { show_log "$E2E_TMP/proxy-error.log"; exit 1; }

start_bg "$E2E_TMP/proxy-log.log" nginx -p "$E2E_TMP" -e "$E2E_TMP/proxy-log-error.log" \
    -c "$E2E_TMP/proxy-log.conf"
nginx_log_pid=$BG_PID
nginx_log_url="http://127.0.0.1:$log_port/llm/chat/completions"
wait_ready nginx-log "$nginx_log_url" "$nginx_log_pid" || { show_log "$E2E_TMP/proxy-log-error.log"; exit 1; }

start_listening aiproxyd 15 "$aiproxyd" -c "$E2E_TMP/aiproxy.yaml"
aiproxyd_pid=$BG_PID
aiproxyd_url="http://127.0.0.1:$LISTEN_PORT/llm/chat/completions"
wait_ready aiproxyd "$aiproxyd_url" "$aiproxyd_pid" || { show_log "$E2E_TMP/aiproxyd.log"; exit 1; }

start_listening aiproxyd-log 15 "$aiproxyd" -c "$E2E_TMP/aiproxy-log.yaml"
aiproxyd_log_pid=$BG_PID
aiproxyd_log_url="http://127.0.0.1:$LISTEN_PORT/llm/chat/completions"
wait_ready aiproxyd-log "$aiproxyd_log_url" "$aiproxyd_log_pid" ||
    { show_log "$E2E_TMP/aiproxyd-log.log"; exit 1; }

: >"$E2E_TMP/rows"
measure direct "$backend_url" ""
measure nginx "$nginx_url" "$nginx_pid"
measure aiproxyd "$aiproxyd_url" "$aiproxyd_pid"
measure nginx-log "$nginx_log_url" "$nginx_log_pid"
measure aiproxyd-log "$aiproxyd_log_url" "$aiproxyd_log_pid"

echo
echo "wrk -t$threads -c$connections -d${duration}s (warm-up ${warmup}s), POST chat completion," \
    "$(nproc) CPUs, $(nginx -v 2>&1 | sed 's/.*: //'), 1 proxy worker each"
awk -v tck="$clk_tck" '
    function cpu(ticks, n) { return ticks == "" ? "-" : sprintf("%.1f", ticks * 1e6 / tck / n) }
    BEGIN {
        printf "%-12s %10s %9s %9s %15s %17s %7s\n",
               "target", "RPS", "p50 ms", "p99 ms", "proxy CPU us/rq", "backend CPU us/rq", "errors"
    }
    {
        # name url [proxy_ticks] backend_ticks key=value...
        proxy = NF == 10 ? $3 : ""
        backend = NF == 10 ? $4 : $3
        for (i = NF - 5; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
        rps = r["requests"] * 1e6 / r["duration_us"]
        printf "%-12s %10.0f %9.2f %9.2f %15s %17s %7d\n", $1, rps, r["p50_us"] / 1000,
               r["p99_us"] / 1000, cpu(proxy, r["requests"]), cpu(backend, r["requests"]),
               r["errors"] + r["non_2xx"]
        rate[$1] = rps
    }
    END {
        if (rate["nginx"] > 0) printf "aiproxyd/nginx RPS ratio: %.2f\n", rate["aiproxyd"] / rate["nginx"]
        if (rate["nginx-log"] > 0) {
            printf "aiproxyd-log/nginx-log RPS ratio: %.2f\n", rate["aiproxyd-log"] / rate["nginx-log"]
        }
    }' "$E2E_TMP/rows"
