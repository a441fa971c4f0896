#!/usr/bin/env bash
# The official openai npm SDK against aiproxyd: five mock backends (one in Anthropic mode) on port
# 0 started here, then `node --test openai_sdk.test.mjs`, which writes the daemon's config with
# their ports and runs aiproxyd itself, on port 0, in the temporary directory made here.
#
# usage: openai_sdk.sh AIPROXYD MOCK_LLM    (exit 0 pass, 1 fail, 77 skipped)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

aiproxyd=${1:?usage: openai_sdk.sh AIPROXYD MOCK_LLM}
mock=${2:?usage: openai_sdk.sh AIPROXYD MOCK_LLM}
aiproxyd=$(require_executable "$aiproxyd")

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

rc=0
AIPROXYD="$aiproxyd" E2E_TMP="$E2E_TMP" \
    MOCK_PRIMARY_URL="http://127.0.0.1:$primary_port" \
    MOCK_FALLBACK_URL="http://127.0.0.1:$fallback_port" \
    MOCK_UNAVAILABLE_URL="http://127.0.0.1:$unavailable_port" \
    MOCK_UNAUTHORIZED_URL="http://127.0.0.1:$unauthorized_port" \
    MOCK_ANTHROPIC_URL="http://127.0.0.1:$anthropic_port" \
    timeout 120 node --test "$here/openai_sdk.test.mjs" || rc=$?

if ((rc != 0)); then
    show_log "$E2E_TMP/aiproxyd.log"
    exit 1
fi
echo "# openai SDK e2e passed"
