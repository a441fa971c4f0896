#pragma once
// SpanQueue: finished spans on their way from the workers to the exporter's thread. Bounded:
// when the collector is slow or down the queue fills and a request's spans are dropped (all of
// them, so no trace arrives with holes), never waited for. A worker's push is one short lock; it
// wakes the exporter only when a full batch is waiting.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <vector>

#include "aiproxy/observe/span.hpp"

namespace aiproxy::observe {

class SpanQueue {
public:
    SpanQueue(std::size_t max_queue, std::size_t max_batch)
        : max_queue_(max_queue), max_batch_(max_batch == 0 ? 1 : max_batch) {}

    // Any thread. Takes every span or none: false when they would pass max_queue (or after
    // close()), and then the caller counts them as dropped.
    bool push(std::vector<Span>&& spans);
    // The exporter's thread: up to max_batch spans once max_batch are queued, `until` has come
    // or the queue is closed, whichever is first. Empty only when nothing was queued by then.
    std::vector<Span> take(std::chrono::steady_clock::time_point until);
    // Wakes take() and refuses later pushes; what is queued stays for take().
    void close();
    std::size_t size() const;
    bool closed() const;

private:
    const std::size_t max_queue_;
    const std::size_t max_batch_;
    mutable std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<Span> spans_;
    bool closed_ = false;
};

}  // namespace aiproxy::observe
