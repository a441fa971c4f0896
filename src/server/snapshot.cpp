#include "aiproxy/server/snapshot.hpp"

#include <stdexcept>
#include <unordered_map>

namespace aiproxy::server {

std::shared_ptr<const Snapshot> Snapshot::build(const config::Config& config,
                                                const Snapshot* previous) {
    std::unordered_map<std::string, std::shared_ptr<const upstream::Upstream>> by_id;
    std::vector<std::shared_ptr<const upstream::Upstream>> upstreams;
    for (const auto& upstream_config : config.upstreams) {
        std::shared_ptr<const upstream::Upstream> built;
        if (previous) {
            for (const auto& old : previous->upstreams) {
                if (old->config() == upstream_config) built = old;
            }
        }
        if (!built) built = std::make_shared<const upstream::Upstream>(upstream_config);
        by_id[upstream_config.id] = built;
        upstreams.push_back(built);
    }

    std::vector<ai::AiProxyRoute> ai_routes;
    for (const auto& route : config.routes) {
        ai::AiProxyRoute compiled{
            .route_id = route.id,
            .expose_upstream_headers = route.expose_upstream_headers,
            .max_response_header_bytes = config.server.limits.max_response_header_bytes,
            .max_response_body_bytes = config.server.limits.max_response_body_bytes};
        if (route.ai_proxy) {
            compiled.config = *route.ai_proxy;
            auto primary = by_id.find(route.ai_proxy->upstream_id);
            if (primary == by_id.end()) {
                throw std::runtime_error("route " + route.id + ": unknown upstream " +
                                         route.ai_proxy->upstream_id);
            }
            compiled.primary = primary->second;
            if (!route.ai_proxy->upstream_fallback_id.empty()) {
                auto fallback = by_id.find(route.ai_proxy->upstream_fallback_id);
                if (fallback == by_id.end()) {
                    throw std::runtime_error("route " + route.id + ": unknown upstream " +
                                             route.ai_proxy->upstream_fallback_id);
                }
                compiled.fallback = fallback->second;
            }
        }
        ai_routes.push_back(std::move(compiled));
    }
    return std::make_shared<const Snapshot>(
        Snapshot{router::RouteTable{config.routes}, std::move(ai_routes), std::move(upstreams)});
}

}  // namespace aiproxy::server
