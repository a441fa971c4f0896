#pragma once
// What the limit unit tests (LimitStore, RouteLimits) share: the fake clock's origin.

#include "aiproxy/plugins/limit_store.hpp"

namespace aiproxy::plugins::test {

// 2024-01-01T00:00:00Z, a multiple of every window used here.
inline constexpr Millis kEpoch{1'704'067'200'000};

}  // namespace aiproxy::plugins::test
