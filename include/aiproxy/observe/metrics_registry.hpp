#pragma once
// MetricsRegistry: every metric family and its labelled cells, and the Prometheus text
// exposition (format 0.0.4). Cells are created (or found) when a snapshot is built, under a
// mutex, and never freed, so handles held by the data path stay valid across reloads. Label
// values come only from configuration ids and fixed enums, which keeps cardinality bounded.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aiproxy/common/metric_cells.hpp"

namespace aiproxy::observe {

using Labels = metrics::Labels;

class MetricsRegistry final : public metrics::CellSource {
public:
    // slots: writer threads (workers + the control thread); each writer uses its own index.
    explicit MetricsRegistry(std::size_t slots);

    metrics::CounterCell* counter(std::string_view name, std::string_view help,
                                  const Labels& labels = {}) override;
    // A counter family whose series are shown only once non-zero (one per model and route
    // would otherwise print hundreds of zeros), with each cell unit worth `scale` (cost is
    // counted in nano-dollars and shown in dollars).
    metrics::CounterCell* sparseCounter(std::string_view name, std::string_view help,
                                        const Labels& labels, double scale = 1);
    metrics::GaugeCell* gauge(std::string_view name, std::string_view help,
                              const Labels& labels = {});
    metrics::HistogramCell* histogram(std::string_view name, std::string_view help,
                                      const std::vector<double>& bounds, const Labels& labels = {});

    // Values computed at scrape time (process metrics, build info): the callback appends complete
    // exposition lines (with # HELP and # TYPE) to the output.
    void addCollector(std::function<void(std::string&)> collector);

    std::string render() const;
    std::size_t slots() const { return slots_; }

private:
    enum class Type { Counter, Gauge, Histogram };
    struct Family {
        Type type;
        std::string help;
        std::vector<double> bounds;
        bool sparse = false;
        double scale = 1;
        std::map<std::string, std::unique_ptr<metrics::CounterCell>> counters;
        std::map<std::string, std::unique_ptr<metrics::GaugeCell>> gauges;
        std::map<std::string, std::unique_ptr<metrics::HistogramCell>> histograms;
    };
    Family& family(std::string_view name, Type type, std::string_view help,
                   const std::vector<double>& bounds);

    std::size_t slots_;
    mutable std::mutex mutex_;
    std::map<std::string, Family, std::less<>> families_;
    std::vector<std::function<void(std::string&)>> collectors_;
};

// Latency buckets in seconds, from 1 ms to 2 minutes (LLM calls are slow; the gateway is not).
const std::vector<double>& latencyBuckets();
// Finer buckets for the gateway's own overhead, from 10 us to 100 ms.
const std::vector<double>& overheadBuckets();

// Label value escaping for the text format: backslash, double quote and newline.
std::string escapeLabelValue(std::string_view value);

}  // namespace aiproxy::observe
