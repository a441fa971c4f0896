# shellcheck shell=bash
# Helpers shared by the e2e scripts and bench/run.sh. Source it after `set -euo pipefail`.
#
# Every process started with start_bg is stopped on exit (by its own pid, never by name), every
# wait is bounded, and all files live in one mktemp directory that is removed on exit
# (KEEP_TMP=1 keeps it for debugging). Waiting for a log line uses `tail --pid`, which wakes on
# the write instead of polling and gives up as soon as the process dies.

E2E_TMP=""
E2E_PIDS=()
E2E_FAILURES=0
E2E_CHECKS=0

# e2e_init NAME: creates the temp directory and installs the clean-up traps.
e2e_init() {
    E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/aiproxy-$1.XXXXXX")
    trap e2e_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

e2e_cleanup() {
    local pid
    for pid in "${E2E_PIDS[@]}"; do
        stop_process "$pid" 5 >/dev/null 2>&1 || true
    done
    if [[ -n $E2E_TMP ]]; then
        if [[ -n ${KEEP_TMP:-} ]]; then
            echo "kept $E2E_TMP" >&2
        else
            rm -rf "$E2E_TMP"
        fi
    fi
}

# start_bg LOG CMD...: runs CMD in the background, stdout and stderr to LOG; sets BG_PID.
start_bg() {
    local log=$1
    shift
    : >"$log"
    "$@" >"$log" 2>&1 </dev/null &
    BG_PID=$!
    E2E_PIDS+=("$BG_PID")
}

# stop_process PID [GRACE]: SIGTERM, SIGKILL after GRACE seconds (default 10); returns the exit
# status. The pid is forgotten so that clean-up never signals a recycled pid.
stop_process() {
    local pid=$1 grace=${2:-10} rc=0 kept=() p
    kill -TERM "$pid" 2>/dev/null || true
    if ! timeout "$grace" tail -s 0.1 --pid="$pid" -f /dev/null; then
        echo "pid $pid still running ${grace}s after SIGTERM; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || rc=$?
    for p in "${E2E_PIDS[@]}"; do
        [[ $p == "$pid" ]] || kept+=("$p")
    done
    E2E_PIDS=("${kept[@]}")
    return "$rc"
}

# wait_for_line LOG PID REGEX SECONDS: prints the first line of LOG matching REGEX; fails when
# PID exits or SECONDS pass first.
wait_for_line() {
    local line
    line=$(timeout "$4" tail -s 0.2 -n +1 -f --pid="$2" "$1" 2>/dev/null | grep -m1 -E -- "$3") ||
        true
    [[ -n $line ]] || return 1
    printf '%s\n' "$line"
}

# wait_for_port LOG PID SECONDS: waits for "listening on HOST:PORT" and prints PORT.
wait_for_port() {
    local line
    line=$(wait_for_line "$1" "$2" 'listening on [^ ]+:[0-9]+' "$3") || return 1
    [[ $line =~ listening\ on\ [^\ ]*:([0-9]+) ]] || return 1
    printf '%s\n' "${BASH_REMATCH[1]}"
}

# wait_for_status_port LOG PID SECONDS: waits for aiproxyd's "status endpoint on HOST:PORT" and
# prints PORT.
wait_for_status_port() {
    local line
    line=$(wait_for_line "$1" "$2" 'status endpoint on [^ ]+:[0-9]+' "$3") || return 1
    [[ $line =~ status\ endpoint\ on\ [^\ ]*:([0-9]+) ]] || return 1
    printf '%s\n' "${BASH_REMATCH[1]}"
}

# start_listening NAME SECONDS CMD...: starts CMD with its log in $E2E_TMP/NAME.log and waits
# for its "listening on" line; sets BG_PID and LISTEN_PORT. Exits 1, showing the log, on failure.
# shellcheck disable=SC2034  # LISTEN_PORT is for the caller
start_listening() {
    local name=$1 seconds=$2
    shift 2
    start_bg "$E2E_TMP/$name.log" "$@"
    if ! LISTEN_PORT=$(wait_for_port "$E2E_TMP/$name.log" "$BG_PID" "$seconds"); then
        echo "FAIL: $name exited or did not report 'listening on' within ${seconds}s" >&2
        show_log "$E2E_TMP/$name.log"
        exit 1
    fi
}

# port_in_use PORT: true when something listens on PORT (any address).
port_in_use() {
    if command -v ss >/dev/null; then
        [[ -n $(ss -Htln "sport = :$1") ]]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

# free_port: a port nothing uses right now (for servers that cannot bind port 0 and report it).
free_port() {
    local port i
    for ((i = 0; i < 200; i++)); do
        port=$((20000 + RANDOM % 40000))
        if ! port_in_use "$port" && { ! command -v ss >/dev/null ||
            [[ -z $(ss -Htan "sport = :$port") ]]; }; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

# require_executable PATH: prints PATH made absolute, for processes started from another working
# directory; fails when there is no executable at PATH.
require_executable() {
    if [[ ! -x $1 ]]; then
        echo "FAIL: no executable at $1" >&2
        return 1
    fi
    if [[ $1 == /* ]]; then printf '%s\n' "$1"; else printf '%s\n' "$PWD/$1"; fi
}

# show_log LOG [LINES]: the tail of a log, indented, for failure reports (nothing when there is
# no LOG: a process that never started wrote none).
show_log() {
    [[ -f $1 ]] || return 0
    echo "---- last ${2:-40} lines of $1:" >&2
    tail -n "${2:-40}" "$1" | sed 's/^/    /' >&2
}

# --- node and the npm SDKs -----------------------------------------------------------------------

# require_node MAJOR WHAT: exits 77 (skipped) unless npm and node >= MAJOR are installed; WHAT
# names the test in the message.
require_node() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "SKIP: node and npm are needed for $2 (make deps installs them)"
        exit 77
    fi
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    if ((major < $1)); then
        echo "SKIP: node $(node --version) is too old for $2; the pinned SDKs need node >= $1"
        exit 77
    fi
}

# node_modules_current DIR: true when DIR/node_modules holds every package of
# DIR/package-lock.json at its locked version.
node_modules_current() {
    node -e '
        const fs = require("fs");
        const dir = process.argv[1];
        const lock = JSON.parse(fs.readFileSync(dir + "/package-lock.json", "utf8"));
        for (const [path, entry] of Object.entries(lock.packages)) {
            if (!path || entry.optional) continue;
            const file = dir + "/" + path + "/package.json";
            if (!fs.existsSync(file) ||
                JSON.parse(fs.readFileSync(file, "utf8")).version !== entry.version) {
                process.exit(1);
            }
        }' "$1"
}

# npm_ci_if_stale DIR: `npm ci` in DIR unless its node_modules is current, so reruns need no
# network. Scripts started together take turns (flock on the lock file): the later ones find the
# first one's install.
npm_ci_if_stale() {
    local dir=$1
    node_modules_current "$dir" && return 0
    (
        if command -v flock >/dev/null && ! flock -w 300 9; then
            echo "FAIL: another npm ci in $dir held its lock for 300 s" >&2
            exit 1
        fi
        node_modules_current "$dir" && exit 0
        echo "# npm ci in $dir"
        cd "$dir" && timeout 300 npm ci --no-audit --no-fund --loglevel=error
    ) 9<"$dir/package-lock.json"
}

# --- HTTP and JSON -----------------------------------------------------------------------------

# http NAME CURL_ARGS...: runs curl; the body goes to $E2E_TMP/NAME.body and the headers to
# $E2E_TMP/NAME.headers; sets HTTP_STATUS and CURL_RC (non-zero e.g. when a chunked body is cut).
# shellcheck disable=SC2034  # outputs for the caller
http() {
    local name=$1
    shift
    CURL_RC=0
    HTTP_STATUS=$(curl -sS --max-time 30 -o "$E2E_TMP/$name.body" -D "$E2E_TMP/$name.headers" \
        -w '%{http_code}' "$@") || CURL_RC=$?
}

# header NAME HEADER: the value of HEADER (case-insensitive, last occurrence) in a response.
header() {
    tr -d '\r' <"$E2E_TMP/$1.headers" | grep -i "^$2:" | tail -n 1 |
        sed 's/^[^:]*:[[:space:]]*//' || true
}

body() {
    cat "$E2E_TMP/$1.body"
}

# json PATH: reads JSON documents (one, or one per line) from stdin and prints the value at PATH
# (jq syntax limited to .key and [index]) of each, concatenated; strings raw, others compact;
# missing or null values print nothing. Fails on invalid JSON. Uses jq, else node.
json() {
    if command -v jq >/dev/null; then
        jq -jc "$1 // empty"
    else
        node -e '
            const text = require("fs").readFileSync(0, "utf8");
            let docs;
            try { docs = [JSON.parse(text)]; } catch {
                docs = text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
            }
            const steps = [...process.argv[1].matchAll(/\.([A-Za-z_]\w*)|\[(\d+)\]/g)];
            for (let v of docs) {
                for (const m of steps) v = v == null ? undefined : v[m[1] ?? Number(m[2])];
                if (v != null) process.stdout.write(typeof v === "string" ? v : JSON.stringify(v));
            }' "$1"
    fi
}

require_json_tool() {
    command -v jq >/dev/null || command -v node >/dev/null
}

# --- checks (TAP-like output; failures are counted, the script goes on) ------------------------

pass() {
    E2E_CHECKS=$((E2E_CHECKS + 1))
    echo "ok - $1"
}

fail() {
    E2E_CHECKS=$((E2E_CHECKS + 1))
    E2E_FAILURES=$((E2E_FAILURES + 1))
    echo "not ok - $1"
}

# expect_eq DESCRIPTION ACTUAL EXPECTED
expect_eq() {
    if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1 (got '$2', want '$3')"; fi
}

# expect_match DESCRIPTION ACTUAL REGEX
expect_match() {
    if [[ $2 =~ $3 ]]; then pass "$1"; else fail "$1 (got '$2', want /$3/)"; fi
}

# e2e_finish: prints the summary; exits 1 when any check failed.
e2e_finish() {
    echo "# $((E2E_CHECKS - E2E_FAILURES))/$E2E_CHECKS checks passed"
    [[ $E2E_FAILURES -eq 0 ]] || exit 1
    exit 0
}
