// ai-prompt-guard as a stage (APISIX): the prompt's text is checked against allow patterns,
// then deny patterns, before any upstream is asked. Which text: the last message only unless
// match_all_conversation_history, user messages only unless match_all_roles; the chosen
// contents are joined by " " and searched, as APISIX does.

#include "aiproxy/common/pattern.hpp"
#include "prompt_body.hpp"
#include "stage_factories.hpp"

namespace aiproxy::plugins {
namespace {

std::vector<common::Pattern> compileAll(const std::vector<std::string>& sources) {
    std::vector<common::Pattern> patterns;
    for (const auto& source : sources) {
        std::string problem;
        // Validated when the config was read; one that fails now is dropped, never matched.
        if (auto pattern = common::Pattern::compile(source, problem)) {
            patterns.push_back(std::move(*pattern));
        }
    }
    return patterns;
}

class PromptGuardStage final : public http::Stage {
public:
    explicit PromptGuardStage(const StageBuild& build)
        : config_(*build.route.ai_prompt_guard),
          allow_(compileAll(config_.allow_patterns)),
          deny_(compileAll(config_.deny_patterns)),
          refusals_(build, "ai-prompt-guard") {}

    http::awaitable<http::StageVerdict> handle(http::RequestContext& context) override {
        const nlohmann::json* body = context.request.jsonBody();
        // A body the guard cannot read is not let past it.
        if (!body || !body->is_object()) {
            co_return refusals_.refuse(context, 400,
                                       "Request format not recognized by "
                                       "ai-prompt-guard");
        }
        auto api = promptApiOf(context.api_path);
        auto conversation = conversationOf(*body, api);
        // The Responses API's instructions and input are parallel, not a history (APISIX).
        if (!config_.match_all_conversation_history && api != PromptApi::OpenAiResponses &&
            conversation.size() > 1) {
            conversation.erase(conversation.begin(), conversation.end() - 1);
        }
        std::string text;
        bool any = false;
        for (const auto& message : conversation) {
            if (!config_.match_all_roles && message.role != "user") continue;
            if (any) text += ' ';
            text += message.text;
            any = true;
        }
        if (!any) co_return http::StageVerdict::Continue;
        // A search that runs out of its work limit decides against the request: the guard
        // fails closed.
        if (!allow_.empty()) {
            bool allowed = false;
            for (const auto& pattern : allow_) {
                if (pattern.search(text).outcome == common::Pattern::Outcome::Match) {
                    allowed = true;
                    break;
                }
            }
            if (!allowed) {
                co_return refusals_.refuse(context, 400, "Request doesn't match allow patterns");
            }
        }
        for (const auto& pattern : deny_) {
            if (pattern.search(text).outcome != common::Pattern::Outcome::NoMatch) {
                co_return refusals_.refuse(context, 400, "Request contains prohibited content");
            }
        }
        co_return http::StageVerdict::Continue;
    }

private:
    config::AiPromptGuardConfig config_;
    std::vector<common::Pattern> allow_;
    std::vector<common::Pattern> deny_;
    PromptRefusals refusals_;
};

}  // namespace

std::unique_ptr<http::Stage> makePromptGuardStage(const StageBuild& build) {
    if (!build.route.ai_prompt_guard) return nullptr;
    return std::make_unique<PromptGuardStage>(build);
}

}  // namespace aiproxy::plugins
