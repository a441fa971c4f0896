#!/usr/bin/env bash
# The official openai npm SDK against aiproxyd: five mock backends (one in Anthropic mode) on port 0, the daemon on
# port 0 with a temporary config, then `node --test openai_sdk.test.mjs`.
#
# usage: openai_sdk.sh AIPROXYD MOCK_LLM    (exit 0 pass, 1 fail, 77 skipped)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

aiproxyd=${1:?usage: openai_sdk.sh AIPROXYD MOCK_LLM}
mock=${2:?usage: openai_sdk.sh AIPROXYD MOCK_LLM}

require_node 20 "the openai SDK test"
npm_ci_if_stale "$here"

e2e_init openai-sdk

# start_mock NAME ARGS...: starts a mock on 127.0.0.1:0; its port is in LISTEN_PORT.
start_mock() {
    start_listening "$1" 10 "$mock" --host 127.0.0.1 --port 0 --name "$@"
}

start_mock primary-mock
primary_port=$LISTEN_PORT
start_mock fallback-mock
fallback_port=$LISTEN_PORT
start_mock unavailable-mock --status 503
unavailable_port=$LISTEN_PORT
start_mock unauthorized-mock --status 401
unauthorized_port=$LISTEN_PORT
# Anthropic Messages mode: /v1/messages answers only with this key and an anthropic-version.
start_mock anthropic-mock --require-key sk-ant-e2e
anthropic_port=$LISTEN_PORT

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
log:
  level: info
upstreams:
  - id: primary
    nodes: {"127.0.0.1:$primary_port": 1}
  - id: fallback
    nodes: {"127.0.0.1:$fallback_port": 1}
  - id: unavailable
    nodes: {"127.0.0.1:$unavailable_port": 1}
  - id: unauthorized
    nodes: {"127.0.0.1:$unauthorized_port": 1}
  - id: claude
    provider: anthropic
    scheme: http
    nodes: {"127.0.0.1:$anthropic_port": 1}
    auth: {header: {x-api-key: sk-ant-e2e}}
routes:
  - id: llm
    uri: /llm/*
    plugins:
      ai-proxy:
        upstream_id: primary
        upstream_fallback_id: fallback
        timeout: 10000
        retry: 1
  - id: degraded
    uri: /degraded/*
    plugins:
      ai-proxy:
        upstream_id: unavailable
        upstream_fallback_id: fallback
        timeout: 10000
        retry: 1
  - id: claude
    uri: /claude/*
    plugins:
      ai-proxy:
        upstream_id: claude
        timeout: 10000
        retry: 0
  - id: bad
    uri: /bad/*
    plugins:
      ai-proxy:
        upstream_id: unauthorized
        timeout: 10000
        retry: 0
EOF

start_listening aiproxyd 15 "$aiproxyd" -c "$E2E_TMP/aiproxy.yaml"
aiproxyd_pid=$BG_PID
gateway_port=$LISTEN_PORT

rc=0
AIPROXY_URL="http://127.0.0.1:$gateway_port" \
    MOCK_PRIMARY_URL="http://127.0.0.1:$primary_port" \
    MOCK_FALLBACK_URL="http://127.0.0.1:$fallback_port" \
    MOCK_UNAVAILABLE_URL="http://127.0.0.1:$unavailable_port" \
    MOCK_UNAUTHORIZED_URL="http://127.0.0.1:$unauthorized_port" \
    MOCK_ANTHROPIC_URL="http://127.0.0.1:$anthropic_port" \
    timeout 120 node --test "$here/openai_sdk.test.mjs" || rc=$?

drain_rc=0
stop_process "$aiproxyd_pid" 10 || drain_rc=$?
if ((rc != 0 || drain_rc != 0)); then
    ((drain_rc == 0)) || echo "FAIL: aiproxyd exited $drain_rc on SIGTERM" >&2
    show_log "$E2E_TMP/aiproxyd.log"
    exit 1
fi
echo "# openai SDK e2e passed"
