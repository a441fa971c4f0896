#include "aiproxy/observe/access_log.hpp"

#include <spdlog/async.h>
#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <stdexcept>

namespace aiproxy::observe {
namespace {

// Messages (workers hand over batches of up to about 16 KB): a stalled disk holds at most
// about 64 MB before the oldest batches are dropped.
constexpr std::size_t kQueueMessages = 4096;

// A file sink that can reopen its file in place (spdlog's basic file sink cannot).
class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit ReopenableFileSink(const std::string& path) { file_.open(path, false); }
    void reopen() {
        std::lock_guard lock(mutex_);
        file_.reopen(false);
    }

protected:
    void sink_it_(const spdlog::details::log_msg& message) override {
        spdlog::memory_buf_t formatted;
        formatter_->format(message, formatted);
        file_.write(formatted);
    }
    void flush_() override { file_.flush(); }

private:
    spdlog::details::file_helper file_;
};

}  // namespace

struct AccessLog::Impl {
    std::shared_ptr<spdlog::details::thread_pool> pool;
    std::shared_ptr<ReopenableFileSink> file;
    std::shared_ptr<spdlog::logger> logger;
};

AccessLog::AccessLog(const std::string& target) : impl_(std::make_unique<Impl>()) {
    spdlog::sink_ptr sink;
    if (target == "stdout") {
        sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    } else {
        try {
            impl_->file = std::make_shared<ReopenableFileSink>(target);
        } catch (const spdlog::spdlog_ex& error) {
            throw std::runtime_error("cannot open the access log " + target + ": " + error.what());
        }
        sink = impl_->file;
    }
    sink->set_pattern("%v");
    impl_->pool = std::make_shared<spdlog::details::thread_pool>(kQueueMessages, 1);
    impl_->logger = std::make_shared<spdlog::async_logger>(
        "access", std::move(sink), impl_->pool, spdlog::async_overflow_policy::overrun_oldest);
    impl_->logger->set_level(spdlog::level::info);
    impl_->logger->flush_on(spdlog::level::info);
}

AccessLog::~AccessLog() {
    // Ending the writer thread first writes what is queued (each line is flushed as written)
    // and drops the queue's references to the logger, so the logger is freed on this thread,
    // not on the writer's (a cross-thread free that ThreadSanitizer reports).
    impl_->pool.reset();
}

void AccessLog::write(std::string_view lines) {
    impl_->logger->info(lines);
}

void AccessLog::reopen() {
    if (impl_->file) impl_->file->reopen();
}

namespace {

// Length of the well-formed UTF-8 sequence starting at text[0] (Unicode table 3-7: no overlong
// forms, no surrogates, nothing past U+10FFFF), or 0 when it is not one.
std::size_t utf8SequenceLength(std::string_view text) {
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    auto continuation = [&](std::size_t i, unsigned char low = 0x80, unsigned char high = 0xbf) {
        return i < text.size() && byte(i) >= low && byte(i) <= high;
    };
    unsigned char lead = byte(0);
    if (lead >= 0xc2 && lead <= 0xdf) return continuation(1) ? 2 : 0;
    if (lead >= 0xe0 && lead <= 0xef) {
        unsigned char low = lead == 0xe0 ? 0xa0 : 0x80;
        unsigned char high = lead == 0xed ? 0x9f : 0xbf;
        return continuation(1, low, high) && continuation(2) ? 3 : 0;
    }
    if (lead >= 0xf0 && lead <= 0xf4) {
        unsigned char low = lead == 0xf0 ? 0x90 : 0x80;
        unsigned char high = lead == 0xf4 ? 0x8f : 0xbf;
        return continuation(1, low, high) && continuation(2) && continuation(3) ? 4 : 0;
    }
    return 0;
}

}  // namespace

void appendJsonString(std::string& out, std::string_view value) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += '"';
    for (std::size_t i = 0; i < value.size(); ++i) {
        auto c = static_cast<unsigned char>(value[i]);
        if (c >= 0x80) {
            // Log lines must stay valid JSON whatever a client sent (or where a body was cut).
            std::size_t length = utf8SequenceLength(value.substr(i));
            if (length == 0) {
                out += "\\ufffd";
            } else {
                out.append(value.substr(i, length));
                i += length - 1;
            }
            continue;
        }
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    out += "\\u00";
                    out += kHex[c >> 4];
                    out += kHex[c & 0xf];
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
}

}  // namespace aiproxy::observe
