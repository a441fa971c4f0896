#include "aiproxy/observe/metrics_registry.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace aiproxy::observe {
namespace {

std::string labelKey(const Labels& labels) {
    std::string key;
    for (const auto& [name, value] : labels) {
        if (!key.empty()) key += ',';
        key += name;
        key += "=\"";
        key += escapeLabelValue(value);
        key += '"';
    }
    return key;
}

std::string formatDouble(double value) {
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    if (std::isnan(value)) return "NaN";
    // The shortest form that reads back as the same double: "0.1", "10", "2.5e-05".
    char buffer[32];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
    return ec == std::errc{} ? std::string(buffer, end) : "NaN";
}

void appendSample(std::string& out, const std::string& name, const std::string& labels,
                  const std::string& value) {
    out += name;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
    out += value;
    out += '\n';
}

std::string withLabel(const std::string& labels, std::string_view extra) {
    if (labels.empty()) return std::string(extra);
    return labels + "," + std::string(extra);
}

}  // namespace

std::string escapeLabelValue(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

const std::vector<double>& latencyBuckets() {
    static const std::vector<double> kBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                              0.5,   1,      2.5,   5,    10,    30,   60,  120};
    return kBuckets;
}

const std::vector<double>& overheadBuckets() {
    static const std::vector<double> kBuckets{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
                                              0.001,   0.0025,   0.005,   0.01,   0.025,   0.1};
    return kBuckets;
}

MetricsRegistry::MetricsRegistry(std::size_t slots) : slots_(slots) {}

MetricsRegistry::Family& MetricsRegistry::family(std::string_view name, Type type,
                                                 std::string_view help,
                                                 const std::vector<double>& bounds) {
    auto it = families_.find(name);
    if (it == families_.end()) {
        it = families_
                 .emplace(std::string(name),
                          Family{.type = type, .help = std::string(help), .bounds = bounds})
                 .first;
    }
    if (it->second.type != type) {
        throw std::logic_error("metric " + std::string(name) + " registered with two types");
    }
    return it->second;
}

metrics::CounterCell* MetricsRegistry::counter(std::string_view name, std::string_view help,
                                               const Labels& labels) {
    std::lock_guard lock(mutex_);
    auto& cells = family(name, Type::Counter, help, {}).counters;
    auto& cell = cells[labelKey(labels)];
    if (!cell) cell = std::make_unique<metrics::CounterCell>(slots_);
    return cell.get();
}

metrics::CounterCell* MetricsRegistry::sparseCounter(std::string_view name, std::string_view help,
                                                     const Labels& labels, double scale) {
    std::lock_guard lock(mutex_);
    auto& family_entry = family(name, Type::Counter, help, {});
    family_entry.sparse = true;
    family_entry.scale = scale;
    auto& cell = family_entry.counters[labelKey(labels)];
    if (!cell) cell = std::make_unique<metrics::CounterCell>(slots_);
    return cell.get();
}

metrics::GaugeCell* MetricsRegistry::gauge(std::string_view name, std::string_view help,
                                           const Labels& labels) {
    std::lock_guard lock(mutex_);
    auto& cells = family(name, Type::Gauge, help, {}).gauges;
    auto& cell = cells[labelKey(labels)];
    if (!cell) cell = std::make_unique<metrics::GaugeCell>(slots_);
    return cell.get();
}

metrics::HistogramCell* MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                                   const std::vector<double>& bounds,
                                                   const Labels& labels) {
    std::lock_guard lock(mutex_);
    auto& cells = family(name, Type::Histogram, help, bounds).histograms;
    auto& cell = cells[labelKey(labels)];
    if (!cell) cell = std::make_unique<metrics::HistogramCell>(slots_, bounds);
    return cell.get();
}

void MetricsRegistry::addCollector(std::function<void(std::string&)> collector) {
    std::lock_guard lock(mutex_);
    collectors_.push_back(std::move(collector));
}

std::string MetricsRegistry::render() const {
    std::lock_guard lock(mutex_);
    std::string out;
    out.reserve(16 * 1024);
    for (const auto& [name, family] : families_) {
        out += "# HELP " + name + " " + family.help + "\n";
        switch (family.type) {
            case Type::Counter:
                out += "# TYPE " + name + " counter\n";
                for (const auto& [labels, cell] : family.counters) {
                    auto total = cell->total();
                    if (family.sparse && total == 0) continue;
                    appendSample(out, name, labels,
                                 family.scale == 1
                                     ? std::to_string(total)
                                     : formatDouble(static_cast<double>(total) * family.scale));
                }
                break;
            case Type::Gauge:
                out += "# TYPE " + name + " gauge\n";
                for (const auto& [labels, cell] : family.gauges) {
                    appendSample(out, name, labels, std::to_string(cell->total()));
                }
                break;
            case Type::Histogram:
                out += "# TYPE " + name + " histogram\n";
                for (const auto& [labels, cell] : family.histograms) {
                    auto totals = cell->totals();
                    std::uint64_t cumulative = 0;
                    const auto& bounds = cell->bounds();
                    for (std::size_t b = 0; b < totals.buckets.size(); ++b) {
                        cumulative += totals.buckets[b];
                        std::string le = b < bounds.size() ? formatDouble(bounds[b]) : "+Inf";
                        appendSample(out, name + "_bucket", withLabel(labels, "le=\"" + le + "\""),
                                     std::to_string(cumulative));
                    }
                    appendSample(out, name + "_sum", labels, formatDouble(totals.sum));
                    appendSample(out, name + "_count", labels, std::to_string(totals.count));
                }
                break;
        }
    }
    for (const auto& collector : collectors_)
        collector(out);
    return out;
}

}  // namespace aiproxy::observe
