#!/usr/bin/env bash
# The README walk-through, run as written: the bundled mock on 127.0.0.1:8000, aiproxyd with the
# shipped config (config/aiproxy.yaml, then config/aiproxy.json) on 0.0.0.0:9080, and plain curl.
# The shipped primary upstream is api.openai.com, which cannot resolve here, so every request is
# answered by the fallback (the mock) on the second attempt.
#
# usage: curl_walkthrough.sh AIPROXYD MOCK_LLM    (exit 0 pass, 1 fail, 77 skipped)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

aiproxyd=${1:?usage: curl_walkthrough.sh AIPROXYD MOCK_LLM}
mock=${2:?usage: curl_walkthrough.sh AIPROXYD MOCK_LLM}
gateway=http://127.0.0.1:9080
chat_body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'
stream_body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],"stream":true}'

command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
require_json_tool || { echo "SKIP: neither jq nor node is installed to read JSON"; exit 77; }
for port in 8000 9080 9180; do
    if port_in_use "$port"; then
        echo "FAIL: port $port is already in use; the walk-through needs 127.0.0.1:8000 (mock)," \
            "0.0.0.0:9080 and 127.0.0.1:9180 (aiproxyd). Stop whatever listens there:" >&2
        ss -Htlnp "sport = :$port" >&2 2>/dev/null || true
        exit 1
    fi
done

e2e_init curl-walkthrough
# The shipped config keeps admin state in ./data: a scratch directory keeps the checkout clean.
cd "$E2E_TMP"

start_listening local-mock 10 "$mock" --port 8000 --name local-mock

walk_through() {
    local config=$1 tag
    tag=$(basename "$config")
    echo "# aiproxyd -c $config"
    start_listening "aiproxyd-$tag" 15 "$aiproxyd" -c "$config"
    local pid=$BG_PID
    expect_eq "$tag: listens on the configured port" "$LISTEN_PORT" 9080

    # The first request of the README.
    http chat -X POST "$gateway/llm/chat/completions" -H 'Content-Type: application/json' \
        -d "$chat_body"
    expect_eq "$tag: chat completion status" "$HTTP_STATUS" 200
    expect_eq "$tag: answered by the fallback upstream" "$(header chat X-AIProxy-Upstream)" \
        nemoclaw_upstream
    expect_eq "$tag: primary failed, fallback answered" "$(header chat X-AIProxy-Attempts)" 2
    expect_eq "$tag: backend header passed through" "$(header chat X-Mock-Backend)" local-mock
    expect_match "$tag: X-Request-Id generated" "$(header chat X-Request-Id)" '^[^[:space:]]+$'
    expect_eq "$tag: body is a chat.completion" "$(body chat | json .object)" chat.completion
    expect_match "$tag: reply comes from local-mock" \
        "$(body chat | json '.choices[0].message.content')" '^\[local-mock\] '
    expect_eq "$tag: role is assistant" "$(body chat | json '.choices[0].message.role')" assistant

    # A client-supplied request id is propagated.
    http chat_id -X POST "$gateway/llm/chat/completions" -H 'Content-Type: application/json' \
        -H 'X-Request-Id: walkthrough-42' -d "$chat_body"
    expect_eq "$tag: X-Request-Id propagated" "$(header chat_id X-Request-Id)" walkthrough-42

    # Streaming: relayed as server-sent events, ending with the [DONE] sentinel.
    http stream -N -X POST "$gateway/llm/chat/completions" \
        -H 'Content-Type: application/json' -d "$stream_body"
    expect_eq "$tag: stream status" "$HTTP_STATUS" 200
    expect_eq "$tag: stream completes cleanly (curl exit code)" "$CURL_RC" 0
    expect_match "$tag: stream content type" "$(header stream Content-Type)" \
        '^text/event-stream'
    expect_eq "$tag: stream not buffered by proxies" "$(header stream X-Accel-Buffering)" no
    expect_eq "$tag: stream via fallback" "$(header stream X-AIProxy-Upstream)" \
        nemoclaw_upstream
    expect_eq "$tag: stream ends with data: [DONE]" \
        "$(body stream | tr -d '\r' | grep -v '^$' | tail -n 1)" 'data: [DONE]'
    expect_match "$tag: streamed deltas come from local-mock" \
        "$(body stream | tr -d '\r' | sed -n 's/^data: //p' | grep -v '^\[DONE\]$' |
            json '.choices[0].delta.content')" '^\[local-mock\] .+'

    # Models list through the same route.
    http models "$gateway/llm/models"
    expect_eq "$tag: GET /llm/models status" "$HTTP_STATUS" 200
    expect_eq "$tag: models is a list" "$(body models | json .object)" list
    expect_match "$tag: models has entries" "$(body models | json '.data[0].id')" '.+'

    # No route: an OpenAI-style JSON error.
    http nope "$gateway/nope"
    expect_eq "$tag: GET /nope status" "$HTTP_STATUS" 404
    expect_match "$tag: 404 is JSON" "$(header nope Content-Type)" '^application/json'
    expect_eq "$tag: 404 error code" "$(body nope | json .error.code)" route_not_found
    expect_eq "$tag: 404 error type" "$(body nope | json .error.type)" invalid_request_error
    expect_eq "$tag: 404 error message" "$(body nope | json .error.message)" \
        'no route matches GET /nope'

    local rc=0
    stop_process "$pid" 35 || rc=$?
    expect_eq "$tag: SIGTERM exits 0" "$rc" 0
    if [[ $E2E_FAILURES -gt 0 ]]; then show_log "$E2E_TMP/aiproxyd-$tag.log"; fi
}

walk_through "$repo/config/aiproxy.yaml"
walk_through "$repo/config/aiproxy.json"
e2e_finish
