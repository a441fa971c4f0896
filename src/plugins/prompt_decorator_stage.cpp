// ai-prompt-decorator as a stage (APISIX): the route's messages go before and after the
// client's, so every request carries the same instructions or context.

#include "prompt_body.hpp"
#include "stage_factories.hpp"

namespace aiproxy::plugins {
namespace {

class PromptDecoratorStage final : public http::Stage {
public:
    explicit PromptDecoratorStage(const StageBuild& build)
        : config_(*build.route.ai_prompt_decorator), refusals_(build, "ai-prompt-decorator") {}

    http::awaitable<http::StageVerdict> handle(http::RequestContext& context) override {
        const nlohmann::json* parsed = context.request.jsonBody();
        if (!parsed) co_return refusals_.refuse(context, 400, "could not parse JSON request body");
        nlohmann::json body = *parsed;
        std::string problem;
        if (!decorate(body, promptApiOf(context.api_path), config_.prepend, config_.append,
                      problem)) {
            co_return refusals_.refuse(context, 400, problem);
        }
        context.request.replaceBody(serializeBody(body));
        co_return http::StageVerdict::Continue;
    }

private:
    config::AiPromptDecoratorConfig config_;
    PromptRefusals refusals_;
};

}  // namespace

std::unique_ptr<http::Stage> makePromptDecoratorStage(const StageBuild& build) {
    if (!build.route.ai_prompt_decorator) return nullptr;
    return std::make_unique<PromptDecoratorStage>(build);
}

}  // namespace aiproxy::plugins
