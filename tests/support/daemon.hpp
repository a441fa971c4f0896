#pragma once

// Runs the real aiproxyd binary (aiproxydPath()) as a child process for the integration tests.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/mock_backend.hpp"

namespace aiproxy::test {

/// A private directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    /// Replaces `name` atomically (write a sibling, then rename) and returns its path.
    std::filesystem::path write(std::string_view name, std::string_view content) const;

private:
    std::filesystem::path path_;
};

/// A child process whose stdout and stderr are collected into one buffer by a reader thread.
/// The child gets SIGKILL when this object (or the thread that started it) goes away.
class ChildProcess {
public:
    /// `environment`: "NAME=value" entries set for the child on top of this process's own.
    /// `working_dir`: the child's working directory (empty: this process's).
    explicit ChildProcess(const std::vector<std::string>& argv,
                          const std::vector<std::string>& environment = {},
                          const std::filesystem::path& working_dir = {});
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const;
    std::string output() const;
    bool signal(int number) const;
    /// Waits until the output after byte `from` contains `needle`.
    bool waitForOutput(std::string_view needle, std::chrono::milliseconds timeout,
                       std::size_t from = 0) const;
    /// Exit code, or 128 + signal number if a signal ended it; nullopt while still running.
    std::optional<int> waitExit(std::chrono::milliseconds timeout) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

struct RunResult {
    std::optional<int> exit_code;  // nullopt: still running at the timeout (then killed)
    std::string output;
};

/// Runs `aiproxyd <args...>` to completion, e.g. `--check -c FILE`.
/// The daemon under test: $AIPROXY_TEST_AIPROXYD when set (`make test-asan` runs this suite
/// against the sanitizer build's daemon), otherwise the one built beside the tests.
std::string aiproxydPath();

RunResult runAiproxyd(const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout = kWaitTimeout);

/// aiproxyd in the foreground on a config written to a temp dir, which is also its working
/// directory (so the default storage.data_dir "./data" is private to it). Configure
/// `server.listen: ["127.0.0.1:0"]`; the real port is read from the "listening on" log line.
class Daemon {
public:
    Daemon();
    ~Daemon();

    /// Writes the config and starts the daemon; true once it is listening. On false, see
    /// stderrText().
    bool start(std::string_view config, std::chrono::milliseconds timeout = 10s);
    /// Sets an environment variable for the daemon started next, on top of the test's own
    /// environment (which stays untouched).
    void setEnvironment(const std::string& name, const std::string& value);
    /// The data-plane port (the first listen address).
    uint16_t port() const { return port_; }
    std::filesystem::path configPath() const;
    /// Replaces the config file atomically (the daemon reads it on SIGHUP).
    void writeConfig(std::string_view config) const;
    /// Everything the daemon wrote to stderr (and stdout) so far.
    std::string stderrText() const;
    bool signal(int number) const;
    /// The daemon's process id (0 before start).
    pid_t pid() const;
    bool waitForStderr(std::string_view needle, std::chrono::milliseconds timeout = kWaitTimeout,
                       std::size_t from = 0) const;
    std::optional<int> waitExit(std::chrono::milliseconds timeout = kWaitTimeout) const;

private:
    TempDir dir_;
    std::unique_ptr<ChildProcess> process_;
    std::vector<std::string> environment_;  // "NAME=value"
    uint16_t port_ = 0;
};

/// The port of the first "listening on HOST:PORT" line in `log`, if any.
std::optional<uint16_t> parseListeningPort(std::string_view log);
/// The port of the "HOST:PORT" after the last `marker` in `log` ("admin API on ", "status
/// endpoint on "), if any: the daemon logs each listener it binds.
std::optional<uint16_t> parsePortAfter(std::string_view log, std::string_view marker);

/// The access-log line (JSON on the daemon's stderr) of the request with this X-Request-Id,
/// once it is complete; nullopt when none came in time.
std::optional<nlohmann::json> accessLogLine(Daemon& daemon, const std::string& request_id);

}  // namespace aiproxy::test
