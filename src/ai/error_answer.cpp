#include "aiproxy/ai/error_answer.hpp"

#include "aiproxy/ai/anthropic_translation.hpp"
#include "aiproxy/http/json_error.hpp"

namespace aiproxy::ai {

http::Response errorAnswer(ClientApi api, unsigned status, std::string_view message,
                           std::string_view type, std::string_view code) {
    if (api != ClientApi::AnthropicMessages) {
        return http::jsonErrorResponse(status, message, type, code);
    }
    http::Response response{static_cast<http::bhttp::status>(status), 11};
    response.set(http::bhttp::field::content_type, "application/json");
    response.body() = anthropicErrorBody(status, message);
    response.prepare_payload();
    return response;
}

}  // namespace aiproxy::ai
