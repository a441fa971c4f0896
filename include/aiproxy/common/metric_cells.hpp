#pragma once
// Metric cells: the storage behind one labelled time series. Each cell has one slot per writer
// thread (every worker, plus the control thread), padded to its own cache line, so writers never
// share a line and never lock; a scrape sums the slots. Cells live in the observe registry for
// the life of the process; the data path holds plain pointers resolved at snapshot build time
// (never a name lookup per request). A null pointer means "not recorded".

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aiproxy::metrics {

struct alignas(64) Slot {
    std::atomic<std::uint64_t> value{0};
};

// Single writer per slot: load + store is enough (no locked read-modify-write on the hot path).
inline void bump(Slot& slot, std::uint64_t n) {
    slot.value.store(slot.value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

class CounterCell {
public:
    explicit CounterCell(std::size_t slots) : slots_(new Slot[slots]), count_(slots) {}
    void add(std::size_t slot, std::uint64_t n = 1) { bump(slots_[slot], n); }
    std::uint64_t total() const {
        std::uint64_t sum = 0;
        for (std::size_t i = 0; i < count_; ++i)
            sum += slots_[i].value.load(std::memory_order_relaxed);
        return sum;
    }

private:
    std::unique_ptr<Slot[]> slots_;
    std::size_t count_;
};

// Up/down gauge: each slot holds its writer's net change (two's complement), summed on read.
class GaugeCell {
public:
    explicit GaugeCell(std::size_t slots) : slots_(new Slot[slots]), count_(slots) {}
    void add(std::size_t slot, std::int64_t delta) {
        bump(slots_[slot], static_cast<std::uint64_t>(delta));
    }
    std::int64_t total() const {
        std::uint64_t sum = 0;
        for (std::size_t i = 0; i < count_; ++i)
            sum += slots_[i].value.load(std::memory_order_relaxed);
        return static_cast<std::int64_t>(sum);
    }

private:
    std::unique_ptr<Slot[]> slots_;
    std::size_t count_;
};

class HistogramCell {
public:
    HistogramCell(std::size_t slots, std::vector<double> bounds)
        : bounds_(std::move(bounds)),
          width_(bounds_.size() + 2),  // buckets, +Inf, sum (as double bits)
          slots_(new Slot[slots * width_]),
          count_(slots) {}

    void observe(std::size_t slot, double value) {
        Slot* row = &slots_[slot * width_];
        std::size_t bucket = 0;
        while (bucket < bounds_.size() && value > bounds_[bucket])
            ++bucket;
        bump(row[bucket], 1);
        auto& sum = row[bounds_.size() + 1].value;
        double updated = std::bit_cast<double>(sum.load(std::memory_order_relaxed)) + value;
        sum.store(std::bit_cast<std::uint64_t>(updated), std::memory_order_relaxed);
    }

    // count is derived from the buckets, so a scrape is always self-consistent (+Inf == count).
    struct Totals {
        std::vector<std::uint64_t> buckets;  // per bucket (not cumulative), last is +Inf
        std::uint64_t count = 0;
        double sum = 0;
    };
    Totals totals() const {
        Totals out;
        out.buckets.assign(bounds_.size() + 1, 0);
        for (std::size_t s = 0; s < count_; ++s) {
            const Slot* row = &slots_[s * width_];
            for (std::size_t b = 0; b <= bounds_.size(); ++b) {
                auto n = row[b].value.load(std::memory_order_relaxed);
                out.buckets[b] += n;
                out.count += n;
            }
            out.sum += std::bit_cast<double>(
                row[bounds_.size() + 1].value.load(std::memory_order_relaxed));
        }
        return out;
    }
    const std::vector<double>& bounds() const { return bounds_; }

private:
    std::vector<double> bounds_;
    std::size_t width_;
    std::unique_ptr<Slot[]> slots_;
    std::size_t count_;
};

using Labels = std::vector<std::pair<std::string, std::string>>;

// Where a part that must not know the registry (a plugin) gets its counters at snapshot build
// time; observe's MetricsRegistry is the one implementation.
class CellSource {
public:
    virtual ~CellSource() = default;
    virtual CounterCell* counter(std::string_view name, std::string_view help,
                                 const Labels& labels = {}) = 0;
};

}  // namespace aiproxy::metrics
