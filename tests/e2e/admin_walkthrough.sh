#!/usr/bin/env bash
# The Admin API walk-through from the documentation, run verbatim with curl: aiproxyd starts on a
# config that declares no routes or upstreams, three PUTs on 127.0.0.1:9180 configure it, and the
# chat request on 9080 is answered by the local mock on 127.0.0.1:8000 after the OpenAI
# upstream fails (no DNS here). Then a restart proves the objects persisted.
#
# usage: admin_walkthrough.sh AIPROXYD MOCK_LLM    (exit 0 pass, 1 fail, 77 skipped)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

aiproxyd=${1:?usage: admin_walkthrough.sh AIPROXYD MOCK_LLM}
mock=${2:?usage: admin_walkthrough.sh AIPROXYD MOCK_LLM}

command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
require_json_tool || { echo "SKIP: neither jq nor node is installed to read JSON"; exit 77; }
if getent hosts api.openai.com >/dev/null 2>&1; then
    # With network access the request would reach OpenAI instead of falling back.
    echo "SKIP: api.openai.com resolves here; this walk-through needs a machine without DNS"
    exit 77
fi
for port in 8000 9080 9180; do
    if port_in_use "$port"; then
        echo "FAIL: port $port is already in use; the walk-through needs 8000, 9080 and 9180" >&2
        exit 1
    fi
done

e2e_init admin-walkthrough
cd "$E2E_TMP"  # ./data (state file, generated key) lives here
cat >aiproxy.yaml <<'YAML'
server:
  listen: ["0.0.0.0:9080"]
status:
  enabled: false
YAML

start_listening local-mock 10 "$mock" --port 8000 --name local-mock
start_listening aiproxyd 15 "$aiproxyd" -c aiproxy.yaml
pid=$BG_PID
wait_for_line "$E2E_TMP/aiproxyd.log" "$pid" 'admin API on 127.0.0.1:9180' 10 >/dev/null ||
    fail "admin API did not start on 127.0.0.1:9180"
expect_eq "generated key file is private" "$(stat -c %a data/admin.key)" 600
KEY=$(cat data/admin.key)
OPENAI_API_KEY=sk-walkthrough
expect_eq "the key is not in the log" "$(grep -c -- "$KEY" "$E2E_TMP/aiproxyd.log" || true)" 0

# The documentation's commands, verbatim.
http up1 "http://127.0.0.1:9180/apisix/admin/upstreams/openai_upstream" -H "X-API-KEY: $KEY" -X PUT \
  -d '{ "nodes": { "api.openai.com:443": 1 }, "scheme": "https", "tls": { "client_hello_timeout": 5000 } }'
expect_eq "PUT openai_upstream" "$HTTP_STATUS" 201
expect_eq "X-API-VERSION" "$(header up1 X-API-VERSION)" v3
http up2 "http://127.0.0.1:9180/apisix/admin/upstreams/nemoclaw_upstream" -H "X-API-KEY: $KEY" -X PUT \
  -d '{ "nodes": { "127.0.0.1:8000": 1 }, "scheme": "http" }'
expect_eq "PUT nemoclaw_upstream" "$HTTP_STATUS" 201
http route "http://127.0.0.1:9180/apisix/admin/routes/llm_route" -H "X-API-KEY: $KEY" -X PUT \
  -d '{ "uri": "/llm/*", "plugins": { "ai-proxy": { "upstream_id": "openai_upstream", "upstream_fallback_id": "nemoclaw_upstream", "timeout": 60000, "retry": 1, "enable_upstream_host": true } } }'
expect_eq "PUT llm_route" "$HTTP_STATUS" 201
expect_eq "route key" "$(body route | json .key)" /apisix/routes/llm_route
http chat "http://127.0.0.1:9080/llm/chat/completions" -H "Content-Type: application/json" \
  -H "Authorization: Bearer $OPENAI_API_KEY" -X POST -d '{ "model": "gpt-3.5-turbo", "messages": [ { "role": "user", "content": "Hello, how are you?" } ] }'
expect_eq "chat through the fallback" "$HTTP_STATUS" 200
expect_eq "served by nemoclaw_upstream" "$(header chat X-AIProxy-Upstream)" nemoclaw_upstream
expect_eq "answered by the mock" "$(header chat X-Mock-Backend)" local-mock

# Read back, then restart: the objects survive.
http get "http://127.0.0.1:9180/apisix/admin/routes/llm_route" -H "X-API-KEY: $KEY"
expect_eq "GET route" "$HTTP_STATUS" 200
expect_eq "GET route value" "$(body get | json .value.uri)" "/llm/*"
http list "http://127.0.0.1:9180/apisix/admin/upstreams" -H "X-API-KEY: $KEY"
expect_eq "two upstreams" "$(body list | json .total)" 2
rc=0
stop_process "$pid" 15 || rc=$?
expect_eq "SIGTERM exits 0" "$rc" 0

start_listening aiproxyd-again 15 "$aiproxyd" -c aiproxy.yaml
pid=$BG_PID
http chat2 "http://127.0.0.1:9080/llm/chat/completions" -H "Content-Type: application/json" \
  -X POST -d '{ "model": "gpt-3.5-turbo", "messages": [ { "role": "user", "content": "Again" } ] }'
expect_eq "after a restart the route still serves" "$HTTP_STATUS" 200
http missing "http://127.0.0.1:9180/apisix/admin/routes/llm_route"
expect_eq "no key: 401" "$HTTP_STATUS" 401
expect_eq "no key: description" "$(body missing | json .description)" "missing apikey"
stop_process "$pid" 15 || true
if [[ $E2E_FAILURES -gt 0 ]]; then show_log "$E2E_TMP/aiproxyd.log"; fi
e2e_finish
