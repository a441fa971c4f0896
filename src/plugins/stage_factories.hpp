#pragma once
// One factory per plugin file; each returns null when the route does not use its plugin.

#include <memory>

#include "aiproxy/plugins/stages.hpp"

namespace aiproxy::plugins {

using StageFactory = std::unique_ptr<http::Stage> (*)(const StageBuild&);

std::unique_ptr<http::Stage> makeIpRestrictionStage(const StageBuild& build);
std::unique_ptr<http::Stage> makeKeyAuthStage(const StageBuild& build);
std::unique_ptr<http::Stage> makeLimitsStage(const StageBuild& build);
std::unique_ptr<http::Stage> makePromptTemplateStage(const StageBuild& build);
std::unique_ptr<http::Stage> makePromptDecoratorStage(const StageBuild& build);
std::unique_ptr<http::Stage> makePromptGuardStage(const StageBuild& build);
std::unique_ptr<http::Stage> makeRequestRewriteStage(const StageBuild& build);

}  // namespace aiproxy::plugins
