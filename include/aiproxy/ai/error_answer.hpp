#pragma once
// Every error the gateway writes itself (a refusal, a request it cannot shape, attempts run out)
// in the client's API shape: OpenAI's {"error":{"message","type","code"}} or, for clients of
// the Anthropic Messages API, {"type":"error","error":{"type","message"}}, so either SDK
// surfaces it as a typed error.

#include <string_view>

#include "aiproxy/ai/provider.hpp"
#include "aiproxy/http/types.hpp"

namespace aiproxy::ai {

// type and code are OpenAI's (e.g. "invalid_request_error", "invalid_api_key"); Anthropic's
// error type follows from the status.
http::Response errorAnswer(ClientApi api, unsigned status, std::string_view message,
                           std::string_view type, std::string_view code);

}  // namespace aiproxy::ai
