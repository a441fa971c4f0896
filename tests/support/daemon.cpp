#include "support/daemon.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace aiproxy::test {
namespace {

constexpr std::string_view kListeningMarker = "listening on ";

[[noreturn]] void throwErrno(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

// Runs in the forked child: only async-signal-safe calls until exec.
[[noreturn]] void execChild(char* const* argv, char* const* envp, int output_fd, int null_fd,
                            pid_t parent, const char* working_dir) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    if (working_dir[0] != '\0' && ::chdir(working_dir) != 0) ::_exit(125);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int number : {SIGHUP, SIGINT, SIGTERM, SIGPIPE})
        ::signal(number, SIG_DFL);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(output_fd, STDOUT_FILENO);
    ::dup2(output_fd, STDERR_FILENO);
    ::close_range(3, ~0U, 0);
    ::execve(argv[0], argv, envp);
    static constexpr char kMessage[] = "exec of aiproxyd failed\n";
    [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    ::_exit(127);
}

std::string_view variableName(std::string_view entry) {
    return entry.substr(0, entry.find('='));
}

// This process's environment with `overrides` ("NAME=value") replacing or adding variables.
std::vector<std::string> childEnvironment(const std::vector<std::string>& overrides) {
    std::vector<std::string> result;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        std::string_view name = variableName(*entry);
        bool replaced = std::any_of(overrides.begin(), overrides.end(),
                                    [&](const std::string& o) { return variableName(o) == name; });
        if (!replaced) result.emplace_back(*entry);
    }
    result.insert(result.end(), overrides.begin(), overrides.end());
    return result;
}

std::vector<char*> nullTerminated(const std::vector<std::string>& strings) {
    std::vector<char*> pointers;
    for (const auto& s : strings)
        pointers.push_back(const_cast<char*>(s.c_str()));
    pointers.push_back(nullptr);
    return pointers;
}

}  // namespace

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/aiproxy-it-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throwErrno("mkdtemp");
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

std::filesystem::path TempDir::write(std::string_view name, std::string_view content) const {
    auto target = path_ / name;
    auto staging = path_ / (std::string(name) + ".tmp");
    {
        std::ofstream out(staging, std::ios::binary | std::ios::trunc);
        out.write(content.data(), static_cast<std::streamsize>(content.size()));
        if (!out) throw std::runtime_error("cannot write " + staging.string());
    }
    std::filesystem::rename(staging, target);
    return target;
}

struct ChildProcess::Impl {
    // The reader ends when the child closes its end of the pipe, i.e. when it exits; it then
    // reaps the child, so waiting for the exit is waiting on this condition variable.
    void readOutput(int fd) {
        char chunk[4096];
        for (;;) {
            ssize_t n = ::read(fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            std::lock_guard lock(mutex);
            output.append(chunk, static_cast<std::size_t>(n));
            changed.notify_all();
        }
        ::close(fd);
        // Reap under the lock, so signal() never hits a recycled pid.
        siginfo_t info{};
        while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0 &&
               errno == EINTR) {
        }
        std::lock_guard lock(mutex);
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        changed.notify_all();
    }

    pid_t pid = -1;
    std::thread reader;
    mutable std::mutex mutex;
    mutable std::condition_variable changed;
    std::string output;
    std::optional<int> exit_code;
};

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::vector<std::string>& environment,
                           const std::filesystem::path& working_dir)
    : impl_(std::make_unique<Impl>()) {
    std::string directory = working_dir.string();
    // Everything the child needs is built before fork: it may only make async-signal-safe calls.
    std::vector<char*> args = nullTerminated(argv);
    std::vector<std::string> variables = childEnvironment(environment);
    std::vector<char*> envp = nullTerminated(variables);

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throwErrno("pipe2");
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0) throwErrno("open /dev/null");
    pid_t parent = ::getpid();
    impl_->pid = ::fork();
    if (impl_->pid == 0)
        execChild(args.data(), envp.data(), fds[1], null_fd, parent, directory.c_str());
    int fork_errno = errno;
    ::close(fds[1]);
    ::close(null_fd);
    if (impl_->pid < 0) {
        ::close(fds[0]);
        errno = fork_errno;
        throwErrno("fork");
    }
    impl_->reader = std::thread([impl = impl_.get(), fd = fds[0]] { impl->readOutput(fd); });
}

ChildProcess::~ChildProcess() {
    signal(SIGKILL);
    impl_->reader.join();
}

pid_t ChildProcess::pid() const {
    return impl_->pid;
}

std::string ChildProcess::output() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->output;
}

bool ChildProcess::signal(int number) const {
    std::lock_guard lock(impl_->mutex);
    return !impl_->exit_code && ::kill(impl_->pid, number) == 0;
}

bool ChildProcess::waitForOutput(std::string_view needle, std::chrono::milliseconds timeout,
                                 std::size_t from) const {
    std::unique_lock lock(impl_->mutex);
    auto found = [&] {
        return from <= impl_->output.size() &&
               impl_->output.find(needle, from) != std::string::npos;
    };
    impl_->changed.wait_for(lock, timeout, [&] { return found() || impl_->exit_code; });
    return found();
}

std::optional<int> ChildProcess::waitExit(std::chrono::milliseconds timeout) const {
    std::unique_lock lock(impl_->mutex);
    impl_->changed.wait_for(lock, timeout, [&] { return impl_->exit_code.has_value(); });
    return impl_->exit_code;
}

std::string aiproxydPath() {
    const char* chosen = std::getenv("AIPROXY_TEST_AIPROXYD");
    return chosen != nullptr && *chosen != '\0' ? chosen : AIPROXYD_PATH;
}

RunResult runAiproxyd(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
    std::vector<std::string> argv{aiproxydPath()};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildProcess process(argv);
    RunResult result;
    result.exit_code = process.waitExit(timeout);
    result.output = process.output();
    return result;
}

namespace {

// The port of the "host:port" that starts `rest`.
std::optional<uint16_t> portOfAddressAt(std::string_view rest) {
    auto end = rest.find_first_of(" \t\r\n\"',;)");
    std::string_view address = rest.substr(0, end);
    auto colon = address.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == address.size()) return std::nullopt;
    unsigned port = 0;
    for (char c : address.substr(colon + 1)) {
        if (c < '0' || c > '9' || port > 65535) return std::nullopt;
        port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port == 0 || port > 65535) return std::nullopt;
    return static_cast<uint16_t>(port);
}

}  // namespace

std::optional<uint16_t> parseListeningPort(std::string_view log) {
    auto at = log.find(kListeningMarker);
    if (at == std::string_view::npos) return std::nullopt;
    return portOfAddressAt(log.substr(at + kListeningMarker.size()));
}

std::optional<uint16_t> parsePortAfter(std::string_view log, std::string_view marker) {
    auto at = log.rfind(marker);
    if (at == std::string_view::npos) return std::nullopt;
    return portOfAddressAt(log.substr(at + marker.size()));
}

Daemon::Daemon() = default;

Daemon::~Daemon() = default;

bool Daemon::start(std::string_view config, std::chrono::milliseconds timeout) {
    writeConfig(config);
    process_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{aiproxydPath(), "-c", configPath().string()}, environment_,
        dir_.path());
    if (!process_->waitForOutput(kListeningMarker, timeout)) return false;
    // The line may still be arriving: wait for its end before parsing the port.
    if (!process_->waitForOutput("\n", timeout, process_->output().find(kListeningMarker)))
        return false;
    port_ = parseListeningPort(process_->output()).value_or(0);
    return port_ != 0;
}

void Daemon::setEnvironment(const std::string& name, const std::string& value) {
    std::erase_if(environment_,
                  [&](const std::string& entry) { return variableName(entry) == name; });
    environment_.push_back(name + "=" + value);
}

std::filesystem::path Daemon::configPath() const {
    return dir_.path() / "aiproxy.yaml";
}

void Daemon::writeConfig(std::string_view config) const {
    dir_.write("aiproxy.yaml", config);
}

pid_t Daemon::pid() const {
    return process_ ? process_->pid() : 0;
}

std::string Daemon::stderrText() const {
    return process_ ? process_->output() : std::string();
}

bool Daemon::signal(int number) const {
    return process_ && process_->signal(number);
}

bool Daemon::waitForStderr(std::string_view needle, std::chrono::milliseconds timeout,
                           std::size_t from) const {
    return process_ && process_->waitForOutput(needle, timeout, from);
}

std::optional<int> Daemon::waitExit(std::chrono::milliseconds timeout) const {
    return process_ ? process_->waitExit(timeout) : std::nullopt;
}

std::optional<nlohmann::json> accessLogLine(Daemon& daemon, const std::string& request_id) {
    std::string needle = "\"request_id\":\"" + request_id + "\"";
    if (!daemon.waitForStderr(needle)) return std::nullopt;
    std::string text = daemon.stderrText();
    auto at = text.find(needle);
    if (!daemon.waitForStderr("\n", kWaitTimeout, at)) return std::nullopt;
    text = daemon.stderrText();
    auto begin = text.rfind('\n', at);
    begin = begin == std::string::npos ? 0 : begin + 1;
    auto brace = text.find('{', begin);
    auto end = text.find('\n', at);
    auto line = nlohmann::json::parse(text.substr(brace, end - brace), nullptr, false);
    if (line.is_discarded()) return std::nullopt;
    return line;
}

}  // namespace aiproxy::test
