#!/usr/bin/env bash
# The .deb from CPack: its control data (dependencies, conffiles, maintainer scripts), its
# layout, and the installed aiproxyd accepting the installed configs. Installs with `dpkg -x`
# into a temporary root, so it needs no root and leaves the system alone.
#   deb_package_test.sh BUILD_DIR      (ctest: deploy_deb_package; BUILD_DIR is built)
# Exit 77 (skipped) where dpkg-deb or cpack is missing.
set -euo pipefail
build_dir=$(cd "$1" && pwd)

for tool in dpkg-deb cpack; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: $tool is not installed"
        exit 77
    fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# A private output directory, so a concurrent `make package` is not disturbed.
cpack -G DEB --config "$build_dir/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 ||
    fail "cpack failed:"$'\n'"$(cat "$work/cpack.log")"
debs=("$work"/out/aiproxy_*.deb)
[ -f "${debs[0]}" ] || fail "no aiproxy_*.deb in $(ls "$work/out")"
deb=${debs[0]}
echo "package: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

# Control data.
control=$(dpkg-deb --field "$deb")
field() { sed -n "s/^$1: //p" <<<"$control"; }
[ "$(field Package)" = aiproxy ] || fail "Package: $(field Package)"
depends=$(field Depends)
for dependency in libssl3 libyaml-cpp0.7 libspdlog1.10 passwd; do
    grep -q "$dependency" <<<"$depends" || fail "Depends lacks $dependency: $depends"
done
dpkg-deb --control "$deb" "$work/control"
grep -qxF /etc/aiproxy/aiproxy.yaml "$work/control/conffiles" ||
    fail "/etc/aiproxy/aiproxy.yaml is not a conffile"
for script in postinst prerm postrm; do
    [ -x "$work/control/$script" ] || fail "$script missing or not executable"
    sh -n "$work/control/$script" || fail "$script: syntax error"
done
grep -q 'useradd --system' "$work/control/postinst" || fail "postinst does not create the user"
grep -q 'install -d -o aiproxy -g aiproxy -m 0750 /var/lib/aiproxy' "$work/control/postinst" ||
    fail "postinst does not create /var/lib/aiproxy"

# Layout.
root="$work/root"
dpkg -x "$deb" "$root"
for path in usr/bin/aiproxyd usr/bin/aiproxy-mock-llm usr/lib/systemd/system/aiproxyd.service \
    usr/share/man/man8/aiproxyd.8 etc/aiproxy/aiproxy.yaml etc/aiproxy/pricing.yaml \
    usr/share/aiproxy/aiproxy.yaml usr/share/aiproxy/pricing.yaml \
    usr/share/aiproxy/aiproxy.json usr/share/aiproxy/aiproxy.docker.yaml \
    usr/share/aiproxy/aiproxy.reference.yaml; do
    [ -e "$root/$path" ] || fail "missing /$path; the package has:"$'\n'"$(dpkg-deb -c "$deb")"
done
grep -qxF "ExecStart=/usr/bin/aiproxyd -c /etc/aiproxy/aiproxy.yaml" \
    "$root/usr/lib/systemd/system/aiproxyd.service" || fail "the installed unit's ExecStart"
grep -q '^\.SH OPTIONS' "$root/usr/share/man/man8/aiproxyd.8" || fail "the man page has no OPTIONS"
grep -q 'check' "$root/usr/share/man/man8/aiproxyd.8" || fail "the man page misses --check"

# The installed binary accepts every config the package ships.
installed="$root/usr/bin/aiproxyd"
[[ "$("$installed" --version)" == "aiproxyd "* ]] || fail "installed aiproxyd --version"
for config in etc/aiproxy/aiproxy.yaml usr/share/aiproxy/aiproxy.yaml \
    usr/share/aiproxy/aiproxy.json usr/share/aiproxy/aiproxy.docker.yaml \
    usr/share/aiproxy/aiproxy.reference.yaml; do
    "$installed" --check -c "$root/$config" >"$work/check.log" 2>&1 ||
        fail "aiproxyd --check -c /$config:"$'\n'"$(cat "$work/check.log")"
    if grep -q warning "$work/check.log"; then
        fail "aiproxyd --check -c /$config warns:"$'\n'"$(cat "$work/check.log")"
    fi
done
# And rejects a broken one (the check is real).
cat >"$work/broken.yaml" <<'YAML'
upstreams: [{id: u, nodes: {"127.0.0.1:8000": 1}}]
routes: [{id: r, uri: /llm/*, plugins: {ai-proxy: {upstream_id: u, retry: -1}}}]
YAML
if "$installed" --check -c "$work/broken.yaml" >"$work/check.log" 2>&1 ||
    ! grep -q 'retry' "$work/check.log"; then
    fail "aiproxyd --check did not reject retry: -1:"$'\n'"$(cat "$work/check.log")"
fi

# The installed unit verifies, pointed at the installed binary (`--root` would need a whole
# system in the tree: targets, /bin/kill).
if command -v systemd-analyze >/dev/null; then
    sed "s#/usr/bin/aiproxyd#$installed#g" "$root/usr/lib/systemd/system/aiproxyd.service" \
        >"$work/aiproxyd.service"
    output=$(systemd-analyze verify --man=no "$work/aiproxyd.service" 2>&1) ||
        fail "systemd-analyze verify of the installed unit:"$'\n'"$output"
    [ -z "$output" ] || fail "systemd-analyze verify of the installed unit warns:"$'\n'"$output"
fi

echo "PASS: $(basename "$deb") installs a working aiproxyd, its unit, man page and configs"
