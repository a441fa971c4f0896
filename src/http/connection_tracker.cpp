#include "aiproxy/http/connection_tracker.hpp"

namespace aiproxy::http {

ConnectionTracker::Handle ConnectionTracker::add(beast::tcp_stream& stream) {
    entries_.push_back(Entry{.stream = &stream, .idle = true});
    return std::prev(entries_.end());
}

void ConnectionTracker::remove(Handle handle) {
    entries_.erase(handle);
    if (draining_ && entries_.empty() && on_drained) on_drained();
}

void ConnectionTracker::setIdle(Handle handle, bool idle) {
    handle->idle = idle;
    if (idle && draining_) handle->stream->cancel();
}

void ConnectionTracker::startDrain() {
    draining_ = true;
    for (auto& entry : entries_) {
        if (entry.idle) entry.stream->cancel();
    }
    if (entries_.empty() && on_drained) on_drained();
}

}  // namespace aiproxy::http
