#!/usr/bin/env bash
# The chaos run (tests/chaos/chaos.mjs) for ctest and `make chaos`: needs only node (>= 18).
#
# usage: chaos.sh AIPROXYD    (exit 0 pass, 1 violations, 77 skipped)
# CHAOS_SEED, CHAOS_SECONDS (default 30), CHAOS_MINUTES, ... are passed through; see chaos.mjs.
# CHAOS_STORE=etcd: two nodes sharing a real etcd (also needs the etcd binary; etcd.mjs).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
aiproxyd=${1:?usage: chaos.sh AIPROXYD}

if ! command -v node >/dev/null; then
    echo "SKIP: node is needed for the chaos run (make deps installs it)"
    exit 77
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 18)); then
    echo "SKIP: node $(node --version) is too old; the chaos driver needs node >= 18"
    exit 77
fi
if [[ ${CHAOS_STORE:-file} == etcd ]] && ! command -v etcd >/dev/null; then
    echo "SKIP: CHAOS_STORE=etcd needs etcd (Debian package etcd-server; make deps installs it)"
    exit 77
fi
if [[ ! -x $aiproxyd ]]; then
    echo "FAIL: $aiproxyd is not an executable" >&2
    exit 1
fi

rc=0
node "$here/chaos.mjs" "$aiproxyd" || rc=$?
((rc == 77)) && exit 77
# The driver's own "could not start" (2) is a failure for ctest too.
((rc == 0)) || exit 1
