// The LLM a stage asks itself: request shaping and answer reading (pure), and the one exchange
// WorkerServices::askLlm runs on the worker's pool.

#include "aiproxy/ai/side_llm.hpp"

#include <spdlog/spdlog.h>

#include "aiproxy/ai/ai_proxy.hpp"
#include "aiproxy/ai/provider.hpp"
#include "aiproxy/common/ascii.hpp"
#include "aiproxy/upstream/upstream_runtime.hpp"
#include "json_access.hpp"
#include "proxy_call.hpp"

namespace aiproxy::ai {

// GCC 12 inlines Asio's coroutine frame allocation (aligned_alloc) and its sized operator delete
// into these coroutines and reports them as mismatched, although they are Asio's matching pair.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {

using detail::Json;

class SideLlmTarget final : public http::SideLlm {
public:
    SideLlmTarget(std::shared_ptr<const upstream::Upstream> upstream,
                  upstream::ExchangeLimits limits)
        : upstream_(std::move(upstream)), limits_(limits) {
        const auto* provider = config::findProvider(upstream_->config().provider);
        if (provider) wire_ = provider->wire_format;
    }
    const upstream::Upstream& upstream() const { return *upstream_; }
    const upstream::ExchangeLimits& limits() const { return limits_; }
    config::WireFormat wire() const { return wire_; }

private:
    std::shared_ptr<const upstream::Upstream> upstream_;
    upstream::ExchangeLimits limits_;
    config::WireFormat wire_ = config::WireFormat::OpenAi;
};

http::LlmAnswer failed(std::string error, unsigned status = 0) {
    return http::LlmAnswer{.error = std::move(error), .status = status};
}

std::string timedOut(std::chrono::milliseconds timeout) {
    return "LLM did not answer within " + std::to_string(timeout.count()) + " ms";
}

std::string whyStartFailed(const upstream::ExchangeStart& start,
                           std::chrono::milliseconds timeout) {
    switch (start.failure) {
        case upstream::ExchangeFailure::Timeout:
            return timedOut(timeout);
        case upstream::ExchangeFailure::Connect:
            return "could not connect to the LLM: " + start.detail;
        case upstream::ExchangeFailure::Reset:
        case upstream::ExchangeFailure::None:
            break;
    }
    return "the LLM connection failed: " + start.detail;
}

// One exchange, the whole of it (head and body) before `timeout` runs out.
http::awaitable<http::LlmAnswer> ask(upstream::HttpExchange& exchange, const SideLlmTarget& target,
                                     const SideRequest& request, std::chrono::milliseconds timeout,
                                     const bool& client_gone) {
    auto deadline = Clock::now() + timeout;
    const upstream::Upstream& llm = target.upstream();
    auto started = co_await exchange.start(llm, llm.nodes().front(), request.head, request.body,
                                           target.limits(), deadline, client_gone);
    if (started.failure != upstream::ExchangeFailure::None) {
        co_return failed(whyStartFailed(started, timeout));
    }
    unsigned status = exchange.response().result_int();
    std::string body;
    while (!exchange.done()) {
        auto read = co_await exchange.read(deadline);
        if (read.error == boost::beast::http::error::body_limit) {
            co_return failed("the LLM's answer is larger than " +
                                 std::to_string(target.limits().max_body_bytes) + " bytes",
                             status);
        }
        if (read.error && upstream::isTimeout(read.error)) {
            co_return failed(timedOut(timeout), status);
        }
        if (read.error) {
            co_return failed("the LLM's answer was cut short: " + read.error.message(), status);
        }
        body.append(exchange.chunk(), read.size);
    }
    exchange.finish();
    if (status != 200) co_return failed("LLM answered " + std::to_string(status), status);
    auto text = answerText(target.wire(), body);
    if (!text.text) co_return failed(std::move(text.error), status);
    co_return http::LlmAnswer{.text = std::move(text.text), .status = status};
}

}  // namespace

std::shared_ptr<const http::SideLlm> makeSideLlm(std::shared_ptr<const upstream::Upstream> upstream,
                                                 upstream::ExchangeLimits limits) {
    return std::make_shared<const SideLlmTarget>(std::move(upstream), limits);
}

SideRequest sideRequest(const config::UpstreamConfig& llm, std::string_view host,
                        std::string_view chat_body, std::string_view request_id) {
    ShapeResult shaped = shapeRequest(
        llm, {.api = ClientApi::OpenAiChat, .rest = "chat/completions", .body = chat_body});
    if (!shaped.ok()) return SideRequest{.error = std::move(shaped.error->message)};
    UpstreamRequestPlan& plan = shaped.plan;
    SideRequest out;
    out.body = plan.body ? std::move(*plan.body) : std::string(chat_body);
    std::string& head = out.head;
    head.reserve(512);
    head += "POST ";
    head += plan.target;
    head += " HTTP/1.1\r\nHost: ";
    head += host;
    head += "\r\n";
    // The answer is read by the gateway, so it must arrive uncompressed.
    bool encoding_set = false;
    for (const auto& [name, value] : plan.set_headers) {
        head += name + ": " + value + "\r\n";
        encoding_set = encoding_set || common::equalsIgnoreCase(name, "accept-encoding");
    }
    for (const auto& [name, value] : plan.default_headers)
        head += name + ": " + value + "\r\n";
    if (!encoding_set) head += "Accept-Encoding: identity\r\n";
    head += "Content-Type: application/json\r\nX-Request-Id: ";
    head += request_id;
    head += "\r\nContent-Length: ";
    head += std::to_string(out.body.size());
    head += "\r\n\r\n";
    return out;
}

AnswerText answerText(config::WireFormat wire, std::string_view body) {
    Json doc = detail::parseJson(body);
    if (doc.is_discarded()) return {.error = "the LLM's answer is not JSON"};
    std::optional<std::string_view> text;
    if (wire == config::WireFormat::Anthropic) {
        const Json* content = detail::member(doc, "content");
        if (content && content->is_array()) {
            for (const Json& block : *content) {
                if (detail::stringMember(block, "type") != "text") continue;
                text = detail::stringMember(block, "text");
                break;
            }
        }
    } else {
        const Json* choices = detail::member(doc, "choices");
        if (choices && choices->is_array() && !choices->empty()) {
            text = detail::stringMember(detail::objectMember((*choices)[0], "message"), "content");
        }
    }
    if (!text || text->empty()) return {.error = "the LLM's answer has no text"};
    return {.text = std::string(*text)};
}

http::awaitable<http::LlmAnswer> WorkerServices::askLlm(const http::SideLlm& llm,
                                                        http::LlmQuestion question,
                                                        http::ResponseSink& client) {
    const auto* target = dynamic_cast<const SideLlmTarget*>(&llm);
    if (target == nullptr) co_return failed("not an LLM of this gateway");
    const upstream::Upstream& llm_upstream = target->upstream();
    const upstream::Node& node = llm_upstream.nodes().front();  // an instance has exactly one
    auto request = sideRequest(llm_upstream.config(), node.host_header, question.chat_body,
                               question.request_id);
    if (!request.error.empty()) co_return failed("cannot ask the LLM: " + request.error);

    upstream::HttpExchange exchange{pool, dns, metrics ? metrics->connections_active : nullptr,
                                    metrics_slot};
    bool client_gone = false;
    client.watchForClose([&client_gone, &exchange] {
        client_gone = true;
        exchange.cancel();
    });
    auto answer = co_await ask(exchange, *target, request, question.timeout, client_gone);
    client.stopWatching();
    if (client_gone) co_return http::LlmAnswer{.error = "the client left", .client_gone = true};
    if (!answer.text) {
        // One line per failure, throttled per LLM like the proxy's attempt lines.
        if (auto left_out = llm_upstream.runtime()->node(0).failureLog().admit(Clock::now())) {
            auto& logger = log ? *log : *spdlog::default_logger_raw();
            logger.warn("request {}: {} {}: {}{}", question.request_id, llm_upstream.id(),
                        node.address, answer.error, suppressedNote(*left_out));
        } else if (metrics && metrics->log_suppressed) {
            metrics->log_suppressed->add(metrics_slot);
        }
    }
    co_return answer;
}

#pragma GCC diagnostic pop

}  // namespace aiproxy::ai
