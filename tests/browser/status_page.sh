#!/usr/bin/env bash
# The status page in a real browser: two mock backends and aiproxyd started here (port 0), then
# `node status_page.test.mjs` drives headless Chromium (Debian's chromium, through puppeteer-core)
# against the page on the status port. Screenshots go to ARTIFACT_DIR.
#
# usage: status_page.sh AIPROXYD MOCK_LLM ARTIFACT_DIR    (exit 0 pass, 1 fail, 77 skipped)
# CHROMIUM=<path> picks the browser (default: chromium on the PATH).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../e2e/lib.sh
source "$here/../e2e/lib.sh"

aiproxyd=${1:?usage: status_page.sh AIPROXYD MOCK_LLM ARTIFACT_DIR}
mock=${2:?usage: status_page.sh AIPROXYD MOCK_LLM ARTIFACT_DIR}
artifacts=${3:?usage: status_page.sh AIPROXYD MOCK_LLM ARTIFACT_DIR}
aiproxyd=$(require_executable "$aiproxyd")

chromium=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [[ -z $chromium ]]; then
    echo "SKIP: no chromium for the browser test (make test-browser installs Debian's chromium)"
    exit 77
fi
require_node 18 "the browser test"
npm_ci_if_stale "$here"

e2e_init status-page
mkdir -p "$artifacts"

start_mock() {
    start_listening "$1" 10 "$mock" --host 127.0.0.1 --port 0 --name "$@"
}
start_mock primary
primary_port=$LISTEN_PORT
start_mock spare
spare_port=$LISTEN_PORT

# Active probes every second (one failed probe marks a node down, one good one brings it back),
# and passive checks with a short cooldown, so the page's colours follow the backend quickly.
cat >"$E2E_TMP/aiproxy.yaml" <<EOF
server:
  listen: ["127.0.0.1:0"]
  workers: 1
  drain_timeout: 5
status:
  listen: "127.0.0.1:0"
admin:
  enabled: false
storage:
  data_dir: "$E2E_TMP/data"
pricing:
  gpt-4o-mini: {input_per_mtok: 0.15, output_per_mtok: 0.6}
upstreams:
  - id: primary
    nodes: {"127.0.0.1:$primary_port": 1}
    checks:
      active:
        http_path: /v1/models
        healthy: {interval: 1, successes: 1}
        unhealthy: {interval: 1, http_failures: 1, tcp_failures: 1, timeouts: 1}
      passive:
        cooldown: 1
        unhealthy: {http_failures: 1}
  - id: spare
    nodes: {"127.0.0.1:$spare_port": 1}
routes:
  - id: chat
    uri: /llm/*
    plugins:
      ai-proxy: {upstream_id: primary, upstream_fallback_id: spare, retry: 1, timeout: 10000}
EOF

start_listening aiproxyd 15 "$aiproxyd" -c "$E2E_TMP/aiproxy.yaml"
daemon_pid=$BG_PID
data_port=$LISTEN_PORT
if ! status_port=$(wait_for_status_port "$E2E_TMP/aiproxyd.log" "$daemon_pid" 10) ||
    ! wait_for_line "$E2E_TMP/aiproxyd.log" "$daemon_pid" ' ready: ' 10 >/dev/null; then
    echo "FAIL: aiproxyd did not report its status endpoint or get ready" >&2
    show_log "$E2E_TMP/aiproxyd.log"
    exit 1
fi

rc=0
CHROMIUM="$chromium" ARTIFACT_DIR="$artifacts" \
    STATUS_URL="http://127.0.0.1:$status_port" GATEWAY_URL="http://127.0.0.1:$data_port" \
    PRIMARY_MOCK_URL="http://127.0.0.1:$primary_port" PRIMARY_NODE="127.0.0.1:$primary_port" \
    timeout 120 node --test "$here/status_page.test.mjs" || rc=$?

if ((rc != 0)); then
    show_log "$E2E_TMP/aiproxyd.log"
    exit 1
fi
echo "# status page browser test passed; screenshots in $artifacts"
