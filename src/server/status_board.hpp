#pragma once
// StatusBoard: what the status page shows (GET /status.json), built off the data path from
// what the gateway already keeps: the metric cells (summed over the workers' slots on read), the
// latency histograms and the nodes' shared health state. Nothing here is written per request.
//
// Rates and charts need history, which the cells (cumulative since the start) do not have: a
// timer on the status thread calls sample() every kSlot and keeps the readings in ring buffers,
// 15 minutes of route counters and an hour of token and cost counters. A value is then "now
// minus the reading one window ago" (the window shrinks to the history there is, early on),
// and each chart bar is the difference of two consecutive readings; the last bar is the slot
// still open (now minus the newest reading), so the chart moves at every poll.
//
// sample() runs on the status thread and json() on the status thread or the control thread
// (the Admin API's /status.json); one mutex orders them. Neither is on a worker.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "aiproxy/server/snapshot.hpp"

namespace aiproxy::server {

class StatusBoard {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::seconds kSlot{10};
    static constexpr std::size_t kChartSlots = 90;  // 15 minutes of kSlot
    static constexpr std::chrono::seconds kUsageSlot{60};
    static constexpr std::chrono::seconds kUsageWindow{3600};
    static constexpr std::chrono::seconds kRateWindow{60};
    static constexpr std::chrono::seconds kLatencyWindow{300};

    explicit StatusBoard(Clock::time_point started) : started_(started) {}

    // Takes one reading of the snapshot's counters (due every kSlot; the caller's timer).
    void sample(const Snapshot& snapshot, Clock::time_point now);
    // The page's JSON (shape in the README's "Status page" section). snapshot may be null
    // before the first one is built.
    std::string json(const Snapshot* snapshot, Clock::time_point now) const;

    // Cumulative counters of one route at one moment.
    struct RouteReading {
        std::uint64_t requests = 0;
        std::uint64_t errors = 0;  // 5xx answers, the gateway's or an upstream's
        std::uint64_t retries = 0;
        std::uint64_t fallbacks = 0;
        std::vector<std::uint64_t> duration;  // histogram buckets, as HistogramCell::Totals
        std::vector<std::uint64_t> ttft;
    };
    struct UsageReading {
        std::uint64_t prompt_tokens = 0;
        std::uint64_t completion_tokens = 0;
        std::uint64_t cost_nanos = 0;  // nano-dollars, as the cost cells count
    };

private:
    struct Reading {
        Clock::time_point at;
        std::map<std::string, RouteReading, std::less<>> routes;
    };
    struct UsageSample {
        Clock::time_point at;
        std::map<std::string, UsageReading, std::less<>> models;
        std::map<std::string, UsageReading, std::less<>> consumers;
    };

    Clock::time_point started_;
    mutable std::mutex mutex_;
    std::deque<Reading> recent_;     // every kSlot, the newest kChartSlots
    std::deque<UsageSample> usage_;  // every kUsageSlot, enough to reach kUsageWindow back
};

// Calls board.sample() every StatusBoard::kSlot on the executor's thread, with the snapshot
// `current` returns (null: nothing to read yet). Due times stay on their grid unless the thread
// fell a whole slot behind. Stops when destroyed or when its executor's context stops.
class StatusSampler {
public:
    StatusSampler(StatusBoard& board, boost::asio::any_io_executor executor,
                  std::function<std::shared_ptr<const Snapshot>()> current);
    void start();

private:
    void sample(StatusBoard::Clock::time_point due);

    StatusBoard& board_;
    std::function<std::shared_ptr<const Snapshot>()> current_;
    boost::asio::steady_timer timer_;
};

}  // namespace aiproxy::server
