#!/usr/bin/env bash
# The status endpoint as a real Prometheus sees it: a mock backend and aiproxyd (data plane and
# status endpoint on port 0), N requests through the gateway, `promtool check metrics` on the
# scraped text, then a Prometheus server scraping the status port every second until the PromQL
# query sum(aiproxy_http_requests_total) over its HTTP API returns N.
#
# usage: prometheus.sh AIPROXYD MOCK_LLM    (exit 0 pass, 1 fail, 77 skipped)
# Needs promtool and prometheus (Debian: apt-get install --no-install-recommends prometheus).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

aiproxyd=${1:?usage: prometheus.sh AIPROXYD MOCK_LLM}
mock=${2:?usage: prometheus.sh AIPROXYD MOCK_LLM}

for tool in promtool prometheus; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: $tool is not installed (make deps installs the Debian package prometheus)"
        exit 77
    fi
done
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
require_json_tool || { echo "SKIP: neither jq nor node is installed to read JSON"; exit 77; }

e2e_init prometheus

start_listening mock 10 "$mock" --host 127.0.0.1 --port 0 --name prom-mock
mock_port=$LISTEN_PORT

cat >"$E2E_TMP/aiproxy.yaml" <<EOF
server:
  listen: ["127.0.0.1:0"]
  workers: 2
  drain_timeout: 5
status:
  listen: "127.0.0.1:0"
admin:
  enabled: false
storage:
  data_dir: "$E2E_TMP/data"
log:
  level: info
  access_log: off
upstreams:
  - id: primary
    nodes: {"127.0.0.1:$mock_port": 1}
routes:
  - id: llm
    uri: /llm/*
    plugins:
      ai-proxy:
        upstream_id: primary
        timeout: 10000
EOF

start_listening aiproxyd 15 "$aiproxyd" -c "$E2E_TMP/aiproxy.yaml"
aiproxyd_pid=$BG_PID
gateway=http://127.0.0.1:$LISTEN_PORT
if ! status_port=$(wait_for_status_port "$E2E_TMP/aiproxyd.log" "$aiproxyd_pid" 10); then
    echo "FAIL: aiproxyd did not report its status endpoint" >&2
    show_log "$E2E_TMP/aiproxyd.log"
    exit 1
fi
status=http://127.0.0.1:$status_port

# N requests of three kinds; every one of them is counted in aiproxy_http_requests_total.
chat_body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'
stream_body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],"stream":true}'
n=0
answered=0
for i in $(seq 1 12); do
    http "chat$i" -X POST "$gateway/llm/chat/completions" -H 'Content-Type: application/json' \
        -d "$chat_body"
    [[ $HTTP_STATUS == 200 ]] && answered=$((answered + 1))
    n=$((n + 1))
done
for i in $(seq 1 4); do
    http "stream$i" -N -X POST "$gateway/llm/chat/completions" \
        -H 'Content-Type: application/json' -d "$stream_body"
    [[ $HTTP_STATUS == 200 && $CURL_RC == 0 ]] && answered=$((answered + 1))
    n=$((n + 1))
done
for i in $(seq 1 4); do
    http "missing$i" "$gateway/not-routed/$i"
    [[ $HTTP_STATUS == 404 ]] && answered=$((answered + 1))
    n=$((n + 1))
done
expect_eq "every request got its expected status" "$answered" "$n"

# sum_requests FILE: sum(aiproxy_http_requests_total) in a scraped text.
sum_requests() {
    awk '/^aiproxy_http_requests_total[{ ]/ { sum += $NF } END { print sum + 0 }' "$1"
}

# The last answer can be out a moment before its request is counted: poll (bounded) until the
# scrape counts all N, so promtool checks a complete text.
scraped=""
for ((i = 0; i < 50; i++)); do
    http metrics "$status/metrics"
    scraped=$(sum_requests "$E2E_TMP/metrics.body")
    [[ $HTTP_STATUS == 200 && $scraped == "$n" ]] && break
    sleep 0.1
done
expect_eq "/metrics status" "$HTTP_STATUS" 200
expect_match "/metrics content type" "$(header metrics Content-Type)" \
    '^text/plain; version=0\.0\.4'
expect_eq "scraped sum(aiproxy_http_requests_total)" "$scraped" "$n"
# promtool exits non-zero on a parse error and on lint problems alike; its output says which.
if promtool_out=$(promtool check metrics <"$E2E_TMP/metrics.body" 2>&1); then
    pass "promtool check metrics: no errors, no lint problems"
else
    fail "promtool check metrics"
    printf '%s\n' "$promtool_out" | sed 's/^/    /'
fi

prom_port=$(free_port)
cat >"$E2E_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: aiproxy
    static_configs:
      - targets: ["${status#http://}"]
EOF
if ! promtool check config "$E2E_TMP/prometheus.yml" >"$E2E_TMP/promtool-config.log" 2>&1; then
    echo "FAIL: promtool rejects the generated prometheus.yml" >&2
    show_log "$E2E_TMP/promtool-config.log"
    exit 1
fi
start_bg "$E2E_TMP/prometheus.log" prometheus --config.file="$E2E_TMP/prometheus.yml" \
    --storage.tsdb.path="$E2E_TMP/tsdb" --web.listen-address="127.0.0.1:$prom_port"
prom_pid=$BG_PID
prom=http://127.0.0.1:$prom_port

# Bounded wait: Prometheus starts, scrapes (every 1 s) and the query sees the value.
value=""
for ((i = 0; i < 120; i++)); do
    if ! kill -0 "$prom_pid" 2>/dev/null; then
        echo "prometheus exited" >&2
        show_log "$E2E_TMP/prometheus.log"
        break
    fi
    # Refused until Prometheus listens; that is expected, not worth a line each time.
    http query -G "$prom/api/v1/query" --data-urlencode 'query=sum(aiproxy_http_requests_total)' \
        2>/dev/null
    if [[ $HTTP_STATUS == 200 ]]; then
        value=$(body query | json '.data.result[0].value[1]') || value=""
        [[ $value == "$n" ]] && break
    fi
    sleep 0.5
done
expect_eq "PromQL sum(aiproxy_http_requests_total) over the HTTP API" "$value" "$n"

http targets "$prom/api/v1/targets"
target_health=$(body targets | json '.data.activeTargets[0].health') || true
scrape_error=$(body targets | json '.data.activeTargets[0].lastError') || true
expect_eq "the status endpoint is a healthy scrape target" "$target_health" up
expect_eq "no scrape error" "$scrape_error" ""

http ready "$status/readyz"
expect_eq "/readyz while serving" "$HTTP_STATUS" 200

stop_process "$prom_pid" 10 || true
aiproxyd_rc=0
stop_process "$aiproxyd_pid" 10 || aiproxyd_rc=$?
expect_eq "aiproxyd exits 0 on SIGTERM" "$aiproxyd_rc" 0
if [[ $E2E_FAILURES -ne 0 ]]; then
    show_log "$E2E_TMP/aiproxyd.log"
    show_log "$E2E_TMP/prometheus.log"
fi
e2e_finish
