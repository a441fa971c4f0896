#pragma once
// CounterStore: where a limit plugin's counters live, behind one seam so RouteLimits' decisions
// do not care who answers. LimitStore counts in this process (every worker, one lock per shard);
// RedisCounterStore counts in a Redis shared by every gateway node, each operation one atomic
// script. An operation is a check-and-update that cannot be split: two callers never both see
// room for one more.

#include <chrono>
#include <cstdint>
#include <string>

#include "aiproxy/common/asio.hpp"

namespace aiproxy::http {
struct StageServices;
}

namespace aiproxy::plugins {

using Millis = std::chrono::milliseconds;

// One fixed window of one key after a call.
struct WindowUse {
    bool allowed = true;
    double used = 0;  // in the current window
    Millis reset{0};  // until the window ends
    Millis start{0};  // the window's start since the epoch (a reservation's settle names it)
};

// One leaky bucket after a request.
struct BucketUse {
    bool allowed = true;
    Millis delay{0};        // allowed: wait this long to fit the rate
    Millis retry_after{0};  // rejected: until a request would be allowed
};

struct CounterOp {
    enum class Kind {
        Take,     // fixed window: add amount when used + amount <= limit (limit-count)
        Reserve,  // fixed window: as Take, but an empty window admits one oversized amount
        Settle,   // fixed window: add amount (may be < 0) to the window that began at start
        Leak,     // leaky bucket: limit = rate per second, amount = burst
    };
    Kind kind = Kind::Take;
    std::string key;
    Millis window{0};
    double limit = 0;
    double amount = 0;
    Millis start{0};  // Settle
    Millis now{0};    // the caller's wall clock; a shared store may use its own
};

struct CounterAnswer {
    bool answered = true;  // false: the store could not answer (down, timeout); see error
    std::string error;
    WindowUse window;
    BucketUse bucket;
};

class CounterStore {
public:
    virtual ~CounterStore() = default;
    // Runs on the calling worker; never blocks it and never throws. A local store completes
    // without suspending.
    virtual common::awaitable<CounterAnswer> apply(CounterOp op, http::StageServices& worker) = 0;
};

}  // namespace aiproxy::plugins
