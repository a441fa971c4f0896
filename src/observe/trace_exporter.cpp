#include "aiproxy/observe/trace_exporter.hpp"

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "aiproxy/common/asio.hpp"
#include "aiproxy/observe/otlp_json.hpp"
#include "aiproxy/observe/span_queue.hpp"

namespace aiproxy::observe {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using common::use_nothrow;

constexpr std::uint64_t kAnswerLimit = 64 * 1024;  // collectors answer with a small status
constexpr std::chrono::seconds kFailureLogEvery{60};

}  // namespace

// GCC 12 inlines Asio's frame allocation (aligned_alloc) and its sized operator delete into these
// coroutines and reports them as mismatched, although they are Asio's matching pair.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

struct TraceExporter::Impl {
    explicit Impl(TraceExportSettings settings_)
        : settings(std::move(settings_)), queue(settings.max_queue, settings.max_spans) {}

    void run() {
        while (true) {
            auto batch = queue.take(std::chrono::steady_clock::now() + settings.max_delay);
            if (batch.empty()) {
                if (queue.closed()) break;
                continue;
            }
            if (stopping.load() && timeLeft() <= std::chrono::milliseconds::zero()) {
                dropped += batch.size();  // shutdown's bound is spent
                continue;
            }
            send(batch);
        }
    }

    // An export's bound: the configured timeout, cut to what is left of shutdown's bound.
    std::chrono::milliseconds timeLeft() const {
        if (!stopping.load()) return settings.timeout;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::time_point(
                std::chrono::steady_clock::duration(stop_deadline.load())) -
            std::chrono::steady_clock::now());
        return std::min(left, settings.timeout);
    }

    void send(const std::vector<Span>& batch) {
        std::string body = encodeOtlpJson(batch, {.service_version = settings.service_version});
        std::string failure;
        io.restart();
        net::co_spawn(io, exchange(body, failure), net::detached);
        io.run();
        if (failure.empty()) {
            exported += batch.size();
            return;
        }
        dropped += batch.size();
        ++failures;
        auto now = std::chrono::steady_clock::now();
        if (now - last_failure_log >= kFailureLogEvery) {
            spdlog::warn(
                "tracing: {} span(s) not exported to {}:{}{}: {} ({} failed export(s) so far)",
                batch.size(), settings.host, settings.port, settings.target, failure, failures);
            last_failure_log = now;
        }
    }

    // One POST; a kept-alive connection the collector closed meanwhile gets one fresh retry.
    net::awaitable<void> exchange(const std::string& body, std::string& failure) {
        bhttp::request<bhttp::string_body> request{bhttp::verb::post, settings.target, 11};
        request.set(bhttp::field::host, settings.host + ":" + std::to_string(settings.port));
        request.set(bhttp::field::content_type, "application/json");
        request.set(bhttp::field::user_agent, "aiproxyd");
        for (const auto& [name, value] : settings.headers)
            request.set(name, value);
        request.body() = body;
        request.prepare_payload();
        for (int round = 0; round < 2; ++round) {
            bool reused = stream.has_value();
            if (!stream) {
                net::ip::tcp::resolver resolver{io};
                auto [resolve_error, endpoints] = co_await resolver.async_resolve(
                    settings.host, std::to_string(settings.port), use_nothrow);
                if (resolve_error) {
                    failure = "cannot resolve the collector: " + resolve_error.message();
                    co_return;
                }
                stream.emplace(io);
                stream->expires_after(timeLeft());
                auto [connect_error, connected] =
                    co_await stream->async_connect(endpoints, use_nothrow);
                if (connect_error) {
                    stream.reset();
                    failure = "cannot connect: " + connect_error.message();
                    co_return;
                }
            }
            stream->expires_after(timeLeft());
            auto [write_error, written] =
                co_await bhttp::async_write(*stream, request, use_nothrow);
            bhttp::response_parser<bhttp::string_body> parser;
            parser.body_limit(kAnswerLimit);
            beast::flat_buffer buffer;
            common::error_code read_error;
            if (!write_error) {
                auto [error, read] =
                    co_await bhttp::async_read(*stream, buffer, parser, use_nothrow);
                read_error = error;
            }
            if (write_error || read_error) {
                stream.reset();
                if (reused) continue;  // the collector closed an idle connection: try anew
                failure = (write_error ? write_error : read_error).message();
                co_return;
            }
            const auto& response = parser.get();
            if (!response.keep_alive()) stream.reset();
            if (response.result_int() / 100 != 2) {
                failure = "the collector answered " + std::to_string(response.result_int());
            }
            co_return;
        }
    }

    TraceExportSettings settings;
    SpanQueue queue;
    net::io_context io{1};
    std::optional<beast::tcp_stream> stream;
    std::atomic<std::uint64_t> dropped{0};
    std::atomic<std::uint64_t> exported{0};
    std::atomic<bool> stopping{false};
    std::atomic<std::chrono::steady_clock::rep> stop_deadline{0};
    std::uint64_t failures = 0;
    std::chrono::steady_clock::time_point last_failure_log{};
    std::thread thread;
};

#pragma GCC diagnostic pop

TraceExporter::TraceExporter(TraceExportSettings settings)
    : impl_(std::make_unique<Impl>(std::move(settings))) {
    impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

TraceExporter::~TraceExporter() {
    stop(std::chrono::seconds(1));
}

void TraceExporter::submit(std::vector<Span>&& spans) {
    std::size_t count = spans.size();
    if (!impl_->queue.push(std::move(spans))) impl_->dropped += count;
}

void TraceExporter::stop(std::chrono::milliseconds bound) {
    if (!impl_->thread.joinable()) return;
    // A collector that accepts but never answers is cut off when the bound is spent.
    impl_->stop_deadline = (std::chrono::steady_clock::now() + bound).time_since_epoch().count();
    impl_->stopping = true;
    impl_->queue.close();
    impl_->thread.join();
}

std::uint64_t TraceExporter::dropped() const {
    return impl_->dropped.load();
}

std::uint64_t TraceExporter::exported() const {
    return impl_->exported.load();
}

}  // namespace aiproxy::observe
