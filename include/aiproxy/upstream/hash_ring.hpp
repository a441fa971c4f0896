#pragma once
// HashRing: consistent hashing with virtual nodes (Karger et al.; the ketama layout). Each node
// owns points on a 64-bit ring, 160 per unit of weight, placed by hashing its own address, so
// a node's points do not depend on the other nodes: adding or removing one moves only the keys
// that land on its arcs (about weight / total weight of them). A key belongs to the first point
// at or after its hash. Rendezvous hashing was the alternative (no memory, exact weights), but
// costs a hash per node per request; the ring costs one hash and a binary search.
// Immutable once built, so all workers share one ring.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "aiproxy/config/config.hpp"

namespace aiproxy::upstream {

class HashRing {
public:
    static constexpr std::size_t kPointsPerWeight = 160;
    // Beyond this many points in all, every node's count is scaled down (then a change of one
    // node's weight moves more keys than the minimum; weights that large are rare).
    static constexpr std::size_t kMaxPoints = std::size_t{1} << 16;

    // Nodes with weight 0 get no points.
    explicit HashRing(const std::vector<config::NodeConfig>& nodes);

    // 64-bit FNV-1a with a final avalanche, stable across builds and platforms.
    static std::uint64_t hash(std::string_view key);

    // The node owning hash, walking clockwise past points whose node accept() rejects.
    // nullopt when no node on the ring is accepted.
    template <class Accept>
    std::optional<std::size_t> find(std::uint64_t hash, Accept&& accept) const;

    std::size_t points() const { return points_.size(); }

private:
    std::size_t firstAtOrAfter(std::uint64_t hash) const;

    std::vector<std::uint64_t> points_;  // sorted
    std::vector<std::uint32_t> owners_;  // node index of points_[i]
};

template <class Accept>
std::optional<std::size_t> HashRing::find(std::uint64_t hash, Accept&& accept) const {
    std::size_t size = points_.size();
    std::size_t start = firstAtOrAfter(hash);
    for (std::size_t step = 0; step < size; ++step) {
        std::size_t owner = owners_[(start + step) % size];
        if (accept(owner)) return owner;
    }
    return std::nullopt;
}

}  // namespace aiproxy::upstream
