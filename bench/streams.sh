#!/usr/bin/env bash
# Memory and CPU of many open streams through one aiproxyd, on 127.0.0.1:
#   1. a fresh aiproxyd gets IDLE keep-alive connections (one chat completion each, then left
#      idle): bytes per idle keep-alive connection (the RSS delta divided by IDLE);
#   2. a fresh aiproxyd gets STREAMS streams open at once, each from bench/sse_backend.mjs with an
#      event every GAP_MS: peak RSS, bytes per open stream ((RSS with all open - RSS idle) /
#      STREAMS), and the daemon's CPU per relayed event over HOLD seconds with all of them open.
# The client (bench/streams_client.mjs), the backend and aiproxyd are separate processes, each
# with the soft descriptor limit raised to the hard one. aiproxyd needs two descriptors per
# stream (client and backend side), so the hard limit caps STREAMS; the report says where.
#
# usage: bash bench/streams.sh
# env:   STREAMS (10000), IDLE (keep-alive connections, default STREAMS), GAP_MS (1000),
#        HOLD (s, 10), OPEN_TIMEOUT (s to open them all, 120), WORKERS (1),
#        AIPROXYD (build/aiproxyd)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=SCRIPTDIR/../tests/e2e/lib.sh
source "$repo/tests/e2e/lib.sh"

aiproxyd=${AIPROXYD:-$repo/build/aiproxyd}
streams=${STREAMS:-10000}
idle=${IDLE:-$streams}
gap=${GAP_MS:-1000}
hold=${HOLD:-10}
open_timeout=${OPEN_TIMEOUT:-120}
workers=${WORKERS:-1}

fail() {
    echo "streams: $*" >&2
    exit 1
}
is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]] && (($1 <= $2)); }
is_count "$streams" 1000000 || fail "STREAMS must be 1..1000000"
is_count "$idle" 1000000 || fail "IDLE must be 1..1000000"
is_count "$gap" 60000 || fail "GAP_MS must be 1..60000"
is_count "$hold" 3600 || fail "HOLD must be 1..3600 seconds"
is_count "$open_timeout" 3600 || fail "OPEN_TIMEOUT must be 1..3600 seconds"
is_count "$workers" 64 || fail "WORKERS must be 1..64"
command -v node >/dev/null || fail "node is not installed (make deps)"
[[ -x $aiproxyd ]] || fail "$aiproxyd not found (make build, or set AIPROXYD)"

# Descriptors: as many as the hard limit allows, for this shell and so for every child.
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=1048576
ulimit -Sn "$hard" 2>/dev/null || true
limit=$(ulimit -Sn)
# aiproxyd: a client and a backend socket per stream, plus listeners, logs, pool and slack.
reachable=$(((limit - 200) / 2))
requested=$streams
if ((streams > reachable)); then
    streams=$reachable
    echo "streams: the descriptor limit ($limit per process) caps aiproxyd at $streams streams" \
        "(asked for $requested)" >&2
fi
((idle > limit - 200)) && idle=$((limit - 200))

e2e_init streams
clk_tck=$(getconf CLK_TCK)

start_listening sse-backend 15 node "$here/sse_backend.mjs" --port 0 --gap-ms "$gap"
backend_port=$LISTEN_PORT

# start_daemon NAME: a fresh aiproxyd (one route, /sse/* -> the backend); sets daemon_pid and
# daemon_port.
start_daemon() {
    cat >"$E2E_TMP/$1.yaml" <<EOF
server:
  listen: ["127.0.0.1:0"]
  workers: $workers
  drain_timeout: 1
  limits: {max_connections: $((streams + idle + 100))}
storage: {data_dir: "$E2E_TMP/$1-data"}
status: {enabled: false}
admin: {enabled: false}
log: {access_log: off, level: info}  # info: the "listening on" line
upstreams:
  - id: sse
    nodes: {"127.0.0.1:$backend_port": 1}
    keepalive_pool: {size: 320, idle_timeout: 60, requests: 1000000}
routes:
  - id: sse
    uri: /sse/*
    plugins: {ai-proxy: {upstream_id: sse, retry: 0}}
EOF
    start_listening "$1" 15 "$aiproxyd" -c "$E2E_TMP/$1.yaml"
    daemon_pid=$BG_PID
    daemon_port=$LISTEN_PORT
}

# client MODE ARGS...: runs streams_client.mjs against the daemon, bounded in time.
client() {
    local mode=$1
    shift
    CLK_TCK=$clk_tck timeout $((open_timeout + hold + 120)) \
        node "$here/streams_client.mjs" "$mode" "$daemon_port" "$daemon_pid" "$@" \
        >"$E2E_TMP/client-$mode.txt" || { cat "$E2E_TMP/client-$mode.txt" >&2; fail "client $mode failed"; }
}

echo "streams: $idle idle keep-alive connections" >&2
start_daemon idle
client idle "$idle"
stop_process "$daemon_pid" 10 || true

echo "streams: $streams streams, an event every ${gap} ms, held ${hold}s" >&2
start_daemon streams
client streams "$streams" "$gap" "$hold" "$open_timeout"
stop_process "$daemon_pid" 20 || true

awk -F= -v requested="$requested" -v reachable="$reachable" -v limit="$limit" -v gap="$gap" -v hold="$hold" '
    { v[$1] = $2 }
    function mb(bytes) { return sprintf("%.1f MB", bytes / 1048576) }
    END {
        printf "aiproxyd, 1 route, descriptor limit %d per process, events %d ms apart\n", limit, gap
        capped = (requested > reachable) ? sprintf(" (capped at %d by the descriptor limit)", reachable) : ""
        printf "streams asked for          %d%s\n", requested, capped
        printf "streams open at once       %d (%d failed, opened in %s s)\n", v["streams_opened"],
               v["streams_failed"], v["open_seconds"]
        printf "RSS idle                   %s\n", mb(v["rss_idle"])
        printf "RSS with all streams open  %s (VmHWM %s)\n", mb(v["rss_open"]), mb(v["rss_peak"])
        printf "bytes per open stream      %s\n", v["bytes_per_stream"]
        printf "CPU per relayed event      %s us (%d events/s over %d s)\n", v["cpu_us_per_event"],
               v["events_per_second"], hold
        printf "idle keep-alive conns      %d (RSS %s -> %s)\n", v["idle_connections"],
               mb(v["idle_rss_before"]), mb(v["idle_rss_after"])
        printf "bytes per idle connection  %s\n", v["idle_bytes_per_connection"]
    }' "$E2E_TMP/client-idle.txt" "$E2E_TMP/client-streams.txt"
