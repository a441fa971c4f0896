// ip-restriction as a stage: refuses a client address the route's lists do not allow.

#include "aiproxy/plugins/ip_restriction.hpp"
#include "stage_factories.hpp"

namespace aiproxy::plugins {
namespace {

class IpRestrictionStage final : public http::Stage {
public:
    IpRestrictionStage(const config::IpRestrictionConfig& config, metrics::CounterCell* rejected)
        : restriction_(config), rejected_(rejected) {}

    bool decidesOnHead() const override { return true; }

    http::awaitable<http::StageVerdict> handle(http::RequestContext& context) override {
        if (restriction_.allows(context.request.clientAddress())) {
            co_return http::StageVerdict::Continue;
        }
        if (rejected_) rejected_->add(context.services.metrics_slot);
        context.refusal = http::Refusal{.status = static_cast<unsigned>(restriction_.status()),
                                        .message = restriction_.message(),
                                        .type = "invalid_request_error",
                                        .code = "ip_not_allowed"};
        co_return http::StageVerdict::Refuse;
    }

private:
    IpRestriction restriction_;
    metrics::CounterCell* rejected_;
};

}  // namespace

std::unique_ptr<http::Stage> makeIpRestrictionStage(const StageBuild& build) {
    if (!build.route.ip_restriction) return nullptr;
    metrics::CounterCell* rejected = nullptr;
    if (build.cells) {
        rejected = build.cells->counter("aiproxy_ip_restriction_rejected_total",
                                        "Requests refused by ip-restriction, by route.",
                                        {{"route", build.route.id}});
    }
    return std::make_unique<IpRestrictionStage>(*build.route.ip_restriction, rejected);
}

}  // namespace aiproxy::plugins
