#pragma once
// ConnectionTracker: the client connections of one worker, so a drain can close the idle ones at
// once and let busy ones finish their current response. Worker-local: no locks.

#include <cstddef>
#include <functional>
#include <list>

#include "aiproxy/http/types.hpp"

namespace aiproxy::http {

class ConnectionTracker {
public:
    struct Entry {
        beast::tcp_stream* stream = nullptr;
        bool idle = true;
    };
    using Handle = std::list<Entry>::iterator;

    Handle add(beast::tcp_stream& stream);
    void remove(Handle handle);
    void setIdle(Handle handle, bool idle);

    // Stops keep-alive: idle connections are closed now, busy ones after their response.
    void startDrain();
    bool draining() const { return draining_; }
    std::size_t size() const { return entries_.size(); }

    // Called when the last connection goes away during a drain.
    std::function<void()> on_drained;

private:
    std::list<Entry> entries_;
    bool draining_ = false;
};

}  // namespace aiproxy::http
