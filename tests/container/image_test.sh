#!/usr/bin/env bash
# The container image as users run it (`make test-container`; minutes, so not in `make test`):
#   1. docker/Dockerfile builds with ../shared/tools/container-check.sh (rootful podman, no
#      registry) and the image runs `aiproxyd --version`;
#   2. the image is < 120 MB, runs as a non-root user, exposes 9080/9180/9091, has a HEALTHCHECK
#      and STOPSIGNAL SIGTERM;
#   3. two aiproxy-mock-llm containers (the same image, another entrypoint) and the gateway
#      configured only through environment variables, all on the host network: a chat
#      completion goes through the gateway to the primary mock; with the primary stopped, the
#      next goes to the fallback; the gateway process is not root, the data volume is writable,
#      the HEALTHCHECK passes;
#   4. `podman stop` (SIGTERM) while a stream is in flight: the stream completes and the gateway
#      exits 0.
# Needs root. Knobs: CONTAINER_CHECK (path of container-check.sh), TAG, WORKDIR (its scratch
# dir), CLEANUP=1 (remove the image afterwards; containers are always removed).
# PREBUILT=<build dir> (CI): the image's build stage is replaced by the binaries that build dir
# already holds (same Debian 12, same compiler), installed and stripped as the stage would; the
# image itself (its final stage, unchanged) is what steps 1-4 test. That saves CI the second
# full compile of the daemon; in exchange step 0 checks that the build stage installs every
# development package the Makefile builds the daemon with, the usual way that stage breaks.
# Without PREBUILT everything is built in the container, as users do.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
CONTAINER_CHECK=${CONTAINER_CHECK:-$repo/../shared/tools/container-check.sh}
TAG=${TAG:-localhost/aiproxy:test}
WORKDIR=${WORKDIR:-/tmp/dockercheck}
MAX_IMAGE_BYTES=$((120 * 1000 * 1000))
started=$(date +%s)

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
step() { printf '\n=== %s  [%ss]\n' "$*" "$(($(date +%s) - started))"; }

[ "$(id -u)" = 0 ] || fail "needs root for rootful podman: sudo make test-container"
[ -f "$CONTAINER_CHECK" ] || fail "container-check.sh not found at $CONTAINER_CHECK"
command -v curl >/dev/null || fail "curl is needed (make deps)"

build_log=$(mktemp)
names=()
cleanup() {
    local status=$?
    if [ "${#names[@]}" -gt 0 ]; then
        if [ "$status" -ne 0 ]; then
            for name in "${names[@]}"; do
                echo "---- podman logs $name ----" >&2
                podman logs "$name" >&2 2>&1 || true
            done
        fi
        podman rm -f -t 0 "${names[@]}" >/dev/null 2>&1 || true
    fi
    rm -f "$build_log"
    [ -z "${prebuilt_dockerfile:-}" ] || rm -f "$prebuilt_dockerfile"
    [ -z "${prebuilt_stage:-}" ] || rm -rf "$prebuilt_stage"
    [ -z "${stream_pid:-}" ] || kill "$stream_pid" 2>/dev/null || true
    rm -rf "${scratch:-}"
    if [ "${CLEANUP:-}" = 1 ]; then podman rmi -f "$TAG" >/dev/null 2>&1 || true; fi
    exit "$status"
}
trap cleanup EXIT

# ---- 0. with PREBUILT: the build stage is skipped, so check what it would install --------------
dockerfile="$repo/docker/Dockerfile"
prebuilt_stage=""
prebuilt_dockerfile=""
if [ -n "${PREBUILT:-}" ]; then
    step "prebuilt binaries from $PREBUILT; checking the build stage's packages"
    [ -x "$PREBUILT/aiproxyd" ] || fail "PREBUILT=$PREBUILT has no aiproxyd"
    build_stage=$(sed -n '/^FROM .* AS build/,/^FROM /p' "$dockerfile")
    # The daemon's -dev packages: the Makefile's, less those only the tests and fuzzers use.
    needed=$(sed -n '/^PACKAGES :=/,/^$/p' "$repo/Makefile" | tr ' \\' '\n\n' |
        grep -- '-dev$' | grep -v -e '^libgtest-dev$' -e '^libgmock-dev$' -e '^libclang-rt')
    for package in $needed; do
        grep -qw -- "$package" <<<"$build_stage" ||
            fail "docker/Dockerfile's build stage does not install $package (the Makefile builds with it)"
    done
    prebuilt_stage="$repo/.image-prebuilt"
    rm -rf "$prebuilt_stage"
    DESTDIR="$prebuilt_stage" cmake --install "$PREBUILT" --prefix /usr --strip >/dev/null
    prebuilt_dockerfile=$(mktemp)
    {
        echo "FROM scratch AS build"
        echo "COPY .image-prebuilt/ /out/"
        sed -n '/^FROM .* AS build/,$p' "$dockerfile" | sed -n '2,$p' | sed -n '/^FROM /,$p'
    } >"$prebuilt_dockerfile"
    dockerfile="$prebuilt_dockerfile"
fi

# ---- 1. build, and a first run of the image ---------------------------------------------------
step "build $TAG with $(basename "$CONTAINER_CHECK")"

# --format docker keeps HEALTHCHECK (OCI image configs have no such field).
DOCKERFILE="$dockerfile" TAG="$TAG" WORKDIR="$WORKDIR" \
    BUILD_ARGS="--format docker ${BUILD_ARGS:-}" \
    bash "$CONTAINER_CHECK" "$repo" -- --version 2>&1 | tee "$build_log" ||
    fail "container-check.sh failed"
grep -q "^aiproxyd [0-9]" "$build_log" || fail "the image did not run aiproxyd --version"
build_seconds=$(($(date +%s) - started))

export CONTAINERS_CONF="$WORKDIR/containers.conf"
[ -f "$CONTAINERS_CONF" ] || fail "container-check.sh left no $CONTAINERS_CONF"

# ---- 2. image metadata -----------------------------------------------------------------------
step "image metadata"
inspect() { podman image inspect --format "$1" "$TAG"; }
size=$(inspect '{{.Size}}')
echo "size: $size bytes ($((size / 1000 / 1000)) MB)"
[ "$size" -lt "$MAX_IMAGE_BYTES" ] || fail "image is $size bytes, over $MAX_IMAGE_BYTES"
user=$(inspect '{{.Config.User}}')
echo "user: $user"
case ${user%%:*} in
    "" | 0 | root) fail "the image runs as root (USER '$user')" ;;
esac
ports=$(inspect '{{json .Config.ExposedPorts}}')
for port in 9080 9180 9091; do
    grep -q "\"$port/tcp\"" <<<"$ports" || fail "port $port is not exposed: $ports"
done
healthcheck=$(inspect '{{json .Config.Healthcheck}}')
grep -q aiproxy-healthcheck <<<"$healthcheck" || fail "no HEALTHCHECK: $healthcheck"
[ "$(inspect '{{.Config.StopSignal}}')" = SIGTERM ] || fail "STOPSIGNAL is not SIGTERM"
grep -q /var/lib/aiproxy <<<"$(inspect '{{json .Config.Volumes}}')" ||
    fail "/var/lib/aiproxy is not a volume"

# ---- 3. a gateway and two mock backends ------------------------------------------------------
suffix="$$-$RANDOM"
scratch=$(mktemp -d)

# Waits (bounded) until `podman logs NAME` has a "listening on HOST:PORT" line; prints the port.
# Containers log to stderr, which podman only lets us poll.
listening_port() {
    local name=$1 port=""
    for _ in $(seq 150); do
        port=$(podman logs "$name" 2>&1 | sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' |
            head -1)
        [ -n "$port" ] && break
        [ "$(podman inspect --format '{{.State.Running}}' "$name")" = true ] ||
            fail "$name exited before listening"
        sleep 0.1
    done
    [ -n "$port" ] || fail "$name did not log a listening port within 15 s"
    echo "$port"
}

# A loopback port nobody listens on right now, for the status endpoint (its HEALTHCHECK needs
# the port in advance, so 0 will not do).
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    fail "no free port found"
}

run() {
    local name=$1
    shift
    names+=("$name")
    podman run -d --name "$name" --pull=never --network=host "$@" >/dev/null
}

step "start two mock LLM backends (entrypoint aiproxy-mock-llm)"
primary=aiproxy-ct-primary-$suffix
fallback=aiproxy-ct-fallback-$suffix
run "$primary" --entrypoint aiproxy-mock-llm "$TAG" --host 127.0.0.1 --port 0 --name primary
run "$fallback" --entrypoint aiproxy-mock-llm "$TAG" --host 127.0.0.1 --port 0 --name fallback \
    --stream-chunk-ms 300
primary_port=$(listening_port "$primary")
fallback_port=$(listening_port "$fallback")
echo "primary mock on :$primary_port, fallback mock on :$fallback_port"

step "start the gateway, configured through the environment only"
gateway=aiproxy-ct-gateway-$suffix
status_port=$(free_port)
run "$gateway" \
    -e AIPROXY_LISTEN=127.0.0.1:0 \
    -e AIPROXY_STATUS_LISTEN="127.0.0.1:$status_port" \
    -e AIPROXY_WORKERS=1 \
    -e AIPROXY_PRIMARY_NODES="\"127.0.0.1:$primary_port\": 1" \
    -e AIPROXY_PRIMARY_SCHEME=http \
    -e AIPROXY_FALLBACK_ID=fallback \
    -e AIPROXY_FALLBACK_NODES="\"127.0.0.1:$fallback_port\": 1" \
    -e AIPROXY_TIMEOUT_MS=5000 \
    -e AIPROXY_DRAIN_TIMEOUT=15 \
    "$TAG"
gateway_port=$(listening_port "$gateway")
echo "gateway on :$gateway_port, status on :$status_port"

chat() {  # chat STREAM OUTPUT_PREFIX
    local request='{"model":"mock","stream":'$1',"messages":[{"role":"user","content":"hi"}]}'
    curl -sS -N --max-time 20 -o "$2.body" -D "$2.headers" -w '%{http_code}' \
        "http://127.0.0.1:$gateway_port/llm/chat/completions" \
        -H 'Content-Type: application/json' -d "$request"
}
header() { sed -n "s/^$2: *//Ip" "$1.headers" | tr -d '\r'; }

step "a chat completion through the gateway"
status=$(chat false "$scratch/first")
[ "$status" = 200 ] || fail "status $status: $(cat "$scratch/first.body")"
grep -q 'Hello from primary' "$scratch/first.body" || fail "body: $(cat "$scratch/first.body")"
[ "$(header "$scratch/first" X-AIProxy-Upstream)" = primary ] ||
    fail "served by '$(header "$scratch/first" X-AIProxy-Upstream)', not primary"
echo "200 from the primary mock: $(head -c 160 "$scratch/first.body")"

step "the gateway process runs as non-root; the data volume is writable"
uids=$(podman exec "$gateway" sed -n 's/^Uid:[[:space:]]*//p' /proc/1/status)
echo "PID 1 uids: $uids"
for uid in $uids; do
    [ "$uid" != 0 ] || fail "aiproxyd runs with uid 0 ($uids)"
done
podman exec "$gateway" sh -c 'touch /var/lib/aiproxy/probe && rm /var/lib/aiproxy/probe' ||
    fail "/var/lib/aiproxy is not writable by the gateway's user"

step "HEALTHCHECK (GET /healthz on the status port)"
podman healthcheck run "$gateway" || fail "the HEALTHCHECK failed"
echo "healthy"
ready=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$status_port/readyz")
[ "$ready" = 200 ] || fail "/readyz answered $ready"

step "primary stopped: the next request fails over to the fallback"
podman stop -t 5 "$primary" >/dev/null
status=$(chat false "$scratch/second")
[ "$status" = 200 ] || fail "status $status: $(cat "$scratch/second.body")"
grep -q 'Hello from fallback' "$scratch/second.body" || fail "body: $(cat "$scratch/second.body")"
[ "$(header "$scratch/second" X-AIProxy-Upstream)" = fallback ] || fail "not served by fallback"
[ "$(header "$scratch/second" X-AIProxy-Attempts)" = 2 ] || fail "expected 2 attempts"
echo "200 from the fallback mock after 2 attempts"

# ---- 4. SIGTERM drains ------------------------------------------------------------------------
step "podman stop (STOPSIGNAL SIGTERM) during a stream: the stream completes, exit 0"
chat true "$scratch/stream" >"$scratch/stream.status" &
stream_pid=$!
for _ in $(seq 100); do
    grep -q '^data: ' "$scratch/stream.body" 2>/dev/null && break
    sleep 0.1
done
grep -q '^data: ' "$scratch/stream.body" || fail "the stream did not start"
podman stop -t 30 "$gateway" >/dev/null
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$gateway")
wait "$stream_pid" || fail "the streaming client failed: $(cat "$scratch/stream.status")"
stream_pid=""
[ "$exit_code" = 0 ] || fail "the gateway exited $exit_code after SIGTERM"
grep -q '^data: \[DONE\]' "$scratch/stream.body" ||
    fail "the in-flight stream was cut: $(cat "$scratch/stream.body")"
# To a file first: with pipefail, `podman logs | grep -q` fails whenever grep stops reading early.
podman logs "$gateway" >"$scratch/gateway.log" 2>&1
grep -q 'draining' "$scratch/gateway.log" || fail "the gateway did not log its drain"
echo "stream completed ($(grep -c '^data: ' "$scratch/stream.body") events), exit code 0"

echo
echo "PASS: image $TAG ($((size / 1000 / 1000)) MB, user $user); build ${build_seconds}s," \
    "total $(($(date +%s) - started))s"
