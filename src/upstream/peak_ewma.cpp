#include "aiproxy/upstream/peak_ewma.hpp"

#include <algorithm>
#include <cmath>

namespace aiproxy::upstream {
namespace {

std::int64_t ticks(Clock::time_point time) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

}  // namespace

PeakEwma::PeakEwma(Clock::duration decay)
    : decay_ns_(std::max<double>(
          1.0, static_cast<double>(
                   std::chrono::duration_cast<std::chrono::nanoseconds>(decay).count()))) {}

double PeakEwma::weight(std::int64_t from, std::int64_t to) const {
    double elapsed = static_cast<double>(std::max<std::int64_t>(to - from, 0));
    return std::exp(-elapsed / decay_ns_);
}

PeakEwma::Estimate PeakEwma::load() const {
    for (;;) {
        std::uint64_t before = sequence_.load(std::memory_order_acquire);
        Estimate estimate{cost_.load(std::memory_order_relaxed),
                          stamp_.load(std::memory_order_relaxed)};
        std::atomic_thread_fence(std::memory_order_acquire);
        if ((before & 1) == 0 && sequence_.load(std::memory_order_relaxed) == before) {
            return estimate;
        }
    }
}

void PeakEwma::observe(Clock::duration sample, Clock::time_point now) {
    std::uint64_t sequence = sequence_.load(std::memory_order_relaxed);
    for (;;) {
        if ((sequence & 1) == 0 &&
            sequence_.compare_exchange_weak(sequence, sequence + 1, std::memory_order_acquire,
                                            std::memory_order_relaxed)) {
            break;
        }
        sequence = sequence_.load(std::memory_order_relaxed);
    }
    std::atomic_thread_fence(std::memory_order_release);

    double value = std::max(std::chrono::duration<double>(sample).count(), 0.0);
    std::int64_t at = ticks(now);
    std::int64_t stamp = stamp_.load(std::memory_order_relaxed);
    double cost = value;
    if (stamp != kNever) {
        double w = weight(stamp, at);
        double decayed = cost_.load(std::memory_order_relaxed) * w;
        cost = value > decayed ? value : decayed + value * (1 - w);
    }
    cost_.store(cost, std::memory_order_relaxed);
    stamp_.store(std::max(at, stamp), std::memory_order_relaxed);
    sequence_.store(sequence + 2, std::memory_order_release);
}

double PeakEwma::seconds(Clock::time_point now) const {
    Estimate estimate = load();
    if (estimate.stamp == kNever) return 0;
    return estimate.cost * weight(estimate.stamp, ticks(now));
}

}  // namespace aiproxy::upstream
