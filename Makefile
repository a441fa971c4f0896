# One-command entry points. `make run` and `make test` are the README's quick start.
SHELL := /bin/bash
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
FUZZ_DIR ?= build-fuzz
FUZZ_TIME ?= 20
JOBS ?= $(shell nproc)
CONFIG ?= config/aiproxy.yaml
CMAKE_FLAGS ?=

PACKAGES := g++ cmake ninja-build ccache pkg-config libboost1.81-dev libssl-dev \
            nlohmann-json3-dev libspdlog-dev libyaml-cpp-dev libpcre2-dev libhiredis-dev \
            libgtest-dev libgmock-dev redis-server etcd-server etcd-client \
            curl jq ca-certificates prometheus clang libclang-rt-14-dev llvm
# Node.js and npm (end-to-end tests with the official openai SDK) count as present when the
# commands exist: a Node.js from elsewhere bundles npm and conflicts with Debian's npm package.
NODE_PACKAGES := $(if $(shell command -v node),,nodejs) $(if $(shell command -v npm),,npm)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build run test test-browser check guard test-asan test-tsan chaos fuzz test-container install package bench clean format

# Installs only what is missing, so repeated runs cost a dpkg query.
deps:
	@missing=$$(for p in $(PACKAGES) $(NODE_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	    | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    $(SUDO) apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Starts the bundled mock LLM on 127.0.0.1:8000 (the default config's fallback) and the daemon
# in the foreground; Ctrl-C stops both.
# Builds only the two binaries it runs (the test suite is most of the build time).
run: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS) --target aiproxyd aiproxy-mock-llm
	@$(BUILD_DIR)/aiproxy-mock-llm --port 8000 --name local-mock & mock=$$!; \
	trap "kill $$mock 2>/dev/null" EXIT INT TERM; \
	echo; echo "aiproxyd: data plane on http://127.0.0.1:9080, metrics on http://127.0.0.1:9091/metrics, mock LLM on http://127.0.0.1:8000"; \
	echo "try: curl -X POST http://127.0.0.1:9080/llm/chat/completions -H 'Content-Type: application/json'" \
	     "-d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'"; \
	echo; $(BUILD_DIR)/aiproxyd -c $(CONFIG)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The status page in headless Chromium (tests/browser/). Debian's chromium is ~80 MB to download
# (~300 MB installed), so only this target installs it; `make test` skips the test without it.
test-browser: build
	@$(MAKE) --no-print-directory deps PACKAGES=chromium NODE_PACKAGES=
	cd $(BUILD_DIR) && ctest --output-on-failure -L browser

# Structure checks (ARCHITECTURE.md section 5) in the normal build tree: no #include against the
# "may use" column (tools/check-includes.sh), and every public header compiles on its own.
# The header objects go through ccache like the rest of the build.
check: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS) --target check_includes check_headers

# The whole suite under ASan+UBSan, built with clang as the fuzzers are (AIPROXY_FUZZ: every target
# instrumented, the fuzzers built too), so one sanitized tree serves both: CI runs the fuzzers from
# it (`bash fuzz/run.sh $(ASAN_DIR) SECONDS`) instead of building a second one. Line tables only
# (-g1): sanitizer reports keep file:line, and full debug info would cost a third more build time.
# The integration tests are not compiled again: the normal tree's run against the sanitized daemon
# (AIPROXY_TEST_AIPROXYD), which is what they exercise.
SANITIZER_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
test-asan: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS) --target aiproxy_integration_tests
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
	    -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DAIPROXY_FUZZ=ON -DAIPROXY_INTEGRATION_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && $(SANITIZER_ENV) ctest --output-on-failure -j $(JOBS)
	cd $(BUILD_DIR) && $(SANITIZER_ENV) AIPROXY_TEST_AIPROXYD="$(abspath $(ASAN_DIR))/aiproxyd" \
	    ctest --output-on-failure -j $(JOBS) -L integration

# ThreadSanitizer over what runs threads: the integration suite and the chaos round, against a
# TSan build of the daemon (unit tests are single-threaded and left out). halt_on_error makes a
# race fail the daemon, and so the test. Not in CI: it would take CI past its time budget.
test-tsan: deps
	cmake -S . -B $(TSAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAIPROXY_SANITIZE=thread \
	    $(CMAKE_FLAGS)
	cmake --build $(TSAN_DIR) -j $(JOBS) --target aiproxyd aiproxy-mock-llm aiproxy_integration_tests
	cd $(TSAN_DIR) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	    ctest --output-on-failure -j $(JOBS) -L 'integration|chaos'

# The long chaos run (tests/chaos/): CHAOS_MINUTES of failing backends, cancelling clients,
# Admin API writes, reloads and a restart against $(CHAOS_BUILD)/aiproxyd, invariants checked
# throughout. CHAOS_SEED=<n> replays a run's decisions; CHAOS_BUILD=$(ASAN_DIR) runs the
# sanitizer build (configured by `make test-asan`). `make test` runs a 30 s round.
# CHAOS_STORE=etcd runs two nodes sharing a real etcd on loopback (the etcd-server package) and
# kills or stops etcd now and then: data plane unaffected, writes 503 while it is down, a write
# on one node served by the other within 1.5 s; `make test` runs a 20 s round of it too.
CHAOS_BUILD ?= $(BUILD_DIR)
CHAOS_MINUTES ?= 10
chaos: deps
	@if [ "$(CHAOS_BUILD)" = "$(BUILD_DIR)" ] && [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	    cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS); fi
	cmake --build $(CHAOS_BUILD) -j $(JOBS) --target aiproxyd
	CHAOS_MINUTES=$(CHAOS_MINUTES) $(if $(CHAOS_SEED),CHAOS_SEED=$(CHAOS_SEED)) \
	    $(if $(CHAOS_STORE),CHAOS_STORE=$(CHAOS_STORE)) \
	    bash tests/chaos/chaos.sh $(CHAOS_BUILD)/aiproxyd

# libFuzzer harnesses (fuzz/): builds only the fuzzers and the libraries they link, with clang,
# then runs each for FUZZ_TIME seconds on a copy of its seeds; fails on any crash.
fuzz: deps
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DAIPROXY_FUZZ=ON \
	    -DAIPROXY_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target aiproxy_fuzzers
	bash fuzz/run.sh $(FUZZ_DIR) $(FUZZ_TIME)

# The container image: build with podman (../shared/tools/container-check.sh), run it with mock
# backends, check size, user, health check, fallback and a clean SIGTERM exit. Needs root;
# minutes, so `make test` leaves it out.
# PREBUILT=<build dir> (CI) puts that tree's binaries in the image instead of compiling them again
# in the container (tests/container/image_test.sh says what is checked instead).
test-container:
	$(SUDO) env PREBUILT="$(PREBUILT)" bash tests/container/image_test.sh

# Installs aiproxyd, aiproxy-mock-llm, the systemd unit, the man page and the example configs
# under PREFIX (DESTDIR for staging). A real install as root also creates the service user.
PREFIX ?= /usr/local
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD_DIR) --prefix $(PREFIX)
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && ! getent passwd aiproxy >/dev/null; then \
	    { getent group aiproxy >/dev/null || groupadd --system aiproxy; } && \
	    useradd --system --gid aiproxy --home-dir /var/lib/aiproxy --no-create-home \
	        --shell /usr/sbin/nologin --comment "aiproxy LLM gateway" aiproxy && \
	    echo "created the system user aiproxy"; \
	fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi

# The Debian package (aiproxy_<version>_<arch>.deb in $(BUILD_DIR)); its postinst creates the
# aiproxy user and /var/lib/aiproxy.
package: build
	cd $(BUILD_DIR) && cpack -G DEB
	@ls -1 $(BUILD_DIR)/*.deb

# The benchmark needs only the daemon (the test suite is most of the build time); node serves
# its streams. ROWS, LOADS, ROUNDS, DURATION: see bench/README.md.
bench: deps $(BUILD_DIR)/build.ninja
	@$(MAKE) --no-print-directory deps PACKAGES="nginx-light wrk haproxy" \
	    NODE_PACKAGES="$(if $(shell command -v node),,nodejs)"
	cmake --build $(BUILD_DIR) -j $(JOBS) --target aiproxyd
	bash bench/run.sh

# Work per request (valgrind instruction and allocation counts) against bench/guard-baseline.txt.
guard: build
	@$(MAKE) --no-print-directory deps PACKAGES=valgrind NODE_PACKAGES=
	bash bench/guard.sh $(BUILD_DIR)/aiproxyd $(BUILD_DIR)/aiproxy-mock-llm

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)
