#!/usr/bin/env bash
# Fails on an #include that crosses folders against the dependency table of ARCHITECTURE.md
# section 5 ("may use" column). Link dependencies catch most wrong arrows, but not a header-only
# include; this does. Usage: tools/check-includes.sh [source root] (default: this checkout).
# Prints one line per offence and exits 1 when there is any.
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$root"

# The one copy of the table in code. Keep it equal to ARCHITECTURE.md section 5: change both in
# the same commit. A folder may always include its own headers; "*" means every folder.
declare -A may_use=(
    [common]=""
    [config]="common"
    [http]="common"
    [router]="common config"
    [upstream]="common config"
    [plugins]="common config http"
    [ai]="common config http upstream"
    [observe]="common"
    [admin]="common config observe"
    [server]="*"
    [main.cpp]="server config"  # src/main.cpp: parses the command line, calls server
)

allowed() {  # allowed <folder> <other>
    local folder=$1 other=$2
    [[ $folder == "$other" || ${may_use[$folder]} == "*" ]] && return 0
    [[ " ${may_use[$folder]} " == *" $other "* ]]
}

offences=0
report() {  # report <file:line> <folder> <other> <why>
    echo "$1: $2 -> $3: $4"
    offences=$((offences + 1))
}

# Every file under include/aiproxy/<folder>/ and src/<folder>/, plus src/main.cpp.
files=$(find include/aiproxy src -type f \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' \) | sort)
for file in $files; do
    case $file in
        src/main.cpp) folder=main.cpp ;;
        include/aiproxy/*/*) folder=${file#include/aiproxy/} folder=${folder%%/*} ;;
        src/*/*) folder=${file#src/} folder=${folder%%/*} ;;
        *) echo "$file: not in a folder of ARCHITECTURE.md section 5"; offences=$((offences + 1))
           continue ;;
    esac
    if [[ -z ${may_use[$folder]+set} ]]; then
        echo "$file: folder $folder is not in ARCHITECTURE.md section 5"
        offences=$((offences + 1))
        continue
    fi
    # file:line:text of every project include, quoted or angled.
    while IFS=: read -r line text; do
        other=$(sed -E 's@^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]aiproxy/([^/">]+)/.*@\1@' \
                <<<"$text")
        if [[ -z ${may_use[$other]+set} || $other == main.cpp ]]; then
            report "$file:$line" "$folder" "$other" "no such folder in ARCHITECTURE.md section 5"
        elif ! allowed "$folder" "$other"; then
            report "$file:$line" "$folder" "$other" "not allowed by ARCHITECTURE.md section 5"
        fi
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]aiproxy/[^/">]+/' "$file" || true)
done

if ((offences > 0)); then
    echo "check-includes: $offences offence(s) against ARCHITECTURE.md section 5" >&2
    exit 1
fi
echo "check-includes: every include follows ARCHITECTURE.md section 5"
