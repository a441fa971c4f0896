#include "stage_factories.hpp"

namespace aiproxy::plugins {
namespace {

// Phase order (ARCHITECTURE.md section 4.3): access, then traffic, then transforms. A new
// plugin is its file plus one line here.
// The name is the stage's in traces.
struct NamedFactory {
    std::string_view name;
    StageFactory make;
};
constexpr NamedFactory kStages[] = {
    // access: the cheapest check, before anyone's budget is used
    {"ip-restriction", makeIpRestrictionStage},
    {"key-auth", makeKeyAuthStage},  // access: names the consumer the limits count for
    // traffic: limit-req, limit-count, ai-rate-limiting, max_concurrent
    {"limits", makeLimitsStage},
    // transforms, in APISIX's order; the guard last, so it judges the prompt that is sent
    {"ai-prompt-template", makePromptTemplateStage},
    {"ai-prompt-decorator", makePromptDecoratorStage},
    {"ai-request-rewrite", makeRequestRewriteStage},
    {"ai-prompt-guard", makePromptGuardStage},
};

}  // namespace

std::vector<std::unique_ptr<http::Stage>> buildStages(const StageBuild& build) {
    std::vector<std::unique_ptr<http::Stage>> stages;
    for (const auto& [name, make] : kStages) {
        auto stage = make(build);
        if (!stage) continue;
        stage->setName(name);
        stages.push_back(std::move(stage));
    }
    return stages;
}

}  // namespace aiproxy::plugins
