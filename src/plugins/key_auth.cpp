// key-auth as a stage: the key from the configured header, else "Authorization: Bearer <key>"
// (what OpenAI SDKs send), looked up by its digest among the consumers; names the consumer.

#include "aiproxy/common/ascii.hpp"
#include "aiproxy/common/digest.hpp"
#include "stage_factories.hpp"

namespace aiproxy::plugins {
namespace {

constexpr std::string_view kBearer = "Bearer ";

bool isBearer(std::string_view authorization) {
    return authorization.size() >= kBearer.size() &&
           common::equalsIgnoreCase(authorization.substr(0, kBearer.size()), kBearer);
}

class KeyAuthStage final : public http::Stage {
public:
    KeyAuthStage(const config::KeyAuthConfig& config, const SharedState& shared,
                 metrics::CounterCell* rejected)
        : config_(config), shared_(shared), rejected_(rejected) {}

    bool decidesOnHead() const override { return true; }

    http::awaitable<http::StageVerdict> handle(http::RequestContext& context) override {
        auto& message = context.request.message;
        std::string_view key;
        if (auto field = message.find(config_.header); field != message.end()) {
            key = field->value();
        }
        if (key.empty()) {
            std::string_view authorization = message[http::bhttp::field::authorization];
            if (authorization.size() > kBearer.size() && isBearer(authorization)) {
                key = authorization.substr(kBearer.size());
            }
        }
        if (key.empty()) {
            co_return refuse(context,
                             "Missing API key: send it in the " + config_.header +
                                 " header or as Authorization: Bearer <key>",
                             "missing_api_key");
        }
        // The digest is looked up, so the time taken does not depend on how much of a key
        // matched.
        auto found = shared_.consumers_by_key.find(common::sha256Hex(key));
        if (found == shared_.consumers_by_key.end()) {
            co_return refuse(context, "Invalid API key", "invalid_api_key");
        }
        if (config_.hide_credentials) {
            // Every place a key may be read from, whichever one held it: a client that sends
            // its gateway key twice must not have the second copy forwarded upstream.
            message.erase(config_.header);
            if (isBearer(message[http::bhttp::field::authorization])) {
                message.erase(http::bhttp::field::authorization);
            }
        }
        context.consumer = found->second;
        co_return http::StageVerdict::Continue;
    }

private:
    http::StageVerdict refuse(http::RequestContext& context, std::string message,
                              std::string code) const {
        if (rejected_) rejected_->add(context.services.metrics_slot);
        context.refusal = http::Refusal{.status = 401,
                                        .message = std::move(message),
                                        .type = "invalid_request_error",
                                        .code = std::move(code),
                                        .headers = {{"WWW-Authenticate", "Bearer"}}};
        return http::StageVerdict::Refuse;
    }

    config::KeyAuthConfig config_;
    const SharedState& shared_;
    metrics::CounterCell* rejected_;
};

}  // namespace

std::unique_ptr<http::Stage> makeKeyAuthStage(const StageBuild& build) {
    if (!build.route.key_auth) return nullptr;
    metrics::CounterCell* rejected = nullptr;
    if (build.cells) {
        rejected =
            build.cells->counter("aiproxy_key_auth_rejected_total",
                                 "Requests refused by key-auth (missing or unknown key), by route.",
                                 {{"route", build.route.id}});
    }
    return std::make_unique<KeyAuthStage>(*build.route.key_auth, build.shared, rejected);
}

}  // namespace aiproxy::plugins
