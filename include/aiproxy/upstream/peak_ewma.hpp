#pragma once
// PeakEwma: a node's latency estimate (time to first byte), shared by every worker.
//
// Peak-sensitive and time-weighted, as in Finagle's peak EWMA: a sample above the current
// estimate replaces it at once (a node that slows down is noticed on its first slow answer);
// a lower one is blended in with weight 1 - exp(-elapsed / decay), so the estimate follows the
// clock, not the request rate. Reading decays the estimate towards zero by the time since the
// last sample, so a node that was avoided for being slow is tried again after a while and can
// show that it recovered. A plain moving average was rejected: it hides a sudden slowdown for
// many requests, and never revisits a node it stopped sending to.
//
// Storage is a sequence lock over two atomics: writers (one per finished attempt) serialise on
// the sequence number; readers on the pick path never block and retry only if a write landed
// in the middle of their two loads.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

namespace aiproxy::upstream {

using Clock = std::chrono::steady_clock;

class PeakEwma {
public:
    static constexpr std::chrono::seconds kDefaultDecay{10};

    explicit PeakEwma(Clock::duration decay = kDefaultDecay);
    PeakEwma(const PeakEwma&) = delete;
    PeakEwma& operator=(const PeakEwma&) = delete;

    void observe(Clock::duration sample, Clock::time_point now);
    // The estimate in seconds, decayed to now; 0 before the first sample.
    double seconds(Clock::time_point now) const;
    bool observed() const { return stamp_.load(std::memory_order_relaxed) != kNever; }

private:
    struct Estimate {
        double cost = 0;  // seconds
        std::int64_t stamp = kNever;
    };
    static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::min();

    Estimate load() const;
    double weight(std::int64_t from, std::int64_t to) const;

    double decay_ns_;
    std::atomic<std::uint64_t> sequence_{0};  // odd while a write is in progress
    std::atomic<double> cost_{0};
    std::atomic<std::int64_t> stamp_{kNever};
};

}  // namespace aiproxy::upstream
