#include "aiproxy/http/json_error.hpp"

#include <nlohmann/json.hpp>

namespace aiproxy::http {

std::string jsonErrorBody(std::string_view message, std::string_view type, std::string_view code) {
    nlohmann::json body{{"error", {{"message", message}, {"type", type}, {"code", code}}}};
    return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Response jsonErrorResponse(unsigned status, std::string_view message, std::string_view type,
                           std::string_view code, unsigned version) {
    Response response{static_cast<bhttp::status>(status), version};
    response.set(bhttp::field::content_type, "application/json");
    response.body() = jsonErrorBody(message, type, code);
    response.prepare_payload();
    return response;
}

}  // namespace aiproxy::http
