#!/usr/bin/env bash
# What TTFT hedging buys when one node is sometimes slow to its first token. One run on 127.0.0.1,
# one request at a time (latency, not throughput): two aiproxy-mock-llm nodes behind one upstream
# (round robin); node "slow" waits SLOW_MS more before every 10th answer of its own (10% of its
# requests), node "fast" never does. The same streaming chat requests go through aiproxyd with
# hedging off and with hedge {after_ms: AFTER_MS}; curl's time_starttransfer is the time to the
# first token (the gateway sends nothing before the first content event).
#
# usage: bash bench/hedging.sh
# env:   AIPROXYD (default build/aiproxyd), MOCK (default build/aiproxy-mock-llm),
#        REQUESTS per mode (default 200), SLOW_MS (default 2000), AFTER_MS (default 200)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=SCRIPTDIR/../tests/e2e/lib.sh
source "$repo/tests/e2e/lib.sh"

aiproxyd=${AIPROXYD:-$repo/build/aiproxyd}
mock=${MOCK:-$repo/build/aiproxy-mock-llm}
requests=${REQUESTS:-200}
slow_ms=${SLOW_MS:-2000}
after_ms=${AFTER_MS:-200}
command -v curl >/dev/null || { echo "bench: curl is not installed" >&2; exit 1; }
for binary in "$aiproxyd" "$mock"; do
    [[ -x $binary ]] || { echo "bench: $binary not found (make build)" >&2; exit 1; }
done

e2e_init hedging
body='{"model":"m","stream":true,"messages":[{"role":"user","content":"hello there"}]}'

# mode NAME HEDGE_LINE: fresh mock nodes and a fresh gateway per mode, so both modes see the same
# sequence of slow answers.
: >"$E2E_TMP/rows"
mode() {
    local name=$1 hedge=$2 slow_port fast_port url gateway slow_pid fast_pid
    start_listening "slow-$name" 15 "$mock" --port 0 --name slow --stream-chunk-ms 1 \
        --slow-ms "$slow_ms" --slow-every 10
    slow_port=$LISTEN_PORT
    slow_pid=$BG_PID
    start_listening "fast-$name" 15 "$mock" --port 0 --name fast --stream-chunk-ms 1
    fast_port=$LISTEN_PORT
    fast_pid=$BG_PID
    cat >"$E2E_TMP/$name.yaml" <<YAML
server: {listen: ["127.0.0.1:0"], workers: 1, drain_timeout: 5}
status: {enabled: false}
admin: {enabled: false}
log: {access_log: "off", level: info}
upstreams:
  - id: pool
    nodes: {"127.0.0.1:$slow_port": 1, "127.0.0.1:$fast_port": 1}
    retry_budget: {ratio: 1, min_per_second: 100}
routes:
  - id: llm
    uri: /llm/*
    plugins:
      ai-proxy:
        upstream_id: pool
        retry: 1
$hedge
YAML
    start_listening "aiproxyd-$name" 15 "$aiproxyd" -c "$E2E_TMP/$name.yaml"
    gateway=$BG_PID
    url="http://127.0.0.1:$LISTEN_PORT/llm/chat/completions"
    : >"$E2E_TMP/ttft-$name"
    for ((i = 0; i < requests; i++)); do
        curl -sS -o /dev/null --max-time 30 -w '%{time_starttransfer}\n' \
            -H 'Content-Type: application/json' -d "$body" "$url" >>"$E2E_TMP/ttft-$name"
    done
    for pid in "$gateway" "$slow_pid" "$fast_pid"; do
        kill "$pid"
        wait "$pid" 2>/dev/null || true
    done
    sort -g "$E2E_TMP/ttft-$name" | awk -v name="$name" '
        { v[NR] = $1 * 1000 }
        END {
            p50 = v[int((NR - 1) * 0.50) + 1]; p90 = v[int((NR - 1) * 0.90) + 1]
            p99 = v[int((NR - 1) * 0.99) + 1]
            printf "%-12s %8d %9.1f %9.1f %9.1f %9.1f\n", name, NR, p50, p90, p99, v[NR]
        }' >>"$E2E_TMP/rows"
}
mode hedging-off ""
mode hedging-on "        hedge: {after_ms: $after_ms, max: 1}"

echo
echo "TTFT (curl time_starttransfer), $requests streaming requests per mode, one at a time;"
echo "node slow: +${slow_ms} ms before every 10th of its answers; hedge after_ms=$after_ms"
printf "%-12s %8s %9s %9s %9s %9s\n" mode requests "p50 ms" "p90 ms" "p99 ms" "max ms"
cat "$E2E_TMP/rows"
