#include "aiproxy/upstream/session_pins.hpp"

#include <cmath>

#include "aiproxy/upstream/hash_ring.hpp"

namespace aiproxy::upstream {

SessionPins::SessionPins(std::vector<int> weights, std::size_t max_sessions, double load_factor)
    : weights_(std::move(weights)),
      max_sessions_(max_sessions == 0 ? 1 : max_sessions),
      load_factor_(load_factor),
      loads_(weights_.size(), 0),
      candidate_(weights_.size(), 0) {}

std::size_t SessionPins::walk(std::string_view session, std::span<const std::size_t> candidates,
                              const HashRing& ring) {
    double total_weight = 0;
    for (std::size_t i : candidates) {
        candidate_[i] = 1;
        total_weight += weights_[i];
    }
    // With the new session counted: each node's bound is load_factor x its weight's share.
    double placed = static_cast<double>(index_.size() + 1);
    auto fits = [&](std::size_t i) {
        if (candidate_[i] == 0) return false;
        double bound = std::ceil(load_factor_ * placed * weights_[i] / total_weight);
        return static_cast<double>(loads_[i]) < bound;
    };
    auto hash = HashRing::hash(session);
    auto found = ring.find(hash, fits);
    if (!found) found = ring.find(hash, [this](std::size_t i) { return candidate_[i] != 0; });
    for (std::size_t i : candidates)
        candidate_[i] = 0;
    return found.value_or(candidates.front());
}

std::size_t SessionPins::place(std::string_view session, std::span<const std::size_t> candidates,
                               const HashRing& ring,
                               const std::function<bool(std::size_t)>& tried) {
    std::lock_guard lock{mutex_};
    auto it = index_.find(session);
    if (it != index_.end()) {
        auto pin = it->second;
        lru_.splice(lru_.begin(), lru_, pin);
        for (std::size_t i : candidates) {
            if (i == pin->node) return i;
        }
        // Tried by this request: the retry goes elsewhere, the pin stays.
        if (tried(pin->node)) return walk(session, candidates, ring);
        // Its node is gone (ejected, unhealthy): move the session, for good.
        --loads_[pin->node];
        pin->node = walk(session, candidates, ring);
        ++loads_[pin->node];
        return pin->node;
    }
    if (index_.size() >= max_sessions_) {
        const Pin& oldest = lru_.back();
        --loads_[oldest.node];
        index_.erase(oldest.session);
        lru_.pop_back();
    }
    std::size_t node = walk(session, candidates, ring);
    lru_.push_front(Pin{.session = std::string(session), .node = node});
    index_.emplace(lru_.front().session, lru_.begin());
    ++loads_[node];
    return node;
}

std::size_t SessionPins::sessions() const {
    std::lock_guard lock{mutex_};
    return index_.size();
}

std::vector<std::size_t> SessionPins::loads() const {
    std::lock_guard lock{mutex_};
    return loads_;
}

}  // namespace aiproxy::upstream
