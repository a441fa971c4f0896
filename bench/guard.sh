#!/usr/bin/env bash
# Work per request, counted rather than timed: time is too noisy on shared 2-core machines to
# gate on, instructions and heap allocations are not. Runs aiproxyd (one worker, access log
# off) under valgrind against aiproxy-mock-llm, twice per workload with different request
# counts, and divides the difference, so start-up and shutdown cancel out:
#   instructions  cachegrind's Ir per JSON request and per stream (20 events, usage, [DONE])
#   allocations   memcheck's "total heap usage" allocs per JSON request and per stream
# Compares each with bench/guard-baseline.txt and fails on more than 10% growth. A change that
# costs more on purpose updates the baseline in the same commit and says why
# (GUARD_UPDATE=1 writes the measured values there).
#
# usage: bench/guard.sh [AIPROXYD] [MOCK_LLM]   env: GUARD_UPDATE=1, GUARD_TOLERANCE (10)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
aiproxyd=${1:-$repo/build/aiproxyd}
mock=${2:-$repo/build/aiproxy-mock-llm}
baseline=$repo/bench/guard-baseline.txt
tolerance=${GUARD_TOLERANCE:-10}
source "$repo/tests/e2e/lib.sh"

command -v valgrind >/dev/null || { echo "guard: valgrind is not installed (make deps)" >&2; exit 1; }
command -v node >/dev/null || { echo "guard: node is not installed (make deps)" >&2; exit 1; }
e2e_init guard

start_bg "$E2E_TMP/mock.log" "$mock" --port 0 --stream-chunk-ms 0
mock_port=$(wait_for_port "$E2E_TMP/mock.log" "$BG_PID" 10) || { show_log "$E2E_TMP/mock.log"; exit 1; }
sed -e "s|@BACKEND_PORT@|$mock_port|g" -e "s|@SSE_PORT@|$mock_port|g" -e "s|@ACCESS_LOG@|off|g" \
    -e "s|@TMP@|$E2E_TMP|g" -e "s|@NAME@|guard|g" -e "s|@WORKERS@|1|g" -e "s|@LISTENERS@|false|g" \
    "$repo/bench/aiproxy.yaml.in" >"$E2E_TMP/aiproxy.yaml"

# run TOOL KIND COUNT: prints the tool's count for one daemon run of COUNT requests of KIND.
run() {
    local tool=$1 kind=$2 count=$3 out="$E2E_TMP/$1-$2-$3" port
    if [[ $tool == cachegrind ]]; then
        start_bg "$out.log" valgrind --tool=cachegrind --cache-sim=no --branch-sim=no \
            --cachegrind-out-file="$out.out" "$aiproxyd" -c "$E2E_TMP/aiproxy.yaml"
    else
        start_bg "$out.log" valgrind --tool=memcheck --leak-check=no "$aiproxyd" \
            -c "$E2E_TMP/aiproxy.yaml"
    fi
    local pid=$BG_PID
    port=$(wait_for_port "$out.log" "$pid" 120) || { show_log "$out.log"; exit 1; }
    node "$repo/bench/guard_client.mjs" "$port" "$kind" "$count"
    stop_process "$pid" 60 || { echo "guard: aiproxyd did not exit cleanly" >&2; show_log "$out.log"; exit 1; }
    if [[ $tool == cachegrind ]]; then
        awk '/^summary:/ {print $2}' "$out.out"
    else
        grep -oE 'total heap usage: [0-9,]+ allocs' "$out.log" | grep -oE '[0-9,]+' | tr -d ,
    fi
}

# per TOOL KIND LOW HIGH: the tool's count per request between the two runs.
per() {
    local low high
    low=$(run "$1" "$2" "$3")
    high=$(run "$1" "$2" "$4")
    echo $(((high - low) / ($4 - $3)))
}

declare -A measured
measured[json_instructions]=$(per cachegrind json 500 2500)
measured[json_allocations]=$(per memcheck json 200 1000)
measured[stream_instructions]=$(per cachegrind stream 100 500)
measured[stream_allocations]=$(per memcheck stream 50 250)

if [[ ${GUARD_UPDATE:-0} == 1 ]]; then
    {
        echo "# Work per request of bench/guard.sh (valgrind counts); update with GUARD_UPDATE=1"
        echo "# in the commit that changes them on purpose, and say why there."
        for key in json_instructions json_allocations stream_instructions stream_allocations; do
            echo "$key ${measured[$key]}"
        done
    } >"$baseline"
    echo "guard: baseline written to $baseline"
fi

failed=0
printf '%-22s %12s %12s %8s\n' measure baseline measured change
for key in json_instructions json_allocations stream_instructions stream_allocations; do
    base=$(awk -v k="$key" '$1 == k {print $2}' "$baseline" 2>/dev/null || true)
    now=${measured[$key]}
    if [[ -z $base ]]; then
        printf '%-22s %12s %12s %8s\n' "$key" - "$now" -
        failed=1
        continue
    fi
    change=$(awk -v b="$base" -v n="$now" 'BEGIN {printf "%+.1f%%", (n - b) * 100 / b}')
    printf '%-22s %12s %12s %8s\n' "$key" "$base" "$now" "$change"
    if ((now * 100 > base * (100 + tolerance))); then failed=1; fi
done
if ((failed)); then
    echo "guard: FAIL: work per request grew more than ${tolerance}% over bench/guard-baseline.txt" >&2
    exit 1
fi
echo "guard: work per request within ${tolerance}% of the baseline"
