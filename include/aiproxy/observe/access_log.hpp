#pragma once
// AccessLog: one JSON object per request, written by a background thread (spdlog async) so a
// slow disk never stalls a worker. Workers hand over their lines in batches; under sustained
// overload the oldest queued batches are dropped rather than blocking requests. A file target
// is reopened on SIGUSR1 for logrotate.

#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class logger;
}

namespace aiproxy::observe {

class AccessLog {
public:
    // target: "stdout" or a file path (appended to). Throws std::runtime_error naming the file
    // when it cannot be opened.
    explicit AccessLog(const std::string& target);
    ~AccessLog();
    AccessLog(const AccessLog&) = delete;
    AccessLog& operator=(const AccessLog&) = delete;

    // Thread-safe; lines: one or more complete JSON objects, separated by newlines, without
    // the last newline.
    void write(std::string_view lines);
    // Reopens a file target (after logrotate moved it); a no-op for stdout.
    void reopen();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Appends value as a JSON string literal (quotes included), escaping what JSON requires; bytes
// that are not well-formed UTF-8 become U+FFFD, so a line is valid JSON whatever it quotes.
void appendJsonString(std::string& out, std::string_view value);

}  // namespace aiproxy::observe
