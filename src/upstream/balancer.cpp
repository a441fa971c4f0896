#include "aiproxy/upstream/balancer.hpp"

#include "aiproxy/upstream/chash_balancer.hpp"
#include "aiproxy/upstream/ewma_balancer.hpp"
#include "aiproxy/upstream/least_conn_balancer.hpp"
#include "aiproxy/upstream/round_robin_balancer.hpp"

namespace aiproxy::upstream {

std::unique_ptr<Balancer> makeBalancer(const config::UpstreamConfig& upstream,
                                       std::shared_ptr<UpstreamRuntime> runtime,
                                       BalancerOptions options) {
    if (!runtime) runtime = std::make_shared<UpstreamRuntime>(upstream);
    if (upstream.type == "least_conn") {
        return std::make_unique<LeastConnBalancer>(std::move(runtime), options.seed);
    }
    if (upstream.type == "ewma") {
        return std::make_unique<EwmaBalancer>(std::move(runtime), options.seed);
    }
    if (upstream.type == "chash") {
        return std::make_unique<ChashBalancer>(std::move(runtime), upstream.hash_on == "session");
    }
    return std::make_unique<RoundRobinBalancer>(std::move(runtime));
}

}  // namespace aiproxy::upstream
