#pragma once
// Quantiles estimated from histogram buckets, the way Prometheus' histogram_quantile() does:
// find the bucket holding the rank, then interpolate linearly inside it. The status page reads
// latency percentiles this way from the cells the data path already fills, so it adds nothing
// per request; the price is resolution (a p99 is only as exact as its bucket's width).

#include <cstdint>
#include <optional>
#include <vector>

namespace aiproxy::observe {

// buckets: counts per bucket (not cumulative), one more than bounds (the last is +Inf), as
// HistogramCell::Totals holds them. q in [0, 1]. nullopt when the buckets hold no observation.
// A rank in the +Inf bucket answers the highest finite bound (nothing better is known); the
// first bucket interpolates from 0.
std::optional<double> histogramQuantile(const std::vector<double>& bounds,
                                        const std::vector<std::uint64_t>& buckets, double q);

}  // namespace aiproxy::observe
