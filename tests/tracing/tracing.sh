#!/usr/bin/env bash
# Tracing end to end: `node --test tracing.test.mjs` runs aiproxyd (on port 0, in a temporary
# directory made here) against mock upstreams and an OTLP/HTTP receiver that decodes every batch
# with the official OTLP protobuf definitions (npm: @opentelemetry/otlp-transformer's compiled
# opentelemetry-proto, read by protobufjs).
#
# usage: tracing.sh AIPROXYD    (exit 0 pass, 1 fail, 77 skipped)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../e2e/lib.sh
source "$here/../e2e/lib.sh"

aiproxyd=${1:?usage: tracing.sh AIPROXYD}
aiproxyd=$(require_executable "$aiproxyd")

require_node 20 "the tracing test"
npm_ci_if_stale "$here"

e2e_init tracing

rc=0
AIPROXYD="$aiproxyd" E2E_TMP="$E2E_TMP" timeout 120 node --test "$here/tracing.test.mjs" || rc=$?
if ((rc != 0)); then
    show_log "$E2E_TMP/aiproxyd.log"
    exit 1
fi
echo "# tracing e2e passed"
