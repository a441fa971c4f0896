#!/usr/bin/env bash
# Throughput, latency, CPU and memory of aiproxyd against nginx and haproxy: one table from one
# run on 127.0.0.1, each cell the median of ROUNDS rounds. Rows (a ":N" suffix runs N workers:
# nginx worker_processes, haproxy nbthread, aiproxyd server.workers):
#   direct        wrk -> backend
#   nginx         wrk -> nginx reverse proxy (keep-alive upstreams) -> backend
#   haproxy       wrk -> haproxy (keep-alive, http-reuse always) -> backend
#   aiproxyd      wrk -> aiproxyd (access log off, no status or admin listener) -> backend
#   aiproxyd-log  as aiproxyd, configured like the default: JSON access log to a file, status and
#                 admin listeners on
#   nginx-log     as nginx, with a JSON access-log line per request to a file
# Loads: jsonC (a chat completion from nginx, C connections), sse-burstC (a stream of 20 events
# plus finish and [DONE] in one write, from bench/sse_backend.mjs), sse-pacedC (the same events
# PACED_GAP_MS apart). See bench/README.md for how to read the table.
#
# usage: bash bench/run.sh
# env:   ROWS (default "direct nginx haproxy aiproxyd aiproxyd-log nginx-log nginx:2 haproxy:2
#        aiproxyd:2"), LOADS (default "json16 json64 json256 sse-burst64 sse-paced200"),
#        ROUNDS (3), DURATION (s per run, 4), WARMUP (s, before a cell's first round, 1),
#        THREADS (wrk, 2), PACED_GAP_MS (5), AIPROXYD (build/aiproxyd),
#        RESULTS (a file that gets the table and the raw per-round lines)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=SCRIPTDIR/../tests/e2e/lib.sh
source "$repo/tests/e2e/lib.sh"

aiproxyd=${AIPROXYD:-$repo/build/aiproxyd}
rounds=${ROUNDS:-3}
duration=${DURATION:-4}
warmup=${WARMUP:-1}
threads=${THREADS:-2}
paced_gap=${PACED_GAP_MS:-5}
rows_text=${ROWS:-direct nginx haproxy aiproxyd aiproxyd-log nginx-log nginx:2 haproxy:2 aiproxyd:2}
loads_text=${LOADS:-json16 json64 json256 sse-burst64 sse-paced200}
read -ra rows <<<"${rows_text//,/ }"
read -ra loads <<<"${loads_text//,/ }"
chat_body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'
stream_body='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello"}]}'

fail() {
    echo "bench: $*" >&2
    exit 1
}
is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]] && (($1 <= $2)); }
is_count "$rounds" 100 || fail "ROUNDS must be 1..100"
is_count "$duration" 3600 || fail "DURATION must be 1..3600 seconds"
{ [[ $warmup =~ ^[0-9]+$ ]] && ((warmup <= 600)); } || fail "WARMUP must be 0..600 seconds"
is_count "$threads" 64 || fail "THREADS must be 1..64"
is_count "$paced_gap" 60000 || fail "PACED_GAP_MS must be 1..60000"
((${#rows[@]} > 0 && ${#loads[@]} > 0)) || fail "ROWS and LOADS must not be empty"

# Rows become ids NAME:WORKERS; loads are checked once here so that a typo fails before any run.
ids=()
need_haproxy=0 need_sse=0
for row in "${rows[@]}"; do
    name=${row%%:*} workers=1
    [[ $row == *:* ]] && workers=${row#*:}
    case $name in
        direct) [[ $row != *:* ]] || fail "direct has no workers (got '$row')" ;;
        nginx | nginx-log | aiproxyd | aiproxyd-log) ;;
        haproxy) need_haproxy=1 ;;
        *) fail "unknown row '$row' (direct nginx haproxy aiproxyd aiproxyd-log nginx-log, :N for N workers)" ;;
    esac
    is_count "$workers" 64 || fail "workers in '$row' must be 1..64"
    ids+=("$name:$workers")
done
for load in "${loads[@]}"; do
    [[ $load =~ ^(json|sse-burst|sse-paced)([0-9]+)$ ]] || fail "unknown load '$load' (jsonC, sse-burstC, sse-pacedC)"
    connections=${BASH_REMATCH[2]}
    { is_count "$connections" 4000 && ((connections >= threads)); } ||
        fail "connections in '$load' must be $threads (THREADS)..4000"
    [[ $load == sse-* ]] && need_sse=1
done

tools=(nginx wrk curl)
((need_haproxy)) && tools+=(haproxy)
((need_sse)) && tools+=(node)
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (make bench installs it)"
done
[[ -x $aiproxyd ]] || fail "$aiproxyd not found (make build, or set AIPROXYD)"

e2e_init bench
clk_tck=$(getconf CLK_TCK)
runs=$((rounds * ${#loads[@]} * ${#ids[@]}))
echo "bench: ${#ids[@]} rows x ${#loads[@]} loads x $rounds rounds = $runs runs of ${duration}s," \
    "about $(((runs * (duration * 10 + 3) / 10 + ${#loads[@]} * ${#ids[@]} * warmup + 59) / 60)) min" >&2

# Ports for servers that cannot report the one they bound: distinct from each other.
declare -A taken_ports=()
pick_port() {
    local port i
    for ((i = 0; i < 50; i++)); do
        port=$(free_port)
        [[ -z ${taken_ports[$port]:-} ]] && break
    done
    taken_ports[$port]=1
    printf '%s\n' "$port"
}

# render TEMPLATE OUT NAME PORT ACCESS_LOG WORKERS LISTENERS: fills a template's placeholders.
render() {
    sed -e "s|@TMP@|$E2E_TMP|g" -e "s|@BACKEND_PORT@|$backend_port|g" \
        -e "s|@SSE_PORT@|${sse_port:-0}|g" -e "s|@USER_DIRECTIVE@|$user_directive|g" \
        -e "s|@NAME@|$3|g" -e "s|@PROXY_PORT@|$4|g" -e "s|@ACCESS_LOG@|$5|g" \
        -e "s|@WORKERS@|$6|g" -e "s|@LISTENERS@|$7|g" "$1" >"$2"
}

# wait_ready NAME URL PID BODY: bounded wait until POSTing BODY to URL answers 200.
wait_ready() {
    local i status
    for ((i = 0; i < 100; i++)); do
        kill -0 "$3" 2>/dev/null || break
        status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST \
            -H 'Content-Type: application/json' -d "$4" "$2") || true
        [[ $status == 200 ]] && return 0
        sleep 0.1
    done
    echo "bench: $1 did not answer 200 on $2 (last status ${status:-none})" >&2
    return 1
}

# pids_of PID: PID and its direct children (nginx workers), one line each.
pids_of() {
    echo "$1"
    pgrep -P "$1" || true
}

# cpu_ticks PID...: the summed utime+stime of the PIDs, in clock ticks.
cpu_ticks() {
    local total=0 pid stat fields
    for pid in "$@"; do
        stat=$(<"/proc/$pid/stat") || continue
        # Fields after "(comm) ": state is fields[0], utime fields[11], stime fields[12].
        read -ra fields <<<"${stat##*) }"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

# rss_kb PID...: the summed VmRSS of the PIDs, in kB.
rss_kb() {
    local total=0 pid key value _
    for pid in "$@"; do
        while read -r key value _; do
            if [[ $key == VmRSS: ]]; then
                total=$((total + value))
                break
            fi
        done <"/proc/$pid/status" || true
    done
    echo "$total"
}

# forget_pid PID: drops an exited PID from the clean-up list, so that a recycled one is never hit.
forget_pid() {
    local kept=() p
    for p in "${E2E_PIDS[@]}"; do
        [[ $p == "$1" ]] || kept+=("$p")
    done
    E2E_PIDS=("${kept[@]}")
}

# sample_rss STOP OUT SECONDS PID...: every 0.2 s, for at most SECONDS or until the file STOP
# exists, writes the largest summed VmRSS of the PIDs seen so far to OUT (run in background).
sample_rss() {
    local stop=$1 out=$2 limit=$(($3 * 5)) peak=0 now i
    shift 3
    for ((i = 0; i < limit; i++)); do
        now=$(rss_kb "$@")
        ((now > peak)) && peak=$now && echo "$peak" >"$out"
        [[ -e $stop ]] && break
        sleep 0.2
    done
}

user_directive=""
if [[ $(id -u) == 0 ]]; then
    # As root, nginx workers would drop to "nobody"; keep them as the current user.
    user_directive="user $(id -un) $(id -gn);"
fi

backend_port=$(pick_port)
render "$here/nginx-backend.conf.in" "$E2E_TMP/backend.conf" backend 0 "" 1 false
start_bg "$E2E_TMP/backend.log" nginx -p "$E2E_TMP" -e "$E2E_TMP/backend-error.log" \
    -c "$E2E_TMP/backend.conf"
backend_pid=$BG_PID
wait_ready backend "http://127.0.0.1:$backend_port/v1/chat/completions" "$backend_pid" \
    "$chat_body" || { show_log "$E2E_TMP/backend-error.log"; exit 1; }
backend_pids=$(pids_of "$backend_pid" | tr '\n' ' ')
sse_port=""
if ((need_sse)); then
    start_listening sse-backend 15 node "$here/sse_backend.mjs" --port 0
    sse_pid=$BG_PID
    sse_port=$LISTEN_PORT
fi

# Every row's process, base URL and pids (nginx: master and workers), by id.
declare -A base_url=() row_pids=()
for id in "${ids[@]}"; do
    name=${id%:*} workers=${id#*:} file=${id/:/-w}
    case $name in
        direct)
            base_url[$id]="http://127.0.0.1:$backend_port" ;;
        nginx | nginx-log)
            port=$(pick_port) access_log="access_log off;"
            [[ $name == nginx-log ]] && access_log="access_log $E2E_TMP/$file-access.log json;"
            render "$here/nginx-proxy.conf.in" "$E2E_TMP/$file.conf" "$file" "$port" "$access_log" \
                "$workers" false
            start_bg "$E2E_TMP/$file.log" nginx -p "$E2E_TMP" -e "$E2E_TMP/$file-error.log" \
                -c "$E2E_TMP/$file.conf"
            base_url[$id]="http://127.0.0.1:$port" ;;
        haproxy)
            port=$(pick_port)
            render "$here/haproxy.cfg.in" "$E2E_TMP/$file.cfg" "$file" "$port" "" "$workers" false
            start_bg "$E2E_TMP/$file.log" haproxy -db -f "$E2E_TMP/$file.cfg"
            base_url[$id]="http://127.0.0.1:$port" ;;
        aiproxyd | aiproxyd-log)
            access_log=off listeners=false
            if [[ $name == aiproxyd-log ]]; then
                access_log=$E2E_TMP/$file-access.log listeners=true
            fi
            render "$here/aiproxy.yaml.in" "$E2E_TMP/$file.yaml" "$file" 0 "$access_log" \
                "$workers" "$listeners"
            start_listening "$file" 15 "$aiproxyd" -c "$E2E_TMP/$file.yaml"
            base_url[$id]="http://127.0.0.1:$LISTEN_PORT" ;;
    esac
    [[ $name == direct ]] && continue
    pid=$BG_PID
    wait_ready "$id" "${base_url[$id]}/llm/chat/completions" "$pid" "$chat_body" ||
        { show_log "$E2E_TMP/$file.log"; show_log "$E2E_TMP/$file-error.log"; exit 1; }
    if ((need_sse)); then
        wait_ready "$id" "${base_url[$id]}/sse/chat/completions" "$pid" "$stream_body" ||
            { show_log "$E2E_TMP/$file.log"; show_log "$E2E_TMP/$file-error.log"; exit 1; }
    fi
    row_pids[$id]=$(pids_of "$pid" | tr '\n' ' ')
done

# measure ID LOAD ROUND: one timed wrk run (after a warm-up in round 1); appends a line of
# key=value fields to $E2E_TMP/rows.
measure() {
    local id=$1 load=$2 round=$3 out="$E2E_TMP/wrk-${1/:/-w}-$2-$3.txt"
    local script=$here/chat.lua path=/llm/chat/completions gap=0 backend=$backend_pids
    local url proxy_before=- proxy_after=- proxy_ticks=- rss=- backend_before result sampler
    local -a pids backends
    read -ra pids <<<"${row_pids[$id]:-}"
    [[ $load =~ ([0-9]+)$ ]]
    local connections=${BASH_REMATCH[1]}
    if [[ $load == sse-* ]]; then
        script=$here/stream.lua path=/sse/chat/completions backend=$sse_pid
        [[ $load == sse-paced* ]] && gap=$paced_gap
    fi
    if [[ $id == direct:* ]]; then
        url="http://127.0.0.1:$backend_port/v1/chat/completions"
        [[ $load == sse-* ]] && url="http://127.0.0.1:$sse_port/v1/chat/completions"
    else
        url=${base_url[$id]}$path
    fi
    if ((round == 1 && warmup > 0)); then
        echo "bench: $id $load: warm-up ${warmup}s" >&2
        SSE_GAP_MS=$gap timeout $((warmup + 30)) wrk -t"$threads" -c"$connections" \
            -d"${warmup}s" -s "$script" "$url" >/dev/null
    fi
    echo "bench: $id $load: round $round, ${duration}s ($url)" >&2
    rm -f "$E2E_TMP/rss-stop" "$E2E_TMP/rss-peak"
    if ((${#pids[@]} > 0)); then
        proxy_before=$(cpu_ticks "${pids[@]}")
        sample_rss "$E2E_TMP/rss-stop" "$E2E_TMP/rss-peak" $((duration + 35)) "${pids[@]}" &
        sampler=$!
        E2E_PIDS+=("$sampler")  # stopped on exit should wrk fail
    fi
    read -ra backends <<<"$backend"
    backend_before=$(cpu_ticks "${backends[@]}")
    SSE_GAP_MS=$gap timeout $((duration + 30)) wrk -t"$threads" -c"$connections" \
        -d"${duration}s" --latency -s "$script" "$url" >"$out"
    if ((${#pids[@]} > 0)); then
        proxy_after=$(cpu_ticks "${pids[@]}")
        proxy_ticks=$((proxy_after - proxy_before))
        touch "$E2E_TMP/rss-stop"
        wait "$sampler" || true
        forget_pid "$sampler"
        rss=$(cat "$E2E_TMP/rss-peak" 2>/dev/null || echo -)
    fi
    result=$(grep '^RESULT ' "$out") || { cat "$out" >&2; return 1; }
    echo "load=$load id=$id round=$round proxy_ticks=$proxy_ticks" \
        "backend_ticks=$(($(cpu_ticks "${backends[@]}") - backend_before)) rss_kb=$rss ${result#RESULT }" \
        >>"$E2E_TMP/rows"
}

: >"$E2E_TMP/rows"
started=$SECONDS
# Rounds outside, so that a slow spell of a shared machine spreads over every row.
for ((round = 1; round <= rounds; round++)); do
    for load in "${loads[@]}"; do
        for id in "${ids[@]}"; do
            measure "$id" "$load" "$round"
        done
    done
done
elapsed=$((SECONDS - started))

versions="$(nginx -v 2>&1 | sed 's/.*: //')"
((need_haproxy)) && versions+=", haproxy/$(haproxy -v | awk 'NR == 1 {print $3}')"
((need_sse)) && versions+=", node $(node --version) (SSE backend)"
versions+=", aiproxyd $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')"

table() {
    echo "wrk -t$threads, ${duration}s per run, median of $rounds round(s), $(nproc) CPUs;" \
        "$versions; paced events ${paced_gap} ms apart; all runs took ${elapsed}s"
    awk -v tck="$clk_tck" -v loads="${loads[*]}" -v ids="${ids[*]}" '
        function median(key, n,    i, j, v, a) {
            for (i = 1; i <= n; i++) {
                v = val[key, i]
                for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]
                a[j + 1] = v
            }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        function add(key, v) { val[key, ++count[key]] = v }
        function med(cell, col) {
            return count[cell SUBSEP col] ? median(cell SUBSEP col, count[cell SUBSEP col]) : ""
        }
        function ratio(a, b) { return a == "" || b == "" || b == 0 ? "-" : sprintf("%.2f", a / b) }
        {
            delete f
            for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
            cell = f["load"] SUBSEP f["id"]
            n = f["requests"]
            add(cell SUBSEP "rps", n * 1e6 / f["duration_us"])
            add(cell SUBSEP "p50", f["p50_us"] / 1000)
            add(cell SUBSEP "p99", f["p99_us"] / 1000)
            if (n > 0) add(cell SUBSEP "backend", f["backend_ticks"] * 1e6 / tck / n)
            if (f["proxy_ticks"] != "-" && n > 0) add(cell SUBSEP "cpu", f["proxy_ticks"] * 1e6 / tck / n)
            if (f["rss_kb"] != "-") add(cell SUBSEP "rss", f["rss_kb"] / 1024)
            errors[cell] += f["errors"] + f["non_2xx"] + f["incomplete"]
        }
        END {
            printf "%-13s %-12s %2s %8s %8s %8s %9s %7s %7s %9s %6s %7s\n", "load", "target", "w",
                   "RPS", "p50 ms", "p99 ms", "CPU us/rq", "RPS/ngx", "CPU/ngx", "backend us",
                   "errors", "RSS MB"
            nl = split(loads, L, " "); ni = split(ids, I, " ")
            for (l = 1; l <= nl; l++) {
                for (i = 1; i <= ni; i++) {
                    cell = L[l] SUBSEP I[i]
                    if (!count[cell SUBSEP "rps"]) continue
                    split(I[i], p, ":")
                    # nginx-log is what aiproxyd-log is held against; nginx for all others.
                    base = (p[1] == "aiproxyd-log" ? "nginx-log" : "nginx") ":" p[2]
                    ref = L[l] SUBSEP base
                    is_ref = p[1] == "direct" || I[i] == base
                    cpu = med(cell, "cpu"); rss = med(cell, "rss")
                    printf "%-13s %-12s %2s %8.0f %8.2f %8.2f %9s %7s %7s %9.1f %6d %7s\n",
                           L[l], p[1], p[1] == "direct" ? "-" : p[2], med(cell, "rps"),
                           med(cell, "p50"), med(cell, "p99"),
                           cpu == "" ? "-" : sprintf("%.1f", cpu),
                           is_ref ? "-" : ratio(med(cell, "rps"), med(ref, "rps")),
                           is_ref ? "-" : ratio(cpu, med(ref, "cpu")),
                           med(cell, "backend"), errors[cell], rss == "" ? "-" : sprintf("%.1f", rss)
                }
            }
        }' "$E2E_TMP/rows"
}

echo
table
if [[ -n ${RESULTS:-} ]]; then
    { table; echo; echo "# raw: one line per run"; cat "$E2E_TMP/rows"; } >"$RESULTS"
    echo "bench: table and raw lines written to $RESULTS" >&2
fi
