#include "aiproxy/observe/span_queue.hpp"

#include <algorithm>
#include <iterator>

namespace aiproxy::observe {

bool SpanQueue::push(std::vector<Span>&& spans) {
    if (spans.empty()) return true;
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        if (closed_ || spans.size() > max_queue_ - std::min(max_queue_, spans_.size())) {
            return false;
        }
        std::size_t before = spans_.size();
        spans_.insert(spans_.end(), std::make_move_iterator(spans.begin()),
                      std::make_move_iterator(spans.end()));
        wake = before < max_batch_ && spans_.size() >= max_batch_;
    }
    if (wake) ready_.notify_one();
    return true;
}

std::vector<Span> SpanQueue::take(std::chrono::steady_clock::time_point until) {
    std::unique_lock lock(mutex_);
    ready_.wait_until(lock, until, [this] { return closed_ || spans_.size() >= max_batch_; });
    std::size_t count = std::min(max_batch_, spans_.size());
    std::vector<Span> batch(std::make_move_iterator(spans_.begin()),
                            std::make_move_iterator(spans_.begin() + static_cast<long>(count)));
    spans_.erase(spans_.begin(), spans_.begin() + static_cast<long>(count));
    return batch;
}

void SpanQueue::close() {
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
    }
    ready_.notify_all();
}

bool SpanQueue::closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
}

std::size_t SpanQueue::size() const {
    std::lock_guard lock(mutex_);
    return spans_.size();
}

}  // namespace aiproxy::observe
