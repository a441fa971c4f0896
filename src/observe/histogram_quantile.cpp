#include "aiproxy/observe/histogram_quantile.hpp"

#include <algorithm>

namespace aiproxy::observe {

std::optional<double> histogramQuantile(const std::vector<double>& bounds,
                                        const std::vector<std::uint64_t>& buckets, double q) {
    std::uint64_t total = 0;
    for (auto count : buckets)
        total += count;
    if (total == 0 || bounds.empty()) return std::nullopt;
    double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
    std::uint64_t below = 0;
    for (std::size_t b = 0; b < buckets.size(); ++b) {
        if (buckets[b] == 0 || static_cast<double>(below + buckets[b]) < rank) {
            below += buckets[b];
            continue;
        }
        if (b >= bounds.size()) break;  // +Inf
        double lower = b == 0 ? 0 : bounds[b - 1];
        double share = (rank - static_cast<double>(below)) / static_cast<double>(buckets[b]);
        return lower + (bounds[b] - lower) * std::clamp(share, 0.0, 1.0);
    }
    return bounds.back();
}

}  // namespace aiproxy::observe
