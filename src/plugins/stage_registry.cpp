#include "stage_factories.hpp"

namespace aiproxy::plugins {
namespace {

// Phase order (ARCHITECTURE.md section 4.3): access, then traffic, then transforms. A new
// plugin is its file plus one line here.
constexpr StageFactory kStages[] = {
    makeIpRestrictionStage,  // access: the cheapest check, before anyone's budget is used
    makeKeyAuthStage,        // access: names the consumer the limits count for
    makeLimitsStage,         // traffic: limit-req, limit-count, ai-rate-limiting, max_concurrent
    // transforms, in APISIX's order; the guard last, so it judges the prompt that is sent
    makePromptTemplateStage,
    makePromptDecoratorStage,
    makeRequestRewriteStage,
    makePromptGuardStage,
};

}  // namespace

std::vector<std::unique_ptr<http::Stage>> buildStages(const StageBuild& build) {
    std::vector<std::unique_ptr<http::Stage>> stages;
    for (auto make : kStages) {
        if (auto stage = make(build)) stages.push_back(std::move(stage));
    }
    return stages;
}

}  // namespace aiproxy::plugins
