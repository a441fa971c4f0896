#pragma once
// SessionPins: `hash_on: session`'s memory of which node serves each conversation, shared by all
// workers of one upstream, so a provider's prompt cache keeps hitting. A new session is placed by
// consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam): the first node
// clockwise from its hash whose pinned sessions stay within load_factor x its weight's share, so
// no node holds more than 1.25x its fair part. A pin holds until its node leaves the eligible set
// (ejected, unhealthy, outside the serving priority group): the session then moves to its next
// node and stays there when the old one heals, so its cache is rebuilt once, not on every flap.
// A node only tried already by this request serves that retry elsewhere without a re-pin.
// Bounded: past max_sessions the least recently used pin is dropped (its session is placed
// afresh, most likely on the same node).

#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace aiproxy::upstream {

class HashRing;

class SessionPins {
public:
    static constexpr std::size_t kDefaultMaxSessions = 100'000;
    static constexpr double kLoadFactor = 1.25;

    explicit SessionPins(std::vector<int> weights, std::size_t max_sessions = kDefaultMaxSessions,
                         double load_factor = kLoadFactor);

    // The node for this session. candidates: the nodes eligible now (ascending, not empty);
    // tried(i): this request already tried node i (it is not a candidate for that reason).
    std::size_t place(std::string_view session, std::span<const std::size_t> candidates,
                      const HashRing& ring, const std::function<bool(std::size_t)>& tried);

    std::size_t sessions() const;
    // Sessions pinned to each node.
    std::vector<std::size_t> loads() const;

private:
    struct Pin {
        std::string session;
        std::size_t node = 0;
    };
    // Under the lock: the bounded-load walk among candidates.
    std::size_t walk(std::string_view session, std::span<const std::size_t> candidates,
                     const HashRing& ring);

    std::vector<int> weights_;
    std::size_t max_sessions_;
    double load_factor_;
    mutable std::mutex mutex_;
    std::list<Pin> lru_;  // most recently used first
    std::unordered_map<std::string_view, std::list<Pin>::iterator> index_;
    std::vector<std::size_t> loads_;
    std::vector<char> candidate_;  // scratch: candidate_[i] while i is a candidate
};

}  // namespace aiproxy::upstream
