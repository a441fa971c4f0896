#pragma once
// Gateway-written error bodies are OpenAI-style JSON, so SDKs surface them as typed errors:
// {"error":{"message":"...","type":"...","code":"..."}}

#include <string>
#include <string_view>

#include "aiproxy/http/types.hpp"

namespace aiproxy::http {

std::string jsonErrorBody(std::string_view message, std::string_view type, std::string_view code);

Response jsonErrorResponse(unsigned status, std::string_view message, std::string_view type,
                           std::string_view code, unsigned version = 11);

}  // namespace aiproxy::http
