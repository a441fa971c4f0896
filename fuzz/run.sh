#!/usr/bin/env bash
# Runs every fuzzer a fuzz build tree holds (`make fuzz` calls this after building them):
# first the committed regression inputs (fuzz/regressions/<fuzzer>/) once each, then
# SECONDS_EACH seconds of fuzzing on a fresh copy of the seed corpus (fuzz/corpus/<fuzzer>/),
# with the fuzzer's dictionary when there is one. Fails on the first crash, leak, timeout or
# out-of-memory; the input that did it is kept in <build>/fuzz/artifacts/.
# Usage: fuzz/run.sh BUILD_DIR [SECONDS_EACH]
set -euo pipefail

build_dir=$1
seconds=${2:-20}
source_dir=$(cd "$(dirname "$0")" && pwd)
bin_dir=$build_dir/fuzz
work_dir=$bin_dir/work
artifacts=$bin_dir/artifacts
list=$bin_dir/fuzzers.txt

if [ ! -s "$list" ]; then
    echo "no $list: configure $build_dir with -DAIPROXY_FUZZ=ON first" >&2
    exit 1
fi
mkdir -p "$artifacts"

declare -A dicts=([admin_body_fuzzer]=admin.dict [config_fuzzer]=config.dict
                  [route_matcher_fuzzer]=route.dict [sse_framer_fuzzer]=sse.dict)
summary=()
while read -r name; do
    [ -n "$name" ] || continue
    fuzzer=$bin_dir/$name
    options=(-timeout=10 -rss_limit_mb=2048 "-artifact_prefix=$artifacts/$name-")
    dict=$source_dir/dict/${dicts[$name]:-none}
    [ -f "$dict" ] && options+=("-dict=$dict")

    regressions=$source_dir/regressions/$name
    if compgen -G "$regressions/*" >/dev/null; then
        echo "== $name: replaying $(ls "$regressions" | wc -l) regression inputs"
        "$fuzzer" "${options[@]}" "$regressions"/* >"$bin_dir/$name.regressions.log" 2>&1 || {
            tail -n 40 "$bin_dir/$name.regressions.log"
            echo "FAIL: $name crashes on a committed regression input" >&2
            exit 1
        }
    fi

    corpus=$work_dir/$name
    rm -rf "$corpus"
    mkdir -p "$corpus"
    cp "$source_dir/corpus/$name"/* "$corpus/"
    echo "== $name: fuzzing for ${seconds}s from $(ls "$corpus" | wc -l) seeds"
    log=$bin_dir/$name.log
    if ! "$fuzzer" "${options[@]}" -max_len=8192 -print_final_stats=1 \
        -max_total_time="$seconds" "$corpus" >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "FAIL: $name found a crash; the input is in $artifacts/" >&2
        exit 1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
    summary+=("$(printf '%-22s %10s runs %8s exec/s  %s  corpus %s' "$name" "$execs" "$rate" \
                 "$cov" "$(ls "$corpus" | wc -l)")")
done <"$list"

echo "== fuzz summary (${seconds}s each)"
printf '%s\n' "${summary[@]}"
