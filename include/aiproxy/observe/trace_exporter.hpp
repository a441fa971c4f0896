#pragma once
// TraceExporter: sends finished spans to an OTLP/HTTP collector (POST, JSON encoding) from a
// thread of its own. Workers only submit(), a short lock on a bounded queue; batches are
// encoded and sent here, so a slow or dead collector costs requests nothing: the queue fills
// and further spans are dropped and counted (aiproxy_trace_spans_dropped_total), as are the
// spans of a batch the collector did not take. No retries: a trace is worth less than memory.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "aiproxy/observe/span.hpp"

namespace aiproxy::observe {

struct TraceExportSettings {
    std::string host;  // the collector, plain HTTP
    std::uint16_t port = 4318;
    std::string target = "/v1/traces";
    std::vector<std::pair<std::string, std::string>> headers;  // e.g. authorization
    std::size_t max_spans = 512;                               // per batch
    std::chrono::milliseconds max_delay{5000};                 // a batch waits at most this
    std::size_t max_queue = 2048;                              // spans waiting, at most
    std::chrono::milliseconds timeout{10000};                  // one export, connect to answer
    std::string service_version;
};

class TraceExporter {
public:
    explicit TraceExporter(TraceExportSettings settings);  // starts the thread
    ~TraceExporter();                                      // stop() with a one-second bound
    TraceExporter(const TraceExporter&) = delete;
    TraceExporter& operator=(const TraceExporter&) = delete;

    // Any thread, never blocks on the collector: queued, or dropped and counted.
    void submit(std::vector<Span>&& spans);
    // Sends what is queued for at most `bound`, then ends the thread; what is left is dropped.
    void stop(std::chrono::milliseconds bound);

    std::uint64_t dropped() const;   // spans the queue refused or the collector did not take
    std::uint64_t exported() const;  // spans the collector acknowledged (2xx)

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace aiproxy::observe
