#pragma once
// The proxy stage's two hooks into the request's trace (http::RequestTrace): an attempt's span
// opens before its request head goes out, with the head carrying its traceparent, and closes
// when the attempt is recorded. Both do nothing for a request that is not traced.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "proxy_call.hpp"

namespace aiproxy::ai {

std::optional<std::size_t> traceAttemptStart(http::RequestContext& context,
                                             const AttemptTarget& target, int number, bool hedge,
                                             std::string& head);
void traceAttemptEnd(http::RequestContext& context, const AttemptReport& report,
                     std::string_view label);

}  // namespace aiproxy::ai
