// ai-request-rewrite as a stage: the LLM's answer to the route's prompt and the client's body
// becomes the body every later stage and every attempt sees. A failed call refuses the request
// (500 with the reason, as APISIX answers); it never lets the unrewritten body through.

#include "aiproxy/plugins/request_rewrite.hpp"
#include "stage_factories.hpp"

namespace aiproxy::plugins {

// GCC 12 reports Asio's coroutine frame allocation and its sized delete as mismatched.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {

constexpr std::string_view kPlugin = "ai-request-rewrite";

class RequestRewriteStage final : public http::Stage {
public:
    RequestRewriteStage(const config::AiRequestRewriteConfig& config,
                        std::shared_ptr<const http::SideLlm> llm, metrics::CounterCell* rejected)
        : prompt_(config.prompt),
          timeout_(config.timeout),
          llm_(std::move(llm)),
          rejected_(rejected) {}

    http::awaitable<http::StageVerdict> handle(http::RequestContext& context) override {
        auto& request = context.request;
        if (request.message.body().empty()) {
            co_return refuse(context, 400, "the request has no body to rewrite",
                             "invalid_request_error", "missing_body");
        }
        if (!llm_) {
            co_return refuse(context, 500, "no LLM to ask", "server_error", "rewrite_failed");
        }
        // A named question, moved in: GCC 12 destroys a braced temporary passed by value to a
        // coroutine twice.
        http::LlmQuestion question{.chat_body = rewriteQuestion(prompt_, request.message.body()),
                                   .timeout = timeout_,
                                   .request_id = request.request_id};
        auto answer = co_await context.services.askLlm(*llm_, std::move(question), context.sink);
        if (answer.client_gone) {
            context.sink.abort();  // nobody is waiting for an answer
            co_return http::StageVerdict::Stop;
        }
        if (!answer.text) {
            co_return refuse(context, 500, answer.error, "server_error", "rewrite_failed");
        }
        request.replaceBody(std::move(*answer.text));
        co_return http::StageVerdict::Continue;
    }

private:
    http::StageVerdict refuse(http::RequestContext& context, unsigned status,
                              std::string_view reason, std::string_view type,
                              std::string_view code) const {
        if (rejected_) rejected_->add(context.services.metrics_slot);
        context.refusal =
            http::Refusal{.status = status,
                          .message = std::string(kPlugin) + ": " + std::string(reason),
                          .type = std::string(type),
                          .code = std::string(code),
                          .plugin = kPlugin};
        return http::StageVerdict::Refuse;
    }

    std::string prompt_;
    std::chrono::milliseconds timeout_;
    std::shared_ptr<const http::SideLlm> llm_;
    metrics::CounterCell* rejected_;
};

}  // namespace
#pragma GCC diagnostic pop

std::unique_ptr<http::Stage> makeRequestRewriteStage(const StageBuild& build) {
    if (!build.route.ai_request_rewrite) return nullptr;
    const auto& config = *build.route.ai_request_rewrite;
    metrics::CounterCell* rejected = nullptr;
    if (build.cells) {
        // Shared with the other prompt plugins: the registry hands every caller the same cell
        // for the same name and labels.
        rejected = build.cells->counter(
            "aiproxy_plugin_rejected_total", "Requests refused by a plugin, by route and plugin.",
            {{"route", build.route.id}, {"plugin", std::string(kPlugin)}});
    }
    std::shared_ptr<const http::SideLlm> llm;
    if (build.side_llm) llm = build.side_llm(config.llm);
    return std::make_unique<RequestRewriteStage>(config, std::move(llm), rejected);
}

}  // namespace aiproxy::plugins
