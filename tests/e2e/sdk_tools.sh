#!/usr/bin/env bash
# Streamed tool calls through the gateway's API translation, reassembled by the official SDKs'
# stream helpers: `node --test sdk_tools.test.mjs`. The test file scripts its own two upstreams
# (Anthropic Messages and OpenAI chat, on port 0) and so writes the daemon's config and runs
# aiproxyd itself, on port 0, in the temporary directory made here.
#
# usage: sdk_tools.sh AIPROXYD MOCK_LLM    (exit 0 pass, 1 fail, 77 skipped)
# MOCK_LLM is taken for the e2e scripts' common calling convention and not used.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

aiproxyd=${1:?usage: sdk_tools.sh AIPROXYD MOCK_LLM}
: "${2:?usage: sdk_tools.sh AIPROXYD MOCK_LLM}"
aiproxyd=$(require_executable "$aiproxyd")

require_node 20 "the SDK tool-call test"
npm_ci_if_stale "$here"

e2e_init sdk-tools

rc=0
AIPROXYD="$aiproxyd" E2E_TMP="$E2E_TMP" \
    timeout 120 node --test "$here/sdk_tools.test.mjs" || rc=$?

if ((rc != 0)); then
    show_log "$E2E_TMP/aiproxyd.log"
    exit 1
fi
echo "# SDK tool-call e2e passed"
