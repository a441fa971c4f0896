#include "aiproxy/upstream/hash_ring.hpp"

#include <algorithm>

#include "aiproxy/upstream/upstream_runtime.hpp"

namespace aiproxy::upstream {
namespace {

// The splitmix64 finaliser: spreads FNV's weak low bits over the whole word.
std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

}  // namespace

std::uint64_t HashRing::hash(std::string_view key) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : key) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return mix(h);
}

HashRing::HashRing(const std::vector<config::NodeConfig>& nodes) {
    std::uint64_t total_weight = 0;
    for (const auto& node : nodes)
        total_weight += static_cast<std::uint64_t>(std::max(node.weight, 0));
    std::uint64_t wanted = total_weight * kPointsPerWeight;
    struct Point {
        std::uint64_t position;
        std::uint32_t owner;
    };
    std::vector<Point> ring;
    ring.reserve(std::min<std::uint64_t>(wanted, kMaxPoints + nodes.size()));
    for (std::size_t index = 0; index < nodes.size(); ++index) {
        const auto& node = nodes[index];
        if (node.weight <= 0) continue;
        std::uint64_t count = static_cast<std::uint64_t>(node.weight) * kPointsPerWeight;
        if (wanted > kMaxPoints) count = std::max<std::uint64_t>(1, count * kMaxPoints / wanted);
        std::uint64_t base = hash(nodeAddress(node));
        for (std::uint64_t i = 0; i < count; ++i) {
            ring.push_back(
                Point{mix(base + i * 0x9e3779b97f4a7c15ULL), static_cast<std::uint32_t>(index)});
        }
    }
    // Ties (vanishingly rare) are ordered by node index, so every worker builds the same ring.
    std::sort(ring.begin(), ring.end(), [](const Point& a, const Point& b) {
        return a.position != b.position ? a.position < b.position : a.owner < b.owner;
    });
    points_.reserve(ring.size());
    owners_.reserve(ring.size());
    for (const auto& point : ring) {
        points_.push_back(point.position);
        owners_.push_back(point.owner);
    }
}

std::size_t HashRing::firstAtOrAfter(std::uint64_t hash) const {
    auto it = std::lower_bound(points_.begin(), points_.end(), hash);
    return it == points_.end() ? 0 : static_cast<std::size_t>(it - points_.begin());
}

}  // namespace aiproxy::upstream
